//! What every platform call can fail with, and how a handler fails with a
//! named error.

use crate::bindings::minicloud::platform::types;
use crate::bindings::wasi::keyvalue::store as kv;

/// A platform call's failure (never a trap: handle it, or pass it on with
/// `?`), or a failure a handler names itself with [`Error::named`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The function's execution role does not allow the call; the text
    /// names the action and the resource.
    AccessDenied(String),
    /// The bucket, object, key or secret does not exist.
    NotFound(String),
    /// The arguments are not acceptable.
    Invalid(String),
    /// A per-invocation cap is used up.
    LimitExceeded(String),
    /// The service failed; retrying may help.
    Unavailable(String),
    /// Reading or writing a stream failed.
    Io(String),
    /// A failure the function names itself, made by [`Error::named`]: a
    /// workflow retries and catches it by `name`.
    Named {
        /// The error's name, such as `Payment.Declined`.
        name: String,
        /// What went wrong.
        cause: String,
    },
}

/// `Result` of platform calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::AccessDenied(m) => write!(f, "access denied: {m}"),
            Error::NotFound(m) => write!(f, "not found: {m}"),
            Error::Invalid(m) => write!(f, "invalid: {m}"),
            Error::LimitExceeded(m) => write!(f, "limit exceeded: {m}"),
            Error::Unavailable(m) => write!(f, "unavailable: {m}"),
            Error::Io(m) => write!(f, "i/o: {m}"),
            // Written by hand, not through a map, so that the keys keep this
            // order; `Value`'s `Display` escapes the strings.
            Error::Named { name, cause } => write!(
                f,
                r#"{{"errorType":{},"errorMessage":{}}}"#,
                serde_json::Value::from(name.as_str()),
                serde_json::Value::from(cause.as_str()),
            ),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// A short stable name of the kind: `access-denied`, `not-found`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            Error::AccessDenied(_) => "access-denied",
            Error::NotFound(_) => "not-found",
            Error::Invalid(_) => "invalid",
            Error::LimitExceeded(_) => "limit-exceeded",
            Error::Unavailable(_) => "unavailable",
            Error::Io(_) => "io",
            Error::Named { .. } => "named",
        }
    }

    /// A failure named `name` with `cause`, for a handler to return.
    ///
    /// Its text (its `Display`, which a handler's error becomes) is the
    /// JSON object `{"errorType": name, "errorMessage": cause}`: the
    /// platform reads an error of that shape as an error name and cause, so
    /// a workflow's `Retry` and `Catch` can match `name` (as with Lambda).
    /// Any other error text fails a task with `States.TaskFailed`.
    ///
    /// ```no_run
    /// use minicloud_sdk::Error;
    /// use serde_json::Value;
    ///
    /// fn charge(input: Value) -> Result<Value, minicloud_sdk::Error> {
    ///     if input["card"] == "expired" {
    ///         return Err(Error::named("Payment.Declined", "card expired"));
    ///     }
    ///     Ok(input)
    /// }
    ///
    /// minicloud_sdk::json_handler!(charge);
    /// ```
    ///
    /// Quotes and other special characters in either part are escaped:
    ///
    /// ```
    /// let e = minicloud_sdk::Error::named("Payment.Declined", r#"card "expired""#);
    /// assert_eq!(
    ///     e.to_string(),
    ///     r#"{"errorType":"Payment.Declined","errorMessage":"card \"expired\""}"#
    /// );
    /// ```
    pub fn named(name: &str, cause: &str) -> Error {
        Error::Named {
            name: name.to_owned(),
            cause: cause.to_owned(),
        }
    }
}

impl From<types::Error> for Error {
    fn from(e: types::Error) -> Self {
        match e {
            types::Error::AccessDenied(m) => Error::AccessDenied(m),
            types::Error::NotFound(m) => Error::NotFound(m),
            types::Error::Invalid(m) => Error::Invalid(m),
            types::Error::LimitExceeded(m) => Error::LimitExceeded(m),
            types::Error::Unavailable(m) => Error::Unavailable(m),
        }
    }
}

impl From<kv::Error> for Error {
    fn from(e: kv::Error) -> Self {
        match e {
            kv::Error::AccessDenied => Error::AccessDenied("the key-value call was refused".into()),
            kv::Error::NoSuchStore => Error::NotFound("no such key-value store".into()),
            kv::Error::Other(m) if m.contains("more than") => Error::LimitExceeded(m),
            kv::Error::Other(m) => Error::Unavailable(m),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}
