//! Functions: deploy (`PUT` with the component as the body), read, change,
//! delete, list, versions, and the JSON invoke API.
//!
//! - `deploy`: the deploy handler, its upload, and the execution role checks.
//! - `change`: the `PATCH` handler and the checks of what it changes.
//! - `invoke`: the JSON invoke handler.

mod change;
pub(crate) mod deploy;
mod invoke;

pub use deploy::DeployQuery;

use super::error::{ApiError, ApiResult, QueryParams};
use super::{Page, PathParams, authorized, authorized_function, next_cursor};
use crate::http::AppState;
use crate::iam::Caller;
use crate::iam::actions::functions;
use crate::store::functions::{FunctionRow, HttpAuth, Settings, VersionRow};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(deploy::deploy, read, change::change, remove))
        .routes(routes!(versions))
        .routes(routes!(invoke::invoke))
}

impl From<crate::services::functions::FunctionError> for ApiError {
    fn from(e: crate::services::functions::FunctionError) -> Self {
        use crate::services::functions::FunctionError as F;
        match e {
            F::NotFound { .. } | F::NoVersion { .. } => Self::not_found(e.to_string()),
            F::Conflict => Self::new(axum::http::StatusCode::CONFLICT, "conflict", e.to_string()),
            F::InputTooLarge(_) => Self::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                e.to_string(),
            ),
            F::InputNotJson(m) => Self::bad_request("invalid_json", m),
            F::InputUnreadable(_) => Self::bad_request("bad_body", e.to_string()),
            F::Quota(q) => q.into(),
            F::Refused(r) => r.into(),
            F::Compile(c) => c.into(),
            F::Invoke(i) => i.into(),
            F::Load(_) | F::Artifact(_) | F::Store(_) => Self::internal(e),
        }
    }
}

/// Limits as the API shows and takes them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsView {
    /// Memory per instance, MiB.
    pub memory_mib: Option<u64>,
    /// Wall-clock limit per invocation, ms.
    pub timeout_ms: Option<u64>,
    /// Instances running at once.
    pub concurrency: Option<u64>,
    /// Largest request body, bytes.
    pub max_request_bytes: Option<u64>,
    /// Largest response body, bytes.
    pub max_response_bytes: Option<u64>,
}

impl LimitsView {
    fn of(s: &Settings) -> Self {
        Self {
            memory_mib: Some(s.memory_bytes as u64 / (1024 * 1024)),
            timeout_ms: Some(s.timeout_ms as u64),
            concurrency: Some(s.concurrency as u64),
            max_request_bytes: Some(s.max_request_bytes as u64),
            max_response_bytes: Some(s.max_response_bytes as u64),
        }
    }

    /// Applies the given fields to `s`, refusing values out of range.
    fn apply(&self, state: &AppState, s: &mut Settings) -> ApiResult<()> {
        let c = &state.config;
        let check = |field: &str, v: u64, lo: u64, hi: u64| {
            if (lo..=hi).contains(&v) {
                Ok(v as i64)
            } else {
                Err(ApiError::bad_request(
                    "invalid_limits",
                    format!("{field} must be between {lo} and {hi}, not {v}"),
                ))
            }
        };
        if let Some(v) = self.memory_mib {
            s.memory_bytes = check("memory_mib", v, 1, c.max_memory_mib)? * 1024 * 1024;
        }
        if let Some(v) = self.timeout_ms {
            s.timeout_ms = check("timeout_ms", v, 1, 15 * 60 * 1000)?;
        }
        if let Some(v) = self.concurrency {
            s.concurrency = check("concurrency", v, 1, u64::from(c.pool_instances))?;
        }
        if let Some(v) = self.max_request_bytes {
            s.max_request_bytes = check("max_request_bytes", v, 0, 1 << 40)?;
        }
        if let Some(v) = self.max_response_bytes {
            s.max_response_bytes = check("max_response_bytes", v, 0, 1 << 40)?;
        }
        Ok(())
    }
}

