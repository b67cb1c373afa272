//! Functions' `workflows.start-execution`: the execution is stored
//! unleased, in the project's scope, and whichever node's claimer polls
//! first starts it (within a second). Storing it is the whole promise: the
//! call needs nothing else of the engine, so functions and the engine do
//! not depend on each other.

use crate::services::workflows::{WorkflowError, store_execution};
use crate::store::projects::ProjectScope;
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

#[async_trait::async_trait]
impl WorkflowsBackend for ProjectWorkflows {
    async fn start_execution(
        &self,
        workflow: &str,
        input: &str,
        name: Option<&str>,
        cause: Option<&DeliveryInfo>,
    ) -> Result<String, BackendError> {
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
            .map_err(|e| BackendError::Unavailable(e.to_string()))?
            .ok_or_else(|| BackendError::NotFound(format!("workflow {workflow:?}")))?;
        // The execution continues the chain of the delivery the function
        // handles, as the events it publishes would. Unleased: the first
        // node to poll starts it.
        let hops = cause.map_or(0, |d| i64::from(d.hops.saturating_add(1)));
        let (execution, _) = store_execution(&self.scope, &row, name, &input, hops, ("", 0))
            .await
            .map_err(|e| match e {
                WorkflowError::TooManyOpen => BackendError::QuotaExceeded(e.to_string()),
                WorkflowError::Store(s) => BackendError::Unavailable(s.to_string()),
                other => BackendError::Invalid(other.to_string()),
            })?;
        Ok(execution.id)
    }
}
