//! Secrets of a project. Values go in (create, rotate) and come out only
//! through `POST .../reveal`, an authorized and audited action of its own;
//! lists and descriptions never carry them. The JSON field is
//! `secret_string`, which the audit log redacts.

use super::error::{ApiError, ApiResult, JsonBody, QueryParams};
use super::{Page, PathParams, authorized, check_name};
use crate::capabilities::secrets::{MAX_SECRET_BYTES, ProjectSecrets};
use crate::http::AppState;
use crate::iam::Caller;
use crate::iam::actions::secrets;
use crate::store::projects::{Project, ProjectScope};
use crate::store::secrets::{SealedVersion, SecretRow};
use crate::util::now_ms;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{project}/secrets", get(list).post(create))
        .route("/projects/{project}/secrets/{name}", get(describe).delete(remove))
        .route("/projects/{project}/secrets/{name}/value", put(rotate))
        .route("/projects/{project}/secrets/{name}/reveal", post(reveal))
        .route(
            "/projects/{project}/secrets/{name}/versions/{version}",
            delete(remove_version),
        )
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

fn check_value(value: &str) -> ApiResult<()> {
    if value.is_empty() || value.len() > MAX_SECRET_BYTES {
        return Err(ApiError::bad_request(
            "invalid_secret",
            format!("secret_string must be 1 to {MAX_SECRET_BYTES} bytes"),
        ));
    }
    Ok(())
}

async fn secret_of(scope: &ProjectScope, project: &Project, name: &str) -> ApiResult<SecretRow> {
    scope
        .secret(name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no secret {name:?} in project {:?}", project.name)))
}

/// Seals and stores the next version of `secret`.
async fn add_version(
    state: &AppState,
    scope: &ProjectScope,
    secret: &SecretRow,
    value: &str,
) -> ApiResult<i64> {
    for _ in 0..8 {
        let version = scope.next_secret_version(secret).await?;
        let (nonce, ciphertext) = state.services.keyring.seal(&secret.id, version, value.as_bytes());
        let sealed = SealedVersion {
            version,
            nonce,
            ciphertext,
            created_ms: now_ms(),
        };
        if scope.add_secret_version(secret, &sealed).await? {
            return Ok(version);
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "conflict",
        "the secret is being changed concurrently; retry",
    ))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    JsonBody(new): JsonBody<NewSecret>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_name("secret", &new.name)?;
    check_value(&new.secret_string)?;
    let resource = format!("secret/{}", new.name);
    let project = authorized(&state, &caller, &project_name, secrets::CREATE_SECRET, &resource).await?;
    let scope = state.store.in_project(&project);
    let Some(secret) = scope.create_secret(&new.name, &new.description).await? else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_exists",
            format!("secret {:?} exists; PUT .../value to rotate it", new.name),
        ));
    };
    let version = add_version(&state, &scope, &secret, &new.secret_string).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "secret": secret, "version": version })),
    ))
}

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
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|s| s.name.clone()))
        .flatten();
    Ok(Json(json!({ "items": rows, "next_cursor": next })))
}

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
    let scope = state.store.in_project(&project);
    let secret = secret_of(&scope, &project, &name).await?;
    let versions: Vec<Value> = scope
        .secret_versions(&secret)
        .await?
        .into_iter()
        .map(|(version, created_ms)| json!({ "version": version, "created_ms": created_ms }))
        .collect();
    Ok(Json(json!({ "secret": secret, "versions": versions })))
}

async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    JsonBody(new): JsonBody<NewValue>,
) -> ApiResult<Json<Value>> {
    check_value(&new.secret_string)?;
    let resource = format!("secret/{name}");
    let project = authorized(
        &state,
        &caller,
        &project_name,
        secrets::PUT_SECRET_VALUE,
        &resource,
    )
    .await?;
    let scope = state.store.in_project(&project);
    let secret = secret_of(&scope, &project, &name).await?;
    let version = add_version(&state, &scope, &secret, &new.secret_string).await?;
    Ok(Json(json!({ "name": name, "version": version })))
}

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
    let scope = state.store.in_project(&project);
    let secret = secret_of(&scope, &project, &name).await?;
    let revealed = ProjectSecrets::new(scope, state.services.keyring.clone())
        .reveal_version(&secret, reveal.version)
        .await?;
    match revealed {
        Some((version, value)) => Ok(Json(json!({
            "name": name,
            "version": version,
            "secret_string": value,
        }))),
        None => Err(ApiError::not_found(match reveal.version {
            Some(v) => format!("secret {name:?} has no version {v}"),
            None => format!("secret {name:?} has no versions"),
        })),
    }
}

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
    let scope = state.store.in_project(&project);
    let secret = secret_of(&scope, &project, &name).await?;
    let newest = scope.secret_versions(&secret).await?.first().map(|(v, _)| *v);
    if newest == Some(version) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "current_version",
            format!("version {version} is the current value of {name:?}; rotate first, or delete the secret"),
        ));
    }
    if !scope.remove_secret_version(&secret, version).await? {
        return Err(ApiError::not_found(format!(
            "secret {name:?} has no version {version}"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let resource = format!("secret/{name}");
    let project = authorized(&state, &caller, &project_name, secrets::DELETE_SECRET, &resource).await?;
    let scope = state.store.in_project(&project);
    let secret = secret_of(&scope, &project, &name).await?;
    scope.delete_secret(&secret).await?;
    Ok(StatusCode::NO_CONTENT)
}
