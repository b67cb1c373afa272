//! The project's secrets. Each read is checked against the function's
//! execution role (`secrets:GetSecretValue` on `secret/<name>`) and audited
//! when refused.
//!
//! ```no_run
//! # fn f() -> minicloud_sdk::Result<()> {
//! let token = minicloud_sdk::secrets::get("webhook-token")?;
//! # Ok(()) }
//! ```

use crate::Result;
use crate::bindings::minicloud::platform::secrets;

/// The current value of the secret `name`.
pub fn get(name: &str) -> Result<String> {
    Ok(secrets::get(name)?)
}
