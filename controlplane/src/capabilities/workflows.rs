//! Functions' `workflows.start-execution`: the execution is stored
//! unleased, in the project's scope, and whichever node's claimer polls
//! first starts it (within a second). Storing it is the whole promise: the
//! call needs nothing else of the engine, so functions and the engine do
//! not depend on each other.

use crate::services::workflows::{MAX_OPEN_EXECUTIONS, check_execution_name};
use crate::store::projects::ProjectScope;
use crate::store::workflows::executions::NewExecution;
use minicloud_asl::machine::MAX_PAYLOAD;
use minicloud_runtime::caps::backend::{BackendError, DeliveryInfo, WorkflowsBackend};

/// `workflows.start-execution` of one project's functions.
#[derive(Debug, Clone)]
pub struct ProjectWorkflows {
    scope: ProjectScope,
}

impl ProjectWorkflows {
    /// The starter of `scope`'s workflows.
    pub fn new(scope: ProjectScope) -> Self {
        Self { scope }
    }
}

fn unavailable(e: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(e.to_string())
}

#[async_trait::async_trait]
impl WorkflowsBackend for ProjectWorkflows {
    async fn start_execution(
        &self,
        workflow: &str,
        input: &str,
        name: Option<&str>,
        cause: Option<&DeliveryInfo>,
    ) -> Result<String, BackendError> {
        if input.len() > MAX_PAYLOAD {
            return Err(BackendError::Invalid(format!(
                "the input is {} bytes, more than the limit of {MAX_PAYLOAD}",
                input.len()
            )));
        }
        let input: serde_json::Value = if input.trim().is_empty() {
            serde_json::json!({})
        } else {
            serde_json::from_str(input)
                .map_err(|e| BackendError::Invalid(format!("the input is not JSON: {e}")))?
        };
        let row = self
            .scope
            .workflow(workflow)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| BackendError::NotFound(format!("workflow {workflow:?}")))?;
        let fresh = crate::util::new_id();
        let name = name.unwrap_or(&fresh);
        check_execution_name(name).map_err(|e| BackendError::Invalid(e.to_string()))?;
        if self.scope.running_executions().await.map_err(unavailable)? >= MAX_OPEN_EXECUTIONS {
            return Err(BackendError::QuotaExceeded(format!(
                "the project has {MAX_OPEN_EXECUTIONS} executions running, its limit"
            )));
        }
        let new = NewExecution {
            workflow_id: &row.id,
            workflow: &row.name,
            version: row.version,
            name,
            input: &input,
            role: &row.role,
            // The execution continues the chain of the delivery the
            // function handles, as the events it publishes would.
            hops: cause.map_or(0, |d| i64::from(d.hops.saturating_add(1))),
        };
        // Unleased: the first node to poll starts it.
        let (execution, created) = self
            .scope
            .insert_execution(new, "", 0)
            .await
            .map_err(unavailable)?;
        if !created && execution.input != input {
            return Err(BackendError::Invalid(format!(
                "execution {name:?} already exists with another input"
            )));
        }
        Ok(execution.id)
    }
}
