//! The HTTP gateway: `/fn/{project}/{name}/{*rest}` and custom routes, into
//! the runtime, with streaming bodies both ways.
//!
//! Custom routes answer on their project's own host names, from the table
//! of [`crate::services::routes`].
//!
//! Whatever the trigger, a guest never sees the platform's credentials
//! (`Authorization`) or headers in the platform's `x-minicloud-` space that
//! the caller did not get from the platform: both are removed before every
//! call, and the verified caller reaches the guest through `identity`.

use crate::http::AppState;
use crate::http::api::PathParams;
use crate::http::api::error::{ApiError, ApiResult};
use crate::services::functions::{Input, Loaded, Output, Trigger};
use crate::store::functions::HttpAuth;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::any;
use serde::Deserialize;

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
    let mut resp = dispatch(&state, &p.project, &p.name, None, path, Vec::new(), req).await?;
    // `/fn/...` shares the platform's own origin with the console and the
    // API: what a function answers runs sandboxed, in an origin of its
    // own, so a tenant's page cannot read the console as its visitor. (A
    // web app gets its own origin through a route on its project's host.)
    resp.headers_mut().append(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(FN_SANDBOX),
    );
    Ok(resp)
}

/// The policy added to every `/fn/...` answer: scripts, forms and popups
/// work, but in an opaque origin (no cookies or storage of the
/// platform's).
const FN_SANDBOX: &str = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads";

/// The fallback: a custom route, or 404.
/// Custom routes answer only on their project's hosts,
/// `<project>.<base domain>` and the domains it verified; on any other host
/// nothing but the platform's own paths is served.
pub async fn custom_route(State(state): State<AppState>, req: Request) -> ApiResult<Response> {
    let path = req.uri().path().to_owned();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or_default();
    let table = state.routes.table();
    let project = table.project_of(host, &state.config.base_domain);
    let found = project
        .as_deref()
        .and_then(|p| table.find(p, req.method().as_str(), &path));
    drop(table);
    let (Some(project), Some((target, params))) = (project, found) else {
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
    dispatch(&state, &project, &target.function, target.auth, path, extra, req).await
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
    // The rare paths' futures (a load, an authorization) are boxed: held
    // inline, their state made every call's future 47 KB, which axum's
    // layers copied twice as they wrapped and boxed it (6 % of a reused
    // request's samples); boxed, 4.7 KB.
    let loaded = match state.functions.cached(project_name, name) {
        Some(hit) => hit,
        // A function not loaded yet: its project, its row, its version and
        // its artifact's digest, read one after another on one connection.
        None => {
            Box::pin(crate::store::on_one_connection(async {
                let project = crate::http::api::project(state, project_name).await?;
                ApiResult::Ok(state.functions.target(&project, name).await?)
            }))
            .await?
        }
    };
    let mut req = req;
    let mut caller = None;
    if route_auth.unwrap_or(loaded.http_auth) == HttpAuth::Authenticated {
        let creds = crate::http::api::auth::Credentials::of(&req);
        let what = (req.method().to_string(), req.uri().path().to_owned());
        caller = Some(Box::pin(authorize_call(state, &loaded, name, creds, what)).await?);
    }
    strip_platform_headers(req.headers_mut());
    let max = loaded.function.limits().max_request_bytes;
    if crate::http::api::declared_length(req.headers()).is_some_and(|n| n > max) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the function's limit of {max} bytes"),
        ));
    }
    // Anonymous calls count against their project's rate quota (callers
    // with a token are limited per principal).
    if caller.is_none() {
        state.rates.check(&loaded.project)?;
    }
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
    let trigger = Trigger {
        caller,
        trace_id: crate::http::api::error::trace_id(),
        delivery: None,
        task: None,
    };
    let input = Input::Http(http::Request::from_parts(parts, body));
    let invoked = state.functions.invoke(&loaded, input, trigger).await?;
    let Output::Http(mut resp) = invoked.output else {
        return Err(ApiError::internal("an HTTP call answered JSON"));
    };
    if let Ok(v) = HeaderValue::from_str(&invoked.invocation_id) {
        resp.headers_mut().insert(INVOCATION_ID, v);
    }
    drop_platform_cookies(resp.headers_mut());
    Ok(resp)
}

/// The header that names the invocation (a constant name: one parsed from
/// a string would be allocated on every call).
pub(crate) const INVOCATION_ID: HeaderName = HeaderName::from_static("x-minicloud-invocation-id");

/// Cookies named `mc_*` are the console's: a function may not set them
/// (on its project's host with `Domain=` the parent, it could plant a
/// session or a sign-in token in the console's).
fn drop_platform_cookies(headers: &mut http::HeaderMap) {
    let platforms = |v: &HeaderValue| {
        // A cookie without a name (`=mc_console=x`) comes back in the
        // browser's next request as `mc_console=x`: judged by what follows.
        let pair = v.to_str().unwrap_or("mc_").split(';').next().unwrap_or("");
        is_platform_cookie(pair.trim_start_matches(['=', ' ', '\t']))
    };
    // The common answer sets no such cookie and is left untouched.
    if !headers.get_all(header::SET_COOKIE).iter().any(platforms) {
        return;
    }
    let kept: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| !platforms(v))
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for v in kept {
        headers.append(header::SET_COOKIE, v);
    }
}