/// A function as the API shows it.
#[derive(Debug, Serialize)]
pub struct FunctionView {
    name: String,
    project: String,
    active_version: i64,
    world: String,
    sha256: String,
    size_bytes: i64,
    limits: LimitsView,
    env: BTreeMap<String, String>,
    http_auth: HttpAuth,
    tags: crate::store::iam::Tags,
    role: String,
    config: BTreeMap<String, String>,
    host_limits: minicloud_runtime::HostLimits,
    created_ms: i64,
    updated_ms: i64,
}

fn view(project: &str, f: &FunctionRow, v: &VersionRow) -> FunctionView {
    FunctionView {
        name: f.name.clone(),
        project: project.to_owned(),
        active_version: f.active_version,
        world: v.world.clone(),
        sha256: v.sha256.clone(),
        size_bytes: v.size_bytes,
        limits: LimitsView::of(&f.settings),
        env: f.settings.env.clone(),
        http_auth: f.settings.http_auth,
        tags: f.settings.tags.clone(),
        role: f.settings.role.clone(),
        config: f.settings.config.clone(),
        host_limits: f.settings.host_limits,
        created_ms: f.created_ms,
        updated_ms: f.updated_ms,
    }
}

/// The function looked up with the authorization, or 404.
fn exists(f: Option<FunctionRow>, name: &str) -> ApiResult<FunctionRow> {
    f.ok_or_else(|| ApiError::not_found(format!("function {name:?} does not exist")))
}

/// `GET .../functions/{name}`.
#[utoipa::path(
    get,
    path = "/projects/{project}/functions/{name}",
    tag = "functions",
    responses((status = 200, description = "Done", body = Object))
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<Json<FunctionView>> {
    let (project, f) =
        authorized_function(&state, &caller, &project_name, functions::GET_FUNCTION, &name).await?;
    let f = exists(f, &name)?;
    let v = state.functions.active_version(&project, &f).await?;
    Ok(Json(view(&project.name, &f, &v)))
}

/// `DELETE .../functions/{name}`.
#[utoipa::path(
    delete,
    path = "/projects/{project}/functions/{name}",
    tag = "functions",
    responses((status = 204, description = "Done"))
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let (project, f) =
        authorized_function(&state, &caller, &project_name, functions::DELETE_FUNCTION, &name).await?;
    let f = exists(f, &name)?;
    state.functions.delete(&project, &f).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET .../functions?limit=&cursor=`: by name.
#[utoipa::path(
    get,
    path = "/projects/{project}/functions",
    tag = "functions",
    params(Page),
    responses((status = 200, description = "Done", body = Object))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    QueryParams(page): QueryParams<Page>,
) -> ApiResult<Json<serde_json::Value>> {
    let project = authorized(
        &state,
        &caller,
        &project_name,
        functions::LIST_FUNCTIONS,
        "function/*",
    )
    .await?;
    let limit = page.limit()?;
    let scope = state.store.in_project(&project);
    let rows = scope
        .list_functions(page.cursor.as_deref().unwrap_or(""), limit)
        .await?;
    let next = next_cursor(&rows, limit, |f| f.name.clone());
    let mut items = Vec::with_capacity(rows.len());
    for f in &rows {
        let v = state.functions.active_version(&project, f).await?;
        items.push(view(&project.name, f, &v));
    }
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

/// `GET .../functions/{name}/versions`: newest first.
#[utoipa::path(
    get,
    path = "/projects/{project}/functions/{name}/versions",
    tag = "functions",
    responses((status = 200, description = "Done", body = Object))
)]
async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    let (project, f) =
        authorized_function(&state, &caller, &project_name, functions::GET_FUNCTION, &name).await?;
    let f = exists(f, &name)?;
    let items = state.store.in_project(&project).versions(&f.id).await?;
    Ok(Json(
        json!({ "items": items, "active_version": f.active_version }),
    ))
}
