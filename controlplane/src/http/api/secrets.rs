//! Secrets of a project. Values go in (create, rotate) and come out only
//! through `POST .../reveal`, an authorized and audited action of its own;
//! lists and descriptions never carry them. The JSON field is
//! `secret_string`, which the audit log redacts.

use super::error::{ApiError, ApiResult, JsonBody, QueryParams};
use super::{Page, PathParams, authorized, check_name, list_page};
use crate::http::AppState;
use crate::iam::Caller;
use crate::iam::actions::secrets;
use crate::services::secrets::SecretService;
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
        .routes(routes!(describe, remove))
        .routes(routes!(rotate))
        .routes(routes!(reveal))
        .routes(routes!(remove_version))
}

impl From<crate::services::secrets::SecretsError> for ApiError {
    fn from(e: crate::services::secrets::SecretsError) -> Self {
        use crate::services::secrets::SecretsError as S;
        match e {
            S::InvalidValue => Self::bad_request("invalid_secret", e.to_string()),
            S::NoSecret { .. } | S::NoVersion { .. } => Self::not_found(e.to_string()),
            S::Exists(_) => Self::new(axum::http::StatusCode::CONFLICT, "already_exists", e.to_string()),
            S::CurrentVersion { .. } => {
                Self::new(axum::http::StatusCode::CONFLICT, "current_version", e.to_string())
            }
            S::Busy => Self::new(axum::http::StatusCode::CONFLICT, "conflict", e.to_string()),
            S::Backend(b) => b.into(),
            S::Store(s) => s.into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSecret {
    name: String,
    #[serde(default)]
    description: String,
    secret_string: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewValue {
    secret_string: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reveal {
    version: Option<i64>,
}

#[utoipa::path(
    post,
    path = "/projects/{project}/secrets",
    tag = "secrets",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 201, description = "Done", body = Object))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    JsonBody(new): JsonBody<NewSecret>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_name("secret", &new.name)?;
    SecretService::check_value(&new.secret_string)?;
    let resource = format!("secret/{}", new.name);
    let project = authorized(&state, &caller, &project_name, secrets::CREATE_SECRET, &resource).await?;
    let (secret, version) = state
        .secrets
        .create(&project, &new.name, &new.description, &new.secret_string)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "secret": secret, "version": version })),
    ))
}

#[utoipa::path(
    get,
    path = "/projects/{project}/secrets",
    tag = "secrets",
    params(Page),
    responses((status = 200, description = "Done", body = Object))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    QueryParams(page): QueryParams<Page>,
) -> ApiResult<Json<Value>> {
    let limit = page.limit()?;
    let project = authorized(&state, &caller, &project_name, secrets::LIST_SECRETS, "secret/*").await?;
    let rows = state
        .store
        .in_project(&project)
        .secrets(page.cursor.as_deref().unwrap_or(""), limit)
        .await?;
    Ok(list_page(&rows, limit, |s| s.name.clone()))
}

#[utoipa::path(
    get,
    path = "/projects/{project}/secrets/{name}",
    tag = "secrets",
    responses((status = 200, description = "Done", body = Object))
)]
async fn describe(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    let resource = format!("secret/{name}");
    let project = authorized(
        &state,
        &caller,
        &project_name,
        secrets::DESCRIBE_SECRET,
        &resource,
    )
    .await?;
    let (secret, versions) = state.secrets.versions(&project, &name).await?;
    let versions: Vec<Value> = versions
        .into_iter()
        .map(|(version, created_ms)| json!({ "version": version, "created_ms": created_ms }))
        .collect();
    Ok(Json(json!({ "secret": secret, "versions": versions })))
}

#[utoipa::path(
    put,
    path = "/projects/{project}/secrets/{name}/value",
    tag = "secrets",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, description = "Done", body = Object))
)]
async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    JsonBody(new): JsonBody<NewValue>,
) -> ApiResult<Json<Value>> {
    SecretService::check_value(&new.secret_string)?;
    let resource = format!("secret/{name}");
    let project = authorized(
        &state,
        &caller,
        &project_name,
        secrets::PUT_SECRET_VALUE,
        &resource,
    )
    .await?;
    let version = state.secrets.rotate(&project, &name, &new.secret_string).await?;
    Ok(Json(json!({ "name": name, "version": version })))
}

#[utoipa::path(
    post,
    path = "/projects/{project}/secrets/{name}/reveal",
    tag = "secrets",
    responses((status = 200, description = "Done", body = Object))
)]
async fn reveal(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    // The body is optional: `{}` or nothing reveals the current version.
    let reveal: Reveal = if body.iter().all(u8::is_ascii_whitespace) {
        Reveal::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request("invalid_json", format!("the body is not a reveal request: {e}"))
        })?
    };
    let resource = format!("secret/{name}");
    let project = authorized(
        &state,
        &caller,
        &project_name,
        secrets::GET_SECRET_VALUE,
        &resource,
    )
    .await?;
    let revealed = state.secrets.reveal(&project, &name, reveal.version).await?;
    Ok(Json(json!({
        "name": name,
        "version": revealed.version,
        "secret_string": revealed.value,
    })))
}

#[utoipa::path(
    delete,
    path = "/projects/{project}/secrets/{name}/versions/{version}",
    tag = "secrets",
    responses((status = 204, description = "Done"))
)]
async fn remove_version(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name, version)): PathParams<(String, String, i64)>,
) -> ApiResult<StatusCode> {
    let resource = format!("secret/{name}");
    let project = authorized(
        &state,
        &caller,
        &project_name,
        secrets::DELETE_SECRET_VERSION,
        &resource,
    )
    .await?;
    state.secrets.remove_version(&project, &name, version).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/projects/{project}/secrets/{name}",
    tag = "secrets",
    responses((status = 204, description = "Done"))
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let resource = format!("secret/{name}");
    let project = authorized(&state, &caller, &project_name, secrets::DELETE_SECRET, &resource).await?;
    state.secrets.delete(&project, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
