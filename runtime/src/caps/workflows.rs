//! `minicloud:platform/workflows`: the task being run, which needs no
//! grant (a function may always know what it was invoked for), and
//! starting an execution, which needs `workflows:StartExecution` on
//! `mrn:workflows:<org>:<project>:workflow/<name>`.

use super::CapError;
use super::backend::{BackendError, WorkflowsBackend};
use super::bindings::{types, workflows};
use crate::state::InstanceState;

impl InstanceState {
    async fn start(
        &mut self,
        workflow: String,
        input: String,
        name: Option<String>,
    ) -> Result<String, CapError> {
        if let Err(e) = super::check_name("workflow", &workflow) {
            self.caps.count_call()?;
            return Err(e);
        }
        self.caps.check(
            "workflows",
            "workflows:StartExecution",
            &format!("workflow/{workflow}"),
        )?;
        self.caps.count_written(input.len() as u64)?;
        let cause = self.caps.delivery.clone();
        self.caps
            .backend::<dyn WorkflowsBackend>()?
            .start_execution(&workflow, &input, name.as_deref(), cause.as_deref())
            .await
            .map_err(|e: BackendError| CapError::Backend(e))
    }
}

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

    async fn start_execution(
        &mut self,
        workflow: String,
        input: String,
        name: Option<String>,
    ) -> wasmtime::Result<Result<String, types::Error>> {
        Ok(self.start(workflow, input, name).await.map_err(Into::into))
    }
}
