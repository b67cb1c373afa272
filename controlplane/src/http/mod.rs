//! The HTTP layer: the REST API and the gateway that runs functions,
//! sharing one state, authentication, audit and error shape. It calls the
//! services (`crate::services`), the store and the runtime; nothing below
//! it imports it.
//!
//! - [`api`]: the REST API under `/api/v1`, health and metrics; one module
//!   per resource, one error type.
//! - [`console`]: the web console at `/console`, on the API.
//! - [`gateway`]: `/fn/...`, custom routes and custom domains into the
//!   functions service.
//! - `state`: [`AppState`], what every handler shares.

pub mod api;
pub mod console;
pub mod gateway;
mod state;

pub use state::{AppState, ProjectNames, Shared};

use crate::handover::Draining;
use api::error::{ApiError, TRACE_ID};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Version, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use tracing::Instrument;

/// The whole application; `draining` tells it when the server stops
/// accepting. The gateway's `/fn/...` routes are built at once; the rest
/// (the API with its description, the docs, the console, custom routes)
/// is [`Rest`], built on its first request or by [`Rest::build`]. The API's
/// routes with their OpenAPI paths, the docs and the console were nearly
/// all of a cold start's router (2.2-4 ms on the start's clock, against
/// 0.1-0.2 ms for the gateway's alone; BENCHMARKS 2026-12-05 evening), and a restarted
/// node's first calls are to its functions: they need not wait for it.
pub fn router(state: AppState, draining: Draining) -> (Router, Rest) {
    let rest = Rest {
        state: state.clone(),
        built: Arc::default(),
    };
    let app = Router::new()
        .merge(gateway::router())
        .fallback_service(rest.clone())
        .layer(middleware::from_fn_with_state(draining, request_id))
        .with_state(state);
    (app, rest)
}

/// Every route but the gateway's `/fn/...`, built once, when first needed;
/// requests reach it through the application's fallback (after
/// [`request_id`], as every route).
#[derive(Clone)]
pub struct Rest {
    state: AppState,
    built: Arc<OnceLock<Router>>,
}

impl Rest {
    /// The routes, built now unless they are already (a request that comes
    /// meanwhile waits for them).
    pub fn build(&self) -> &Router {
        self.built.get_or_init(|| {
            let started = std::time::Instant::now();
            let routes = rest(self.state.clone());
            tracing::info!(
                ms = started.elapsed().as_secs_f64() * 1e3,
                "the API's and console's routes built"
            );
            routes
        })
    }
}

impl tower::Service<Request> for Rest {
    type Response = Response;
    type Error = Infallible;
    type Future = axum::routing::future::RouteFuture<Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        self.build().clone().call(req)
    }
}

/// The API (with `/healthz`, `/metrics` and its description), its docs,
/// the console, and the fallback: a custom route, or 404.
fn rest(state: AppState) -> Router {
    let described = api::openapi::Described::default();
    let (routes, paths) = api::described::ApiRouter::new()
        .nest("/api/v1", api::router(&state))
        .merge(api::system::router())
        .merge(api::openapi::router(&described))
        .split();
    described.set(paths);
    let in_process = console::InProcess(routes.clone().with_state(state.clone()));
    Router::new()
        .merge(routes)
        .merge(api::openapi::docs())
        .merge(console::router(in_process, state.clone()))
        .fallback(gateway::custom_route)
        .method_not_allowed_fallback(method_not_allowed)
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

/// The target of every request's span (at debug level):
/// `RUST_LOG=info,minicloud::request=debug` puts a request's id, method and
/// path on each line logged while it is served.
const REQUEST_SPAN: &str = "minicloud::request";

/// The header of a request's id, the client's or the platform's.
const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// Gives every request a trace id (the client's `x-request-id` when it sends
/// a sane one), runs it inside the trace-id scope (and a span, when
/// [`REQUEST_SPAN`] is enabled at debug), and echoes it.
/// Closes the connection after answers that leave it unusable, and, once
/// the server drains, after every HTTP/1 answer: a client that keeps its
/// connection open then reconnects (to the successor, after a hand-over)
/// instead of sending its next request on a connection about to close.
async fn request_id(State(draining): State<Draining>, mut req: Request, next: Next) -> Response {
    // The client's id is echoed as it came; a new one is made as text once
    // and shared by everything that carries it.
    let client = req
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.as_bytes().iter().all(u8::is_ascii_graphic))
        .cloned();
    let id: Arc<str> = match client.as_ref().and_then(|v| v.to_str().ok()) {
        Some(theirs) => Arc::from(theirs),
        None => crate::util::new_shared_id(),
    };
    let has_body = req.headers().contains_key(header::CONTENT_LENGTH)
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    let http1 = req.version() <= Version::HTTP_11;
    // Long answers (streams) end when the server drains.
    req.extensions_mut().insert(draining.clone());
    // At debug level, in a target of its own: at the default (info) the
    // span, with its fields formatted for every request, cost about 5 % of
    // a reused function's CPU a request (BENCHMARKS, 2026-12-05 evening).
    // Internal errors log their trace id themselves.
    let span = tracing::debug_span!(
        target: REQUEST_SPAN,
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path()
    );
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
    if let Some(v) = client.or_else(|| HeaderValue::from_str(&id).ok()) {
        resp.headers_mut().insert(REQUEST_ID, v);
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
