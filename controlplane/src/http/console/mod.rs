//! The web console at `/console`: pages rendered on the server (maud, so
//! every value is escaped), signed in with the same login as the API, and
//! every action taken through the public API itself: the console sends the
//! API the user's own access token, in-process, so it is authenticated,
//! authorized, rate-limited and audited exactly as a call from the CLI.
//! A button is shown only when the authorizer would allow its action.
//!
//! - `session`: sessions (an id in the cookie; the user's token pair,
//!   renewed when it expires, and the CSRF token kept on the server), sign
//!   in and sign out.
//! - `api`: the in-process client of the API, and `/console/api/*`, the
//!   same API for the console's script (cookie and CSRF header in place of
//!   a bearer token).
//! - `layout`: the page frame, navigation and the shared pieces.
//! - `functions`: functions (deploy by upload, versions and roll back,
//!   limits, environment and config,
//!   invocations and their chart, live logs), and routes.
//! - `data`: event rules (with the pattern tester), dead letters
//!   (replay), buckets (browse, upload, download) and secrets (names,
//!   rotate).
//! - `workflows`: the state machine as a graph, executions with each
//!   step's status, and the approval inbox.
//! - `admin`: projects of the org (and new ones), orgs (new ones by the
//!   platform administrator), its users (and their keys), the
//!   policy simulator, quota and usage, and the audit trail with its
//!   filters and the chain's verification.
//! - `iam`: roles (managed and inline policies), managed policies,
//!   bindings, and quotas (the org's and each project's; changed by the
//!   platform administrator).
//!
//! Every answer carries a strict Content-Security-Policy (scripts and
//! styles only from `/console/assets`, no inline code, no framing).

mod admin;
mod api;
mod data;
mod functions;
mod iam;
mod layout;
mod session;
mod workflows;

use crate::http::AppState;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use api::InProcess;

/// The console's routes, calling `api` (the API's router) for everything.
/// They answer only on the platform's own host, never on a project's host
/// or custom domain (which serve tenants' code).
pub fn router(api: InProcess, state: AppState) -> Router<AppState> {
    Router::new()
        .route("/console", get(admin::home))
        .route("/console/", get(admin::home))
        .route("/console/login", get(session::login_page).post(session::login))
        .route("/console/logout", post(session::logout))
        .route("/console/assets/{file}", get(layout::asset))
        .route("/console/p/{project}/functions", get(functions::list))
        .route("/console/p/{project}/functions/{name}", get(functions::detail))
        .route(
            "/console/p/{project}/functions/{name}/activate",
            post(functions::activate),
        )
        .route(
            "/console/p/{project}/functions/{name}/invoke",
            post(functions::invoke),
        )
        .route(
            "/console/p/{project}/functions/{name}/settings",
            post(functions::settings),
        )
        .route(
            "/console/p/{project}/functions/{name}/tags",
            post(functions::tags),
        )
        .route(
            "/console/p/{project}/routes",
            get(functions::routes).post(functions::add_route),
        )
        .route(
            "/console/p/{project}/routes/{id}/delete",
            post(functions::delete_route),
        )
        .route(
            "/console/p/{project}/rules",
            get(data::rules).post(data::create_rule),
        )
        .route("/console/p/{project}/rules/test", post(data::test_pattern))
        .route(
            "/console/p/{project}/rules/{name}/delete",
            post(data::delete_rule),
        )
        .route(
            "/console/p/{project}/buckets",
            get(data::buckets).post(data::create_bucket),
        )
        .route("/console/p/{project}/buckets/{bucket}", get(data::bucket))
        .route(
            "/console/p/{project}/secrets",
            get(data::secrets).post(data::create_secret),
        )
        .route(
            "/console/p/{project}/secrets/{name}/rotate",
            post(data::rotate_secret),
        )
        .route("/console/p/{project}/dead-letters", get(data::dead_letters))
        .route(
            "/console/p/{project}/dead-letters/{id}/replay",
            post(data::replay),
        )
        .route("/console/p/{project}/workflows", get(workflows::list))
        .route("/console/p/{project}/workflows/{name}", get(workflows::detail))
        .route(
            "/console/p/{project}/workflows/{name}/start",
            post(workflows::start),
        )
        .route(
            "/console/p/{project}/workflows/{name}/executions/{id}",
            get(workflows::execution),
        )
        .route(
            "/console/p/{project}/workflows/{name}/executions/{id}/stop",
            post(workflows::stop),
        )
        .route("/console/p/{project}/approvals", get(workflows::approvals))
        .route("/console/p/{project}/approvals/answer", post(workflows::answer))
        .route("/console/projects", post(admin::create_project))
        .route("/console/orgs", post(admin::create_org))
        .route("/console/org", get(admin::org))
        .route("/console/org/users", post(admin::create_user))
        .route("/console/org/simulate", post(admin::simulate))
        .route("/console/org/users/{user}", get(admin::user))
        .route("/console/org/users/{user}/keys", post(admin::create_key))
        .route("/console/org/users/{user}/tags", post(admin::tag_user))
        .route(
            "/console/org/users/{user}/keys/{key}/revoke",
            post(admin::revoke_key),
        )
        .route("/console/org/roles", post(iam::create_role))
        .route("/console/org/roles/{role}", get(iam::role))
        .route("/console/org/roles/{role}/delete", post(iam::delete_role))
        .route("/console/org/roles/{role}/policies", post(iam::attach))
        .route(
            "/console/org/roles/{role}/policies/{policy}/detach",
            post(iam::detach),
        )
        .route("/console/org/roles/{role}/inline", post(iam::put_inline))
        .route(
            "/console/org/roles/{role}/inline/{policy}/delete",
            post(iam::delete_inline),
        )
        .route("/console/org/policies", post(iam::create_policy))
        .route("/console/org/policies/{policy}", post(iam::update_policy))
        .route("/console/org/policies/{policy}/delete", post(iam::delete_policy))
        .route("/console/org/bindings", post(iam::bind))
        .route("/console/org/bindings/{id}/delete", post(iam::unbind))
        .route("/console/org/quota", post(iam::set_org_quota))
        .route(
            "/console/p/{project}/quota",
            get(iam::project_quota).post(iam::set_project_quota),
        )
        .route("/console/audit", get(admin::audit))
        .route("/console/api/{*path}", axum::routing::any(api::forward))
        .layer(axum::Extension(api))
        .layer(middleware::from_fn_with_state(state, secure_headers))
}

