//! The HTTP surface: one router per resource, merged here, behind the
//! request-id and authentication middleware.
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
//! - [`error`]: the one error type and JSON shape.

pub mod audit;
pub mod auth;
pub mod domains;
pub mod error;
pub mod events;
pub mod functions;
pub mod iam;
pub mod observe;
pub mod orgs;
pub mod policies;
pub mod quotas;
pub mod routes;
pub mod rules;
pub mod secrets;
pub mod storage;
pub mod system;

use crate::app::AppState;
use crate::handover::Draining;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, StatusCode, Version, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use error::{ApiError, TRACE_ID};
use serde::Deserialize;
use tracing::Instrument;

/// The whole application; `draining` tells it when the server stops
/// accepting.
pub fn router(state: AppState, draining: Draining) -> Router {
    let api = Router::new()
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
        // Layers run outside in: authenticate, then record the outcome.
        .route_layer(middleware::from_fn_with_state(state.clone(), audit::record))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .merge(auth::public_router());
    Router::new()
        .nest("/api/v1", api)
        .merge(system::router())
        .merge(crate::gateway::router())
        .fallback(crate::gateway::custom_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(draining, request_id))
        .with_state(state)
}

/// Whether the URI encodes a NUL character. No name or value of the
/// platform may hold one (PostgreSQL's text cannot), so it is refused
/// once here rather than failing deep in a query.
fn carries_nul(uri: &axum::http::Uri) -> bool {
    let encoded = |s: &str| s.as_bytes().windows(3).any(|w| w.eq_ignore_ascii_case(b"%00"));
    encoded(uri.path()) || uri.query().is_some_and(encoded)
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

/// Gives every request a trace id (the client's `x-request-id` when it sends
/// a sane one), runs it inside a span and the trace-id scope, and echoes it.
/// Closes the connection after answers that leave it unusable, and, once
/// the server drains, after every HTTP/1 answer: a client that keeps its
/// connection open then reconnects (to the successor, after a hand-over)
/// instead of sending its next request on a connection about to close.
async fn request_id(State(draining): State<Draining>, req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(crate::util::new_id, str::to_owned);
    let has_body = req.headers().contains_key(header::CONTENT_LENGTH)
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    let http1 = req.version() <= Version::HTTP_11;
    let span =
        tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let run = async {
        if carries_nul(req.uri()) {
            return ApiError::bad_request(
                "invalid_path",
                "the path or query holds a NUL character (%00), which no name or value may contain",
            )
            .into_response();
        }
        next.run(req).await
    };
    let mut resp = TRACE_ID.scope(id.clone(), run.instrument(span)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    // A refused request's body may be left unread; the connection then
    // cannot be reused, and the client must not try.
    let refused = has_body && (resp.status().is_client_error() || resp.status().is_server_error());
    if refused || (http1 && draining.now()) {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
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
