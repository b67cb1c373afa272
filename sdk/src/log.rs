//! Leveled log lines (`wasi:logging`), stored with the invocation's logs.
//!
//! ```no_run
//! minicloud_sdk::log::info("processed 3 files");
//! ```

use crate::bindings::wasi::logging::logging::{Level, log};

/// A debug line.
pub fn debug(message: &str) {
    log(Level::Debug, "", message);
}

/// An info line.
pub fn info(message: &str) {
    log(Level::Info, "", message);
}

/// A warning.
pub fn warn(message: &str) {
    log(Level::Warn, "", message);
}

/// An error line.
pub fn error(message: &str) {
    log(Level::Error, "", message);
}
