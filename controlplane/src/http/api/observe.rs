//! Logs and invocation records of a function.

use super::error::{ApiResult, QueryParams};
use super::{PathParams, authorized_function, list_page, page_limit};
use crate::http::AppState;
use crate::iam::Caller;
use crate::iam::actions::functions;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{project}/functions/{name}/logs", get(logs))
        .route(
            "/projects/{project}/functions/{name}/invocations",
            get(invocations),
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsQuery {
    /// Epoch ms; lines at or after it.
    since: Option<i64>,
    limit: Option<i64>,
    invocation_id: Option<String>,
    /// A workflow execution's id: the lines of its tasks.
    execution_id: Option<String>,
}

/// `GET .../logs?since=&limit=&invocation_id=&execution_id=`: oldest first.
async fn logs(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<LogsQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let (project, _) =
        authorized_function(&state, &caller, &project_name, functions::GET_LOGS, &name).await?;
    let limit = page_limit(q.limit)?;
    let items = state
        .store
        .in_project(&project)
        .logs(
            &name,
            q.since.unwrap_or(0),
            q.invocation_id.as_deref(),
            q.execution_id.as_deref(),
            limit,
        )
        .await?;
    Ok(Json(json!({ "items": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvocationsQuery {
    limit: Option<i64>,
    /// Epoch ms; invocations started before it (the previous page's cursor).
    cursor: Option<i64>,
}

/// `GET .../invocations?limit=&cursor=`: newest first.
async fn invocations(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<InvocationsQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let (project, _) =
        authorized_function(&state, &caller, &project_name, functions::LIST_INVOCATIONS, &name).await?;
    let limit = page_limit(q.limit)?;
    let items = state
        .store
        .in_project(&project)
        .invocations(&name, q.cursor.unwrap_or(i64::MAX), limit)
        .await?;
    Ok(list_page(&items, limit, |r| r.started_ms))
}
