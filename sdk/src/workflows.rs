//! Workflows: read which task of a workflow execution this invocation
//! runs, when a Task state invoked it, and start executions.
//!
//! A task may run more than once (a retry, or a run repeated after a
//! crash); its idempotency key is the same every time, so side effects
//! recorded under it are safe to repeat. Fail a task with a name its
//! workflow can retry or catch with [`Error::named`](crate::Error::named).
//!
//! ```no_run
//! use minicloud_sdk::workflows;
//!
//! # fn f() -> minicloud_sdk::Result<()> {
//! if let Some(task) = workflows::current_task() {
//!     // The same key for every retry of this state entry.
//!     let key = format!("charged/{}", task.idempotency_key);
//!     let store = minicloud_sdk::kv::Store::open("payments")?;
//!     if !store.exists(&key)? {
//!         // ... charge once, then remember it ...
//!         store.set(&key, b"done")?;
//!     }
//! }
//! # Ok(()) }
//! ```

use crate::bindings::minicloud::platform::workflows as wit;

pub use wit::Task;

/// Starts an execution of `workflow` (a workflow of this function's
/// project) with `input`; with a `name`, the same name and input start
/// one execution however often this is called. Returns the execution's
/// id. The execution role needs `workflows:StartExecution` on
/// `workflow/<workflow>` (`AccessDenied` otherwise).
///
/// ```no_run
/// # fn f() -> minicloud_sdk::Result<()> {
/// let id = minicloud_sdk::workflows::start_execution(
///     "orders",
///     &serde_json::json!({"order": 17}),
///     Some("order-17"),
/// )?;
/// # let _ = id;
/// # Ok(()) }
/// ```
pub fn start_execution<T: serde::Serialize>(workflow: &str, input: &T, name: Option<&str>) -> crate::Result<String> {
    let input = serde_json::to_string(input).unwrap_or_default();
    Ok(wit::start_execution(workflow, &input, name)?)
}

/// The task this invocation runs (execution, workflow, state, retry count,
/// token and idempotency key); `None` when it is not a workflow task.
pub fn current_task() -> Option<Task> {
    wit::current_task()
}
