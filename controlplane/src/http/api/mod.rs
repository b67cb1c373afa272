//! The REST API under `/api/v1`: one router per resource, merged here,
//! behind the authentication and audit middleware.
//!
//! - [`functions`]: deploy, read, change, delete functions; versions; invoke.
//! - [`iam`]: users, API keys, policies, roles, bindings.
//! - [`observe`]: logs and invocation records.
//! - [`orgs`]: orgs and the projects they contain.
//! - [`policies`]: the policy simulator.
//! - [`quotas`]: quotas of orgs and projects (changed by the platform administrator).
//! - [`routes`]: custom HTTP routes.
//! - [`domains`]: custom domains of projects, verified through DNS.
//! - [`storage`]: buckets and objects, streamed both ways.
//! - [`rules`]: event rules.
//! - [`events`]: putting events, dead letters, testing event patterns.
//! - [`secrets`]: secrets; values only through an audited reveal.
//! - [`system`]: health, readiness, metrics.
//! - [`audit`]: the audit middleware, and reading and verifying the log.
//! - [`auth`]: credentials to callers; login, refresh, logout, me.
//! - [`workflows`]: workflows, executions, histories, task tokens.
//! - [`error`]: the one error type and JSON shape.
//! - [`openapi`]: the API's OpenAPI 3.1 description, and Swagger UI on it.
//! - [`described`]: the routers the resources build, whose routes are described on demand.

pub mod audit;
pub mod auth;
pub mod described;
pub mod domains;
pub mod error;
pub mod events;
pub mod functions;
pub mod iam;
pub mod observe;
pub mod openapi;
pub mod orgs;
pub mod policies;
pub mod quotas;
pub mod routes;
pub mod rules;
pub mod secrets;
pub mod storage;
pub mod system;
pub mod workflows;

use crate::http::AppState;
use crate::http::api::described::ApiRouter;
use axum::extract::FromRequestParts;
use axum::middleware;
use error::ApiError;
use serde::Deserialize;

/// The REST API, mounted under `/api/v1`: every resource's router behind
/// authentication and the audit record (the login endpoints are public),
/// with the description of every route ([`openapi`]).
pub fn router(state: &AppState) -> ApiRouter<AppState> {
    ApiRouter::new()
        .merge(functions::router())
        .merge(observe::router())
        .merge(orgs::router())
        .merge(iam::router())
        .merge(policies::router())
        .merge(routes::router())
        .merge(domains::router())
        .merge(storage::router())
        .merge(events::router())
        .merge(rules::router())
        .merge(quotas::router())
        .merge(secrets::router())
        .merge(auth::router())
        .merge(audit::router())
        .merge(workflows::router())
        // Layers run outside in: authenticate, then record the outcome.
        .route_layer(middleware::from_fn_with_state(state.clone(), audit::record))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .merge(auth::public_router())
}

/// Path parameters whose rejections answer in the platform's error shape.
#[derive(Debug)]
pub struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(t)| Self(t))
            .map_err(|r| ApiError::bad_request("invalid_path", r.body_text()))
    }
}

/// `?limit=&cursor=` of list endpoints.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Items per page (1 to 1000, default 100).
    pub limit: Option<i64>,
    /// Where the previous page ended.
    pub cursor: Option<String>,
}

impl Page {
    /// The limit, checked.
    pub fn limit(&self) -> Result<i64, ApiError> {
        page_limit(self.limit)
    }
}

/// A list endpoint's `limit`: 1 to 1000, default 100.
pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(100),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be 1 to 1000, not {n}"),
        )),
    }
}

/// Checks a resource name against the platform's one rule
/// ([`minicloud_runtime::names`]).
pub fn check_name(kind: &str, name: &str) -> Result<(), ApiError> {
    if minicloud_runtime::names::valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_name",
            format!(
                "{kind} name {name:?} must be {}",
                minicloud_runtime::names::NAME_RULE
            ),
        ))
    }
}

/// The cursor of the page after `rows`: the last row's key when the page
/// is full (there may be more), none when it is not.
pub fn next_cursor<T, K>(rows: &[T], limit: i64, key: impl Fn(&T) -> K) -> Option<K> {
    (rows.len() as i64 == limit)
        .then(|| rows.last().map(key))
        .flatten()
}

/// A cursor `<epoch ms>:<key>` this API gave (the key may hold `:`), as
/// the lists ordered by a time and an id make them.
pub fn time_cursor(cursor: Option<&str>) -> Result<Option<(i64, String)>, ApiError> {
    cursor
        .map(|c| {
            c.split_once(':')
                .and_then(|(ms, key)| Some((ms.parse::<i64>().ok()?, key.to_owned())))
                .ok_or_else(|| ApiError::bad_request("invalid_query", "cursor is not one this API gave"))
        })
        .transpose()
}

/// A full list answer, `{"items", "next_cursor"}`: the cursor is the last
/// row's key when the page is full (see [`next_cursor`]).
pub fn list_page<T: serde::Serialize, K: serde::Serialize>(
    rows: &[T],
    limit: i64,
    key: impl Fn(&T) -> K,
) -> axum::Json<serde_json::Value> {
    let next = next_cursor(rows, limit, key);
    axum::Json(serde_json::json!({ "items": rows, "next_cursor": next }))
}

/// The body length a request declares (`Content-Length`), if any.
pub fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// The project named in the path (404 if none), once the caller is
/// allowed `action` on `resource` (such as `route/*`) in it (403).
pub async fn authorized(
    state: &AppState,
    caller: &crate::iam::Caller,
    name: &str,
    action: &str,
    resource: &str,
) -> Result<crate::store::projects::Project, ApiError> {
    let project = project(state, name).await?;
    let service = action.split_once(':').map_or("functions", |(s, _)| s);
    let target = crate::iam::Target::in_project(service, &project, resource);
    state.authorize(caller, action, &target).await?;
    Ok(project)
}

/// The project and the function named in the path (the function may not
/// exist yet), once the caller is allowed `action` on
/// `function/<name>`; an existing function's tags are the resource tags of
/// conditions. The row is handed on, so handlers need not look it up again.
pub async fn authorized_function(
    state: &AppState,
    caller: &crate::iam::Caller,
    project_name: &str,
    action: &str,
    name: &str,
) -> Result<
    (
        crate::store::projects::Project,
        Option<crate::store::functions::FunctionRow>,
    ),
    ApiError,
> {
    let project = project(state, project_name).await?;
    let function = state.store.in_project(&project).function(name).await?;
    let mut target = crate::iam::Target::in_project("functions", &project, &format!("function/{name}"));
    if let Some(f) = &function {
        target = target.with_tags(f.settings.tags.clone());
    }
    state.authorize(caller, action, &target).await?;
    Ok((project, function))
}

/// Checks tags: at most 50, keys 1 to 128 characters and values up to 256
/// of letters, digits, spaces and `_ . : / = + - @`.
pub fn check_tags(tags: &crate::store::iam::Tags) -> Result<(), ApiError> {
    let allowed = |s: &str| {
        s.chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c))
    };
    let bad = tags.len() > 50
        || tags.iter().any(|(k, v)| {
            k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 || !allowed(k) || !allowed(v)
        });
    if bad {
        return Err(ApiError::bad_request(
            "invalid_tags",
            "at most 50 tags; keys of 1 to 128 and values of up to 256 letters, digits, spaces and _ . : / = + - @",
        ));
    }
    Ok(())
}

/// The project named in the path, or 404.
pub async fn project(state: &AppState, name: &str) -> Result<crate::store::projects::Project, ApiError> {
    state
        .project(name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("project {name:?} does not exist")))
}
