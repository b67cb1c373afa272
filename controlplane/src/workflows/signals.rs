//! Signals from outside an execution (task tokens sent back, stops), as
//! they are stored for the node that drives it, and the task tokens that
//! name their execution.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A signal as stored for the node that drives its execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StoredSignal {
    /// A task token sent back with the task's output.
    TaskSuccess {
        /// The token.
        token: String,
        /// The task's result.
        output: Value,
    },
    /// A task token sent back with an error.
    TaskFailure {
        /// The token.
        token: String,
        /// The error name.
        error: String,
        /// The cause.
        cause: String,
    },
    /// A task that waits for its token is alive.
    TaskHeartbeat {
        /// The token.
        token: String,
    },
    /// Stop the execution.
    Stop {
        /// The error it ends with.
        error: String,
        /// The cause.
        cause: String,
    },
}

/// Reads a stored signal.
pub fn signal_from_json(text: &str) -> Result<StoredSignal, serde_json::Error> {
    serde_json::from_str(text)
}

/// The execution id a task token names.
pub fn token_execution(token: &str) -> Option<&str> {
    token
        .split_once('.')
        .map(|(id, _)| id)
        .filter(|id| !id.is_empty())
}
