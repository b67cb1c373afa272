//! The one error type of the HTTP surface, and its one JSON shape:
//! `{"error": {"code", "message", "trace_id"}}`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minicloud_runtime::{CompileError, InvokeError};
use serde::Serialize;
use std::sync::Arc;

tokio::task_local! {
    /// The trace id of the request being served (shared, not copied, by
    /// the invocations, capabilities and records that carry it).
    pub static TRACE_ID: Arc<str>;
}

/// The current request's trace id, or empty outside a request.
pub fn trace_id() -> Arc<str> {
    TRACE_ID.try_with(Arc::clone).unwrap_or_else(|_| Arc::from(""))
}

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    path: Option<String>,
    problems: Vec<minicloud_asl::Problem>,
    retry_after: Option<u64>,
}

/// `Result` of handlers.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with a status, a stable code and a message for people.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            path: None,
            problems: Vec::new(),
            retry_after: None,
        }
    }

    /// Its stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Its message for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// 400 with code `bad_request`, or another code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 naming what was not found.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// 500: the message is logged, the client gets a safe one.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, trace_id = %trace_id(), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the trace id identifies it in the server's logs",
        )
    }

    /// A policy document that does not validate: 400 `invalid_policy`,
    /// with the JSON path of the problem (under `prefix`, the document's
    /// place in the request) in `error.path`.
    pub fn invalid_policy(prefix: &str, err: &minicloud_policy::PolicyError) -> Self {
        let path = match err.path.as_str() {
            "$" => prefix.to_owned(),
            p if prefix.is_empty() => p.to_owned(),
            p => format!("{prefix}.{p}"),
        };
        let mut e = Self::bad_request("invalid_policy", format!("{path}: {}", err.message));
        e.path = Some(path);
        e
    }

    /// An event pattern that does not compile: 400 `invalid_pattern` with
    /// the JSON path of the problem in `error.path`.
    pub fn invalid_pattern(err: &crate::events::pattern::PatternError) -> Self {
        let mut e = Self::bad_request("invalid_pattern", err.to_string());
        e.path = Some(err.path.clone());
        e
    }

    /// A workflow definition that does not validate: 400
    /// `invalid_definition`, every problem in `error.problems` (`{path,
    /// message}`), the first one's path in `error.path`.
    pub fn invalid_definition(problems: &[minicloud_asl::Problem]) -> Self {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let mut e = Self::bad_request(
            "invalid_definition",
            format!(
                "the definition has {} problem(s): {}",
                problems.len(),
                list.join("; ")
            ),
        );
        e.path = problems.first().map(|p| p.path.clone());
        e.problems = problems.to_vec();
        e
    }

    /// Adds `Retry-After`.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    trace_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    problems: Vec<ProblemBody<'a>>,
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    path: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let trace_id = trace_id();
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                trace_id: &trace_id,
                path: self.path.as_deref(),
                problems: self
                    .problems
                    .iter()
                    .map(|p| ProblemBody {
                        path: &p.path,
                        message: &p.message,
                    })
                    .collect(),
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<crate::events::rules::RuleError> for ApiError {
    fn from(e: crate::events::rules::RuleError) -> Self {
        let mut err = Self::bad_request(e.code, e.message);
        err.path = e.path;
        err
    }
}

impl From<crate::events::bus::BusError> for ApiError {
    fn from(e: crate::events::bus::BusError) -> Self {
        tracing::error!(error = %e, "the event bus refused events");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the events could not be stored; nothing was accepted, retry",
        )
        .retry_after(1)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::internal(e)
    }
}

impl From<crate::artifacts::ArtifactError> for ApiError {
    fn from(e: crate::artifacts::ArtifactError) -> Self {
        Self::internal(e)
    }
}

impl From<crate::registry::LoadError> for ApiError {
    fn from(e: crate::registry::LoadError) -> Self {
        Self::internal(e)
    }
}

impl From<minicloud_runtime::caps::backend::BackendError> for ApiError {
    fn from(e: minicloud_runtime::caps::backend::BackendError) -> Self {
        use minicloud_runtime::caps::backend::BackendError as B;
        match e {
            B::NotFound(m) => Self::not_found(m),
            B::Invalid(m) => Self::bad_request("invalid_request", m),
            B::QuotaExceeded(m) => Self::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", m),
            B::Unavailable(m) => {
                tracing::error!(error = %m, trace_id = %trace_id(), "a backing service failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "a backing service failed; retry later",
                )
            }
        }
    }
}

