//! What rules deliver to. Functions: the delivery's input goes to the
//! function's `handler` world, the event id is the invocation's trace id
//! (so its log lines carry it), and the guest can read the delivery
//! (idempotency key, attempt) through the `events` interface; the
//! delivery's hops go with it, so events the function publishes continue
//! its chain. Workflows: the delivery starts one execution, named after
//! its idempotency key so that a retried or replayed delivery starts none
//! again, with the input as the execution's; its status events continue
//! the chain.

use super::rules::Destination;
use super::{Delivery, TargetError, TargetInvoker};
use crate::services::functions::{FunctionError, FunctionService, Input, Trigger};
use crate::services::workflows::{WorkflowError, WorkflowService};
use minicloud_runtime::caps::backend::DeliveryInfo;
use sha2::Digest;
use std::sync::Arc;
use std::time::Duration;

/// Runs the targets of the rule's project: its functions and workflows.
#[derive(Debug)]
pub struct RuleTargets {
    functions: Arc<FunctionService>,
    workflows: WorkflowService,
}

impl RuleTargets {
    /// Targets run by `functions` and `workflows`.
    pub fn new(functions: Arc<FunctionService>, workflows: WorkflowService) -> Self {
        Self { functions, workflows }
    }

    async fn function(&self, delivery: &Delivery<'_>, name: &str, input: String) -> Result<(), TargetError> {
        let trigger = Trigger {
            // An event has no principal behind it.
            caller: None,
            trace_id: delivery.event_id.into(),
            delivery: Some(Arc::new(DeliveryInfo {
                event_id: delivery.event_id.to_owned(),
                rule: delivery.rule.to_owned(),
                target: delivery.target.id.clone(),
                idempotency_key: delivery.idempotency_key.to_owned(),
                attempt: delivery.attempt,
                source: delivery.source.to_owned(),
                function: name.to_owned(),
                hops: delivery.hops,
            })),
            task: None,
        };
        let outcome = match self.functions.target(delivery.project, name).await {
            Ok(target) => self.functions.invoke(&target, Input::Json(input), trigger).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(_) => Ok(()),
            // A busy function is tried again later, without spending an
            // attempt.
            Err(FunctionError::Refused(r)) => {
                let t = r.into_throttled();
                Err(TargetError::Throttled(Duration::from_millis(
                    t.retry_after_secs.max(1) * 200,
                )))
            }
            Err(e) => Err(TargetError::Failed(e.to_string())),
        }
    }

    async fn workflow(&self, delivery: &Delivery<'_>, name: &str, input: String) -> Result<(), TargetError> {
        let workflow = self
            .workflows
            .workflow(delivery.project, name)
            .await
            .map_err(|e| TargetError::Failed(e.to_string()))?;
        let input: serde_json::Value = serde_json::from_str(&input)
            .map_err(|e| TargetError::Failed(format!("the delivery's input is not JSON: {e}")))?;
        // Execution names allow no '/': the key's digest stands for it.
        let digest = hex::encode(sha2::Sha256::digest(delivery.idempotency_key.as_bytes()));
        let execution = format!("event-{}", &digest[..40]);
        let started = self
            .workflows
            .start(
                delivery.project,
                &workflow,
                Some(&execution),
                &input,
                i64::from(delivery.hops),
            )
            .await;
        match started {
            Ok(_) => Ok(()),
            Err(WorkflowError::TooManyOpen) => Err(TargetError::Throttled(Duration::from_secs(1))),
            Err(e) => Err(TargetError::Failed(e.to_string())),
        }
    }
}

#[async_trait::async_trait]
impl TargetInvoker for RuleTargets {
    async fn invoke(&self, delivery: &Delivery<'_>, input: String) -> Result<(), TargetError> {
        match &delivery.target.destination {
            Destination::Function(name) => self.function(delivery, name, input).await,
            Destination::Workflow(name) => self.workflow(delivery, name, input).await,
        }
    }
}
