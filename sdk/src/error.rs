//! What every platform call can fail with.

use crate::bindings::minicloud::platform::types;
use crate::bindings::wasi::keyvalue::store as kv;

/// A platform call's failure. Never a trap: handle it, or pass it on with
/// `?`.
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