/// The policy of every console answer: nothing but the console's own
/// assets runs or loads, no inline script or style, no framing, forms
/// post only to the console. Scripts and styles come from the assets'
/// folder alone, not from any path of the origin (functions under `/fn`
/// and objects share it): `{assets}` is `<host>/console/assets/` for the
/// request's host, or `'self'` when the host cannot be named in a policy
/// (an IPv6 literal).
const CSP: &str = "default-src 'none'; script-src {assets}; style-src {assets}; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's policy for a request to `host` (its `Host` header).
fn policy(host: &str) -> HeaderValue {
    let (name, port) = host.split_once(':').unwrap_or((host, ""));
    let nameable = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && port.bytes().all(|b| b.is_ascii_digit());
    let assets = if nameable {
        format!("{host}/console/assets/")
    } else {
        "'self'".to_owned()
    };
    HeaderValue::from_str(&CSP.replace("{assets}", &assets))
        .unwrap_or(HeaderValue::from_static("default-src 'none'"))
}

/// Sets the console's headers on every answer.
async fn secure_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if state
        .routes
        .table()
        .project_of(host, &state.config.base_domain)
        .is_some()
    {
        return ConsoleError::new(
            axum::http::StatusCode::NOT_FOUND,
            "the console is served on the platform's own host, not on a project's",
        )
        .into_response();
    }
    let csp = policy(host);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    // A stricter policy set by the handler (a proxied download) stays.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// A page that could not be shown: its status and what to do, on the
/// console's frame.
#[derive(Debug)]
pub struct ConsoleError {
    status: axum::http::StatusCode,
    /// What to do, for the user.
    pub message: String,
}

impl ConsoleError {
    fn new(status: axum::http::StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let body = layout::bare(
            "Something went wrong",
            maud::html! {
                h1 { "Something went wrong" }
                p role="alert" { (self.message) }
                p { a href="/console" { "Back to the console" } }
            },
        );
        (self.status, body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::policy;

    #[test]
    fn scripts_come_from_the_assets_folder_alone() {
        let csp = policy("127.0.0.1:8080");
        let csp = csp.to_str().expect("text");
        assert!(
            csp.contains("script-src 127.0.0.1:8080/console/assets/;"),
            "{csp}"
        );
        assert!(csp.contains("style-src 127.0.0.1:8080/console/assets/;"), "{csp}");
        // A host a policy cannot name, or one trying to add a directive.
        for host in ["[::1]:8080", "evil; script-src *", "", "a b"] {
            let csp = policy(host);
            let csp = csp.to_str().expect("text");
            assert!(csp.contains("script-src 'self';"), "{host}: {csp}");
        }
    }
}
