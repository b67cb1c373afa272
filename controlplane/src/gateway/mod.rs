//! The HTTP gateway: `/fn/{project}/{name}/{*rest}` and custom routes, into
//! the runtime, with streaming bodies both ways.

use crate::api::PathParams;
use crate::api::error::{ApiError, ApiResult};
use crate::app::AppState;
use crate::store::functions::HttpAuth;
use crate::store::routes::RouteRow;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::any;
use minicloud_runtime::InvocationContext;
use serde::Deserialize;
use std::collections::HashMap;

/// Routes of the gateway.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/fn/{project}/{name}", any(call))
        .route("/fn/{project}/{name}/", any(call))
        .route("/fn/{project}/{name}/{*rest}", any(call))
}

#[derive(Debug, Deserialize)]
struct FnPath {
    project: String,
    name: String,
    rest: Option<String>,
}

async fn call(
    State(state): State<AppState>,
    PathParams(p): PathParams<FnPath>,
    req: Request,
) -> ApiResult<Response> {
    let path = format!("/{}", p.rest.unwrap_or_default());
    dispatch(&state, &p.project, &p.name, None, path, Vec::new(), req).await
}

/// Where a custom route leads.
#[derive(Debug, Clone)]
pub struct RouteTarget {
    project: String,
    function: String,
    auth: Option<HttpAuth>,
}

/// Custom routes by method (`ANY` matches every method), compiled into
/// matchers. Rebuilt whole and swapped on every change.
#[derive(Debug, Default)]
pub struct RouteTable {
    by_method: HashMap<String, matchit::Router<RouteTarget>>,
}

impl RouteTable {
    /// Compiles routes; fails on a pattern that is invalid or conflicts with
    /// another.
    pub fn build(rows: &[RouteRow]) -> Result<Self, String> {
        let mut table = Self::default();
        for r in rows {
            table
                .by_method
                .entry(r.method.clone())
                .or_default()
                .insert(
                    r.path.clone(),
                    RouteTarget {
                        project: r.project.clone(),
                        function: r.function.clone(),
                        auth: r.auth,
                    },
                )
                .map_err(|e| format!("{} {}: {e}", r.method, r.path))?;
        }
        Ok(table)
    }

    fn find(&self, method: &str, path: &str) -> Option<(RouteTarget, Vec<(String, String)>)> {
        [method, "ANY"].iter().find_map(|m| {
            let matched = self.by_method.get(*m)?.at(path).ok()?;
            let params = matched
                .params
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            Some((matched.value.clone(), params))
        })
    }
}

/// The fallback: a custom route, or 404.
pub async fn custom_route(State(state): State<AppState>, req: Request) -> ApiResult<Response> {
    let path = req.uri().path().to_owned();
    let found = state.routes.load().find(req.method().as_str(), &path);
    let Some((target, params)) = found else {
        return Err(ApiError::not_found(format!(
            "no route for {} {path}",
            req.method()
        )));
    };
    let mut extra = Vec::with_capacity(params.len());
    for (k, v) in params {
        let name = HeaderName::try_from(format!("x-minicloud-param-{k}"));
        if let (Ok(name), Ok(value)) = (name, HeaderValue::from_str(&v)) {
            extra.push((name, value));
        }
    }
    dispatch(
        &state,
        &target.project,
        &target.function,
        target.auth,
        path,
        extra,
        req,
    )
    .await
}

async fn dispatch(
    state: &AppState,
    project_name: &str,
    name: &str,
    route_auth: Option<HttpAuth>,
    path: String,
    extra: Vec<(HeaderName, HeaderValue)>,
    req: Request,
) -> ApiResult<Response> {
    let loaded = match state.registry.cached(project_name, name) {
        Some(hit) => hit,
        None => {
            let project = crate::api::project(state, project_name).await?;
            state.registry.get(&project, name).await?.ok_or_else(|| {
                ApiError::not_found(format!(
                    "function {name:?} does not exist in project {project_name:?}"
                ))
            })?
        }
    };
    let mut req = req;
    let mut caller = None;
    if route_auth.unwrap_or(loaded.http_auth) == HttpAuth::Authenticated {
        let creds = crate::api::auth::Credentials::of(&req);
        let what = (req.method().to_string(), req.uri().path().to_owned());
        caller = Some(authorize_call(state, &loaded, name, creds, what).await?);
        // The caller's credentials are the platform's business, not the
        // guest's.
        req.headers_mut().remove(header::AUTHORIZATION);
    }
    let max = loaded.function.limits().max_request_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the function's limit of {max} bytes"),
        ));
    }
    let permit = loaded.gate.enter().await?;
    let (mut parts, body) = req.into_parts();
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    parts.uri = Uri::builder()
        .path_and_query(path_and_query)
        .build()
        .map_err(|e| ApiError::bad_request("bad_request", format!("invalid path: {e}")))?;
    for (k, v) in extra {
        parts.headers.insert(k, v);
    }
    let invocation_id = crate::util::new_id();
    let ctx = InvocationContext {
        invocation_id: invocation_id.clone(),
        trace_id: crate::api::error::trace_id(),
        sink: loaded.sink.clone(),
        caller: match caller {
            Some(c) => {
                crate::capabilities::identity::caller(state.authorizer.clone(), state.store.clone(), Some(c))
            }
            None => minicloud_runtime::Caller::anonymous(),
        },
        delivery: None,
    };
    let resp = loaded
        .function
        .handle_http(http::Request::from_parts(parts, body), ctx, permit)
        .await?;
    let mut resp = resp.map(Body::new);
    if let Ok(v) = HeaderValue::from_str(&invocation_id) {
        resp.headers_mut().insert("x-minicloud-invocation-id", v);
    }
    Ok(resp)
}

/// An authenticated trigger: the caller's token must allow
/// `functions:InvokeFunction` on the function. The token is removed before
/// the request reaches the guest.
async fn authorize_call(
    state: &AppState,
    loaded: &crate::registry::Loaded,
    name: &str,
    creds: crate::api::auth::Credentials,
    (method, path): (String, String),
) -> ApiResult<crate::iam::Caller> {
    let caller = crate::api::auth::caller_of(state, creds).await?;
    let target = crate::iam::Target::in_project("functions", &loaded.project, &format!("function/{name}"))
        .with_tags(loaded.tags.clone());
    let action = crate::iam::actions::functions::INVOKE_FUNCTION;
    let allowed = state.allowed(&caller, action, &target).await?;
    if allowed {
        return Ok(caller);
    }
    // Invocations are not audited, but a refused one is.
    let pending = crate::api::audit::pending(&caller, action, &target, false);
    let params = serde_json::json!({ "method": method, "path": path });
    crate::api::audit::append(state, &caller, pending, 403, &params).await;
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "access_denied",
        format!(
            "{} {:?} may not {action} on {}",
            caller.principal.kind.as_str(),
            caller.principal.user_name,
            target.mrn
        ),
    ))
}
