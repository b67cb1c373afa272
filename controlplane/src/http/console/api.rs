//! The console's client of the API: requests handed to the API's own
//! router in-process, with the user's access token, so they pass through
//! the same authentication, authorization, rate limits and audit as any
//! other client's. And `/console/api/*`: the same API for the console's
//! script, which sends the session cookie and the CSRF token instead of a
//! bearer token.

use super::ConsoleError;
use super::session::Session;
use crate::handover::Peer;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tower::ServiceExt;

/// The API's router, with its state, to call in-process.
#[derive(Debug, Clone)]
pub struct InProcess(pub Router);

/// The largest API answer a page reads.
const MAX_ANSWER: usize = 16 << 20;

impl InProcess {
    /// Sends `req` to the API.
    pub async fn send(&self, req: Request) -> Response {
        match self.0.clone().oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        }
    }

    /// `method /api/v1{path}` with an optional JSON body, as the session's
    /// user: the status and the JSON answered (`null` for none).
    pub async fn call(
        &self,
        session: &Session,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), ConsoleError> {
        let bearer = format!("Bearer {}", session.access_token());
        let caller = Sent {
            bearer: Some(&bearer),
            peer: session.peer(),
            user_agent: None,
        };
        self.json(method, path, body, caller).await
    }

    /// `method /api/v1{path}` with `body` and who sends it: the status and
    /// the JSON answered (`null` for none). Sign-in, renewal and sign-out
    /// send no bearer token.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        sent: Sent<'_>,
    ) -> Result<(StatusCode, Value), ConsoleError> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"))
            .header(
                header::USER_AGENT,
                sent.user_agent
                    .unwrap_or(HeaderValue::from_static("minicloud-console")),
            );
        if let Some(b) = sent.bearer {
            req = req.header(header::AUTHORIZATION, b);
        }
        // With its length, as a client's: the audit record keeps the body
        // of a change (secrets removed).
        let body = match body {
            Some(b) => {
                let bytes = serde_json::to_vec(b).unwrap_or_default();
                req = req
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::CONTENT_LENGTH, bytes.len());
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        let mut req = req
            .body(body)
            .map_err(|e| ConsoleError::new(StatusCode::BAD_REQUEST, format!("a bad request: {e}")))?;
        if let Some(peer) = sent.peer {
            req.extensions_mut().insert(ConnectInfo(peer));
        }
        let resp = self.send(req).await;
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), MAX_ANSWER)
            .await
            .map_err(|e| {
                ConsoleError::new(StatusCode::BAD_GATEWAY, format!("the API's answer was cut: {e}"))
            })?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Ok((status, value))
    }

    /// `GET /api/v1{path}`: the JSON, or the API's refusal as the page's
    /// error.
    pub async fn get(&self, session: &Session, path: &str) -> Result<Value, ConsoleError> {
        let (status, value) = self.call(session, Method::GET, path, None).await?;
        if status.is_success() {
            Ok(value)
        } else {
            Err(refusal(status, &value))
        }
    }

    /// The `items` of a list the API answers at `GET /api/v1{path}`.
    pub async fn items(&self, session: &Session, path: &str) -> Result<Vec<Value>, ConsoleError> {
        let mut page = self.get(session, path).await?;
        Ok(match page["items"].take() {
            Value::Array(items) => items,
            _ => Vec::new(),
        })
    }

    /// A form's action: `method /api/v1{path}` with `body`, then the
    /// browser sent on to the console page `then`, or the API's refusal as
    /// the page's error.
    pub async fn act(
        &self,
        session: &Session,
        method: Method,
        path: &str,
        body: Option<&Value>,
        then: &str,
    ) -> Result<Response, ConsoleError> {
        let (status, answer) = self.call(session, method, path, body).await?;
        if !status.is_success() {
            return Err(refusal(status, &answer));
        }
        Ok(axum::response::Redirect::to(then).into_response())
    }
}

/// Who an in-process request is from.
#[derive(Debug, Clone, Default)]
pub struct Sent<'a> {
    /// `Bearer <token>`, if any.
    pub bearer: Option<&'a str>,
    /// The client's address.
    pub peer: Option<Peer>,
    /// The client's `User-Agent` (default: the console's).
    pub user_agent: Option<HeaderValue>,
}

/// The message of an API error answer, for a form to show.
pub fn message(answer: &Value) -> String {
    answer["error"]["message"]
        .as_str()
        .unwrap_or("the API refused the request")
        .to_owned()
}

/// The API's error answer as a page's error.
pub fn refusal(status: StatusCode, value: &Value) -> ConsoleError {
    ConsoleError::new(status, message(value))
}

/// `/console/api/{path}`: the API for the console's script. A request that
/// changes something must carry the session's CSRF token in
/// `x-csrf-token` (a page of another site cannot read it, nor, with the
/// cookie's `SameSite=Strict`, send the cookie). The body and the answer
/// stream through (an upload of a component, a log stream).
pub async fn forward(
    axum::Extension(api): axum::Extension<InProcess>,
    session: Session,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let changes = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if changes && !session.csrf_matches(parts.headers.get("x-csrf-token")) {
        return ConsoleError::new(
            StatusCode::FORBIDDEN,
            "the request lacks the page's CSRF token: reload the page",
        )
        .into_response();
    }
    let rest = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or_default()
        .strip_prefix("/console/api")
        .unwrap_or_default()
        .to_owned();
    let Ok(uri) = format!("/api/v1{rest}").parse() else {
        return ConsoleError::new(StatusCode::BAD_REQUEST, "a bad path").into_response();
    };
    // A new request: the console route's own extensions (its path
    // parameters) must not reach the API's router.
    let mut inner = Request::new(body);
    *inner.method_mut() = parts.method;
    *inner.uri_mut() = uri;
    *inner.version_mut() = parts.version;
    *inner.headers_mut() = parts.headers;
    let h = inner.headers_mut();
    h.remove(header::COOKIE);
    h.remove("x-csrf-token");
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", session.access_token())) {
        h.insert(header::AUTHORIZATION, v);
    }
    if let Some(peer) = session.peer() {
        inner.extensions_mut().insert(ConnectInfo::<Peer>(peer));
    }
    // Long answers (the log stream) end when the server drains.
    if let Some(draining) = parts.extensions.get::<crate::handover::Draining>() {
        inner.extensions_mut().insert(draining.clone());
    }
    let mut resp = api.send(inner).await;
    contain(&mut resp);
    resp
}

/// An answer of the API that is not JSON or an event stream (an object's
/// content, which a tenant chose) is a download: never rendered as a page
/// of the console's origin, whatever its type.
fn contain(resp: &mut Response) {
    let kind = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if kind.starts_with("application/json") || kind.starts_with("text/event-stream") {
        return;
    }
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
}
