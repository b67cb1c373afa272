//! Secrets of a project. Values go in (create, rotate) and come out only
//! through `POST .../reveal`, an authorized and audited action of its own;
//! lists and descriptions never carry them. The JSON field is
//! `secret_string`, which the audit log redacts.

use super::error::{ApiError, ApiResult, JsonBody, QueryParams};
use super::openapi::ListPage;
use super::{Page, PathParams, authorized, check_name, list_page};
use crate::http::AppState;
use crate::http::api::described::ApiRouter;
use crate::http::api::described::routes;
use crate::iam::Caller;
use crate::iam::actions::secrets;
use crate::services::secrets::SecretService;
use crate::store::secrets::SecretRow;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Routes of this resource.
pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
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

/// A new secret and its first value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewSecret {
    /// Unique in the project: 1 to 63 characters of `a-z`, `0-9`, `-` and
    /// `_`, starting with a letter or digit.
    name: String,
    /// What it is for.
    #[serde(default)]
    description: String,
    /// The value, version 1: 1 to 65536 bytes.
    secret_string: String,
}

/// A new value of a secret.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewSecretValue {
    /// The value: 1 to 65536 bytes.
    secret_string: String,
}

/// Which value to reveal.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RevealRequest {
    /// The version; none: the current one.
    version: Option<i64>,
}

/// A secret just created.
#[derive(Debug, Serialize, ToSchema)]
struct SecretCreated {
    /// Its metadata.
    secret: SecretRow,
    /// The version of the value: 1.
    version: i64,
}

/// A secret and its versions.
#[derive(Debug, Serialize, ToSchema)]
struct SecretDescription {
    /// Its metadata.
    secret: SecretRow,
    /// Its versions, newest (the current one) first.
    versions: Vec<SecretVersion>,
}

/// One version of a secret's value (never the value).
#[derive(Debug, Serialize, ToSchema)]
struct SecretVersion {
    /// 1, 2, 3...
    version: i64,
    /// When it was added, epoch ms.
    created_ms: i64,
}

/// A secret's new version.
#[derive(Debug, Serialize, ToSchema)]
struct SecretRotated {
    /// The secret's name.
    name: String,
    /// The new version, now the current one.
    version: i64,
}

/// A secret's value.
#[derive(Debug, Serialize, ToSchema)]
struct SecretValue {
    /// The secret's name.
    name: String,
    /// The version revealed.
    version: i64,
    /// The value.
    secret_string: String,
}

/// Creates a secret with its first value.
///
/// Needs `secrets:CreateSecret` on `secret/<name>`; audited, with the
/// value left out of the record. The value is stored encrypted; no list or
/// description shows it.
#[utoipa::path(
    post,
    path = "/projects/{project}/secrets",
    tag = "secrets",
    request_body = NewSecret,
    responses((status = 201, description = "The secret, and its version 1", body = SecretCreated))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    JsonBody(new): JsonBody<NewSecret>,
) -> ApiResult<(StatusCode, Json<SecretCreated>)> {
    check_name("secret", &new.name)?;
    SecretService::check_value(&new.secret_string)?;
    let resource = format!("secret/{}", new.name);
    let project = authorized(&state, &caller, &project_name, secrets::CREATE_SECRET, &resource).await?;
    let (secret, version) = state
        .secrets
        .create(&project, &new.name, &new.description, &new.secret_string)
        .await?;
    Ok((StatusCode::CREATED, Json(SecretCreated { secret, version })))
}

/// The project's secrets, by name, without their values.
///
/// Needs `secrets:ListSecrets` on `secret/*`. The cursor is the last name
/// of the page before.
#[utoipa::path(
    get,
    path = "/projects/{project}/secrets",
    tag = "secrets",
    params(Page),
    responses((status = 200, description = "A page of secrets, by name", body = ListPage<SecretRow>))
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

/// A secret and its versions, without the values.
///
/// Needs `secrets:DescribeSecret` on `secret/<name>`.
#[utoipa::path(
    get,
    path = "/projects/{project}/secrets/{name}",
    tag = "secrets",
    responses((status = 200, description = "The secret and its versions", body = SecretDescription))
)]
async fn describe(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<Json<SecretDescription>> {
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
    let versions = versions
        .into_iter()
        .map(|(version, created_ms)| SecretVersion { version, created_ms })
        .collect();
    Ok(Json(SecretDescription { secret, versions }))
}

/// Rotates a secret: adds a value, which becomes the current version.
///
/// Older versions stay (revealable by number) until deleted. Needs
/// `secrets:PutSecretValue` on `secret/<name>`; audited, with the value
/// left out of the record.
#[utoipa::path(
    put,
    path = "/projects/{project}/secrets/{name}/value",
    tag = "secrets",
    request_body = NewSecretValue,
    responses((status = 200, description = "The new version", body = SecretRotated))
)]
async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    JsonBody(new): JsonBody<NewSecretValue>,
) -> ApiResult<Json<SecretRotated>> {
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
    Ok(Json(SecretRotated { name, version }))
}

/// Reveals a secret's value: the current version, or the one asked for.
///
/// The only way a value comes out of the API. Needs
/// `secrets:GetSecretValue` on `secret/<name>`; every reveal is audited
/// (a `POST`), and the record never holds the value. The body is optional:
/// none, or `{}`, reveals the current version.
#[utoipa::path(
    post,
    path = "/projects/{project}/secrets/{name}/reveal",
    tag = "secrets",
    request_body(content = Option<RevealRequest>, content_type = "application/json"),
    responses((status = 200, description = "The value", body = SecretValue))
)]
async fn reveal(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<SecretValue>> {
    // The body is optional: `{}` or nothing reveals the current version.
    let reveal: RevealRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RevealRequest::default()
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
    Ok(Json(SecretValue {
        name,
        version: revealed.version,
        secret_string: revealed.value,
    }))
}

/// Deletes an old version of a secret's value.
///
/// The current version cannot be deleted (409 `current_version`): rotate
/// first. Needs `secrets:DeleteSecretVersion` on `secret/<name>`; audited.
#[utoipa::path(
    delete,
    path = "/projects/{project}/secrets/{name}/versions/{version}",
    tag = "secrets",
    params(("version" = i64, Path, description = "The version's number")),
    responses((status = 204, description = "Deleted"))
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

/// Deletes a secret and every version of its value.
///
/// Needs `secrets:DeleteSecret` on `secret/<name>`; audited.
#[utoipa::path(
    delete,
    path = "/projects/{project}/secrets/{name}",
    tag = "secrets",
    responses((status = 204, description = "Deleted"))
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
