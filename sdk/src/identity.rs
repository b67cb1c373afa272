//! Who called this invocation, and what their own policies allow.
//!
//! ```no_run
//! use minicloud_sdk::identity;
//!
//! # fn f() -> minicloud_sdk::Result<()> {
//! let me = identity::caller();
//! if identity::authorize("reports:Read", "mrn:reports:acme:shop:report/q3")? {
//!     // ...
//! }
//! # Ok(()) }
//! ```

use crate::Result;
use crate::bindings::minicloud::platform::identity;

pub use identity::{Principal, PrincipalKind};

/// The principal behind the invocation (`PrincipalKind::Anonymous` for
/// public routes).
pub fn caller() -> Principal {
    identity::caller()
}

/// Whether the caller's policies allow `action` on `resource` (an
/// `mrn:`), judged by the platform's IAM engine.
pub fn authorize(action: &str, resource: &str) -> Result<bool> {
    Ok(identity::authorize(action, resource)?)
}
