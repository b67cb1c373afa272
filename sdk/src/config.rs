//! The function's own settings (`wasi:config`), set with
//! `PATCH .../functions/{name}` and `{"config": {...}}`.
//!
//! ```no_run
//! let greeting = minicloud_sdk::config::get("greeting").unwrap_or_else(|| "Hello".into());
//! ```

use crate::bindings::wasi::config::store;

/// One setting, if set.
pub fn get(key: &str) -> Option<String> {
    store::get(key).ok().flatten()
}

/// Every setting.
pub fn all() -> Vec<(String, String)> {
    store::get_all().unwrap_or_default()
}
