//! Custom domains of a project: `POST/GET .../domains`,
//! `GET/DELETE .../domains/{name}`, `POST .../domains/{name}/verify`.
//!
//! A claim answers with the DNS TXT record that proves it; once verified
//! (see [`crate::services::routes::dns`]) the project's routes answer on the
//! domain as on `<project>.<base domain>`. Names are lower-cased on every
//! path, as DNS compares them. The actions are `orgs:*` on
//! `domain/<name>`: the project's admin's business, not a developer's.

use super::error::{ApiResult, JsonBody};
use super::{PathParams, authorized};
use crate::http::AppState;
use crate::iam::Caller;
use crate::iam::actions::orgs;
use crate::services::routes::dns;
use crate::store::domains::DomainRow;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, remove))
        .routes(routes!(verify))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDomain {
    name: String,
}

/// A claim as the API shows it: its state and the record that proves it.
fn view(row: &DomainRow) -> Value {
    json!({
        "name": row.name,
        "project": row.project,
        "status": if row.verified_ms.is_some() { "verified" } else { "pending" },
        "verified_ms": row.verified_ms,
        "created_ms": row.created_ms,
        "verification": {
            "type": "TXT",
            "record": dns::record_name(&row.name),
            "value": dns::record_value(&row.token),
        },
    })
}

/// The project and the domain name (lower-cased, as DNS compares names),
/// once the caller may do `action` on `domain/<name>` in it.
async fn authorized_domain(
    state: &AppState,
    caller: &Caller,
    project_name: &str,
    action: &str,
    name: &str,
) -> ApiResult<(crate::store::projects::Project, String)> {
    let name = name.to_ascii_lowercase();
    let project = authorized(state, caller, project_name, action, &format!("domain/{name}")).await?;
    Ok((project, name))
}

#[utoipa::path(
    post,
    path = "/projects/{project}/domains",
    tag = "domains",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 201, description = "Done", body = Object))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    JsonBody(new): JsonBody<NewDomain>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (project, name) =
        authorized_domain(&state, &caller, &project_name, orgs::CREATE_DOMAIN, &new.name).await?;
    let row = state.routes.claim_domain(&project, &name).await?;
    Ok((StatusCode::CREATED, Json(view(&row))))
}

#[utoipa::path(
    get,
    path = "/projects/{project}/domains",
    tag = "domains",
    responses((status = 200, description = "Done", body = Object))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let project = authorized(&state, &caller, &project_name, orgs::LIST_DOMAINS, "domain/*").await?;
    let rows = state.store.in_project(&project).domains().await?;
    let items: Vec<Value> = rows.iter().map(view).collect();
    Ok(Json(json!({ "items": items })))
}

#[utoipa::path(
    get,
    path = "/projects/{project}/domains/{name}",
    tag = "domains",
    responses((status = 200, description = "Done", body = Object))
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (project, name) = authorized_domain(&state, &caller, &project_name, orgs::GET_DOMAIN, &name).await?;
    Ok(Json(view(&state.routes.domain(&project, &name).await?)))
}

/// Looks the record up now; on success the domain routes to the project
/// at once.
#[utoipa::path(
    post,
    path = "/projects/{project}/domains/{name}/verify",
    tag = "domains",
    responses((status = 200, description = "Done", body = Object))
)]
async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (project, name) =
        authorized_domain(&state, &caller, &project_name, orgs::VERIFY_DOMAIN, &name).await?;
    let row = state.routes.verify_domain(&project, &name).await?;
    Ok(Json(view(&row)))
}

#[utoipa::path(
    delete,
    path = "/projects/{project}/domains/{name}",
    tag = "domains",
    responses((status = 204, description = "Done"))
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let (project, name) =
        authorized_domain(&state, &caller, &project_name, orgs::DELETE_DOMAIN, &name).await?;
    state.routes.delete_domain(&project, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
