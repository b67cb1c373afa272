//! `minicloud:platform/workflows`: the task being run. It needs no grant:
//! a function may always know what it was invoked for.

use super::bindings::workflows;
use crate::state::InstanceState;

impl workflows::Host for InstanceState {
    async fn current_task(&mut self) -> wasmtime::Result<Option<workflows::Task>> {
        Ok(self.caps.task.as_deref().map(|t| workflows::Task {
            execution_id: t.execution_id.clone(),
            workflow: t.workflow.clone(),
            state: t.state.clone(),
            retry_count: t.retry_count,
            token: t.token.clone(),
            idempotency_key: t.idempotency_key.clone(),
        }))
    }
}