impl From<crate::gate::Throttled> for ApiError {
    fn from(e: crate::gate::Throttled) -> Self {
        let secs = e.retry_after_secs;
        Self::new(StatusCode::TOO_MANY_REQUESTS, "throttled", e.to_string()).retry_after(secs)
    }
}

impl From<CompileError> for ApiError {
    fn from(e: CompileError) -> Self {
        let status = match e {
            CompileError::Empty
            | CompileError::NotWasm
            | CompileError::CoreModule
            | CompileError::UnknownVersion(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Self::new(status, e.code(), e.to_string())
    }
}

impl From<InvokeError> for ApiError {
    fn from(e: InvokeError) -> Self {
        let status = match &e {
            InvokeError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            InvokeError::Guest(_) => StatusCode::UNPROCESSABLE_ENTITY,
            InvokeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            InvokeError::Internal(_) => return Self::internal(e),
            // As the gate's quota refusals: the room comes back with time.
            InvokeError::Quota(_) => {
                return Self::new(StatusCode::TOO_MANY_REQUESTS, e.code(), e.to_string()).retry_after(1);
            }
            InvokeError::MemoryLimit(_)
            | InvokeError::StackOverflow
            | InvokeError::Trap(_)
            | InvokeError::NoResponse
            | InvokeError::ResponseTooLarge(_) => StatusCode::BAD_GATEWAY,
        };
        Self::new(status, e.code(), e.to_string())
    }
}

/// `Json` whose rejections answer in the platform's error shape. Strings
/// (and keys) holding a NUL character are refused wherever they are: no
/// name or value of the platform may hold one (PostgreSQL's text cannot).
/// The body is parsed once, into `T`; only a body that holds a NUL escape
/// is parsed again, to say where.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_json",
                "Expected request with `Content-Type: application/json`",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| ApiError::new(r.status(), "invalid_body", r.body_text()))?;
        if holds_nul_escape(&bytes) {
            let at = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| nul_at(&v, "$"))
                .unwrap_or_else(|| "the body".to_owned());
            return Err(ApiError::bad_request(
                "invalid_json",
                format!("{at} holds a NUL character (\\u0000), which no name or value may contain"),
            ));
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Self(value))
    }
}

/// Whether the request says its body is JSON (`application/json` or
/// `application/<something>+json`).
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether JSON text holds the escape of a NUL character, `\u0000` (the
/// only way a NUL can be in valid JSON): a backslash that is not itself
/// escaped, then `u0000`.
fn holds_nul_escape(text: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (i, &b) in text.iter().enumerate() {
        if b == b'\\' {
            backslashes += 1;
            continue;
        }
        if backslashes % 2 == 1 && b == b'u' && text[i + 1..].starts_with(b"0000") {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// The JSON path of the first string or key holding a NUL character.
fn nul_at(v: &serde_json::Value, at: &str) -> Option<String> {
    match v {
        serde_json::Value::String(s) => s.contains('\0').then(|| at.to_owned()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_at(item, &format!("{at}[{i}]"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, item)| {
            if k.contains('\0') {
                Some(format!("{at} (a key)"))
            } else {
                nul_at(item, &format!("{at}.{k}"))
            }
        }),
        _ => None,
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        Self::new(r.status(), "invalid_json", r.body_text())
    }
}

/// `Query` whose rejections answer in the platform's error shape.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct QueryParams<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::bad_request("invalid_query", r.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::holds_nul_escape;

    #[test]
    fn a_nul_escape_is_found_only_where_it_is_one() {
        let cases = [
            (r#"{"a": "x\u0000"}"#, true),
            (r#"{"a\u0000": 1}"#, true),
            (r#"{"a": "\\\u0000"}"#, true),
            (r#"{"a": "\\u0000"}"#, false),
            (r#"{"a": "\u00001"}"#, true),
            (r#"{"a": "\u0001"}"#, false),
            (r#"{"a": "u0000"}"#, false),
            (r#"{"a": "\"}"#, false),
            ("\\", false),
            ("\\u000", false),
        ];
        for (text, want) in cases {
            assert_eq!(holds_nul_escape(text.as_bytes()), want, "{text}");
        }
    }
}
