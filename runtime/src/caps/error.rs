//! Why a capability call did not go ahead, and the guest's error value it
//! becomes (`minicloud:platform/types.error`), shared by every capability.

use super::backend::BackendError;
use super::bindings::types;

/// Why a capability call did not go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CapError {
    /// The execution role does not allow it.
    Denied(String),
    /// A per-invocation cap is used up.
    Limit(String),
    /// The backend refused or failed.
    Backend(BackendError),
}

impl From<BackendError> for CapError {
    fn from(e: BackendError) -> Self {
        Self::Backend(e)
    }
}

impl From<CapError> for types::Error {
    fn from(e: CapError) -> Self {
        match e {
            CapError::Denied(m) => types::Error::AccessDenied(m),
            CapError::Limit(m) => types::Error::LimitExceeded(m),
            CapError::Backend(BackendError::NotFound(m)) => types::Error::NotFound(m),
            CapError::Backend(BackendError::Invalid(m)) => types::Error::Invalid(m),
            CapError::Backend(BackendError::QuotaExceeded(m)) => types::Error::LimitExceeded(m),
            CapError::Backend(BackendError::Unavailable(m)) => types::Error::Unavailable(m),
        }
    }
}