/// Whether a cookie of this name (or a `name=value` pair starting with
/// it) is the console's (`mc_*`, or `__Host-mc_*` with
/// `--secure-cookies`).
fn is_platform_cookie(name: &str) -> bool {
    // Compared without allocating: this runs for each cookie of each call.
    let name = name.trim().as_bytes();
    ["mc_", "__host-mc_", "__secure-mc_"].iter().any(|p| {
        name.get(..p.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(p.as_bytes()))
    })
}

/// The console's cookies, taken out of a request's `Cookie` headers (a
/// `__Host-` cookie goes to every path of the platform's host, `/fn/...`
/// included, and the session in it is not the function's to read).
fn strip_platform_cookies(headers: &mut http::HeaderMap) {
    let ours = |v: &HeaderValue| {
        v.to_str().map_or(true, |v| {
            v.split(';')
                .any(|kv| is_platform_cookie(kv.split('=').next().unwrap_or("")))
        })
    };
    // The common request carries no such cookie and is left untouched.
    if !headers.get_all(header::COOKIE).iter().any(ours) {
        return;
    }
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|kv| !kv.is_empty() && !is_platform_cookie(kv.split('=').next().unwrap_or("")))
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if let Ok(v) = HeaderValue::from_str(&kept.join("; "))
        && !kept.is_empty()
    {
        headers.insert(header::COOKIE, v);
    }
}

/// The caller's credentials are the platform's business, not the guest's,
/// even on a public function: a public route must not collect the bearer
/// tokens of callers who meant the API, nor the console's session
/// cookies. Headers in the platform's own
/// `x-minicloud-` space come only from the platform (route parameters are
/// added after this).
fn strip_platform_headers(headers: &mut http::HeaderMap) {
    headers.remove(header::AUTHORIZATION);
    headers.remove(header::PROXY_AUTHORIZATION);
    strip_platform_cookies(headers);
    let ours: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("x-minicloud-"))
        .cloned()
        .collect();
    for k in ours {
        headers.remove(k);
    }
}

/// An authenticated trigger: the caller's token must allow
/// `functions:InvokeFunction` on the function. The token is removed before
/// the request reaches the guest.
async fn authorize_call(
    state: &AppState,
    loaded: &Loaded,
    name: &str,
    creds: crate::http::api::auth::Credentials,
    (method, path): (String, String),
) -> ApiResult<crate::iam::Caller> {
    let caller = crate::http::api::auth::caller_of(state, creds).await?;
    let target = crate::iam::Target::in_project("functions", &loaded.project, &format!("function/{name}"))
        .with_tags(loaded.tags.clone());
    let action = crate::iam::actions::functions::INVOKE_FUNCTION;
    let refusal = match state.authorizer.check(&caller, action, &target).await {
        Ok(()) => return Ok(caller),
        Err(crate::iam::AuthzError::Denied(message)) => message,
        Err(crate::iam::AuthzError::Store(e)) => return Err(e.into()),
    };
    // Invocations are not audited, but a refused one is.
    let pending = crate::http::api::audit::pending(&caller, action, &target, false);
    let params = serde_json::json!({ "method": method, "path": path });
    crate::http::api::audit::append(state, &caller, pending, 403, &params).await;
    Err(ApiError::new(StatusCode::FORBIDDEN, "access_denied", refusal))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(headers: &http::HeaderMap, name: http::HeaderName) -> Vec<&str> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().expect("text"))
            .collect()
    }

    /// axum and tower wrap and box every call's future, each time a copy
    /// of it: its rare paths are boxed so that the common one stays small
    /// (it was 47 KB with a function's load and the caller's
    /// authorization inline). The handler's future holds `dispatch`'s,
    /// which custom routes share.
    #[test]
    fn a_calls_future_stays_small() {
        fn future_of<A, B, C, R>(_: fn(A, B, C) -> R) -> usize {
            std::mem::size_of::<R>()
        }
        let handler = future_of::<State<AppState>, PathParams<FnPath>, Request, _>(call);
        assert!(handler < 8 * 1024, "the handler's future: {handler} bytes");
    }

    #[test]
    fn the_consoles_cookies_never_reach_a_function() {
        let mut h = http::HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("mc_console=a; theme=dark"),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-MC_login=b;lang=en; __host-mc_console=c"),
        );
        strip_platform_cookies(&mut h);
        assert_eq!(cookies(&h, header::COOKIE), ["theme=dark; lang=en"]);

        let mut only = http::HeaderMap::new();
        only.insert(header::COOKIE, HeaderValue::from_static("mc_console=a"));
        strip_platform_cookies(&mut only);
        assert!(only.get(header::COOKIE).is_none());

        // The common case is left as sent.
        let mut plain = http::HeaderMap::new();
        plain.insert(header::COOKIE, HeaderValue::from_static("a=1;b=2"));
        strip_platform_cookies(&mut plain);
        assert_eq!(cookies(&plain, header::COOKIE), ["a=1;b=2"]);
    }

    #[test]
    fn a_function_cannot_set_the_consoles_cookies() {
        let mut h = http::HeaderMap::new();
        for v in [
            "theme=dark",
            "mc_console=x; Domain=example.com",
            " __Host-mc_login=y; Secure",
            "=mc_console=planted; Path=/console",
            "= MC_login=t",
            "__Secure-mc_console=z; Secure",
        ] {
            h.append(
                header::SET_COOKIE,
                HeaderValue::from_str(v).expect("a header value"),
            );
        }
        drop_platform_cookies(&mut h);
        assert_eq!(cookies(&h, header::SET_COOKIE), ["theme=dark"]);
    }
}
