//! Functions as targets: the delivery's input goes to the function's
//! `handler` world, the event id is the invocation's trace id (so its log
//! lines carry it), and the guest can read the delivery (idempotency key,
//! attempt) through the `events` interface. The delivery's hops go with it,
//! so events the function publishes continue its chain.

use super::{Delivery, TargetError, TargetInvoker};
use crate::services::functions::{FunctionError, FunctionService, Input, Trigger};
use minicloud_runtime::caps::backend::DeliveryInfo;
use std::sync::Arc;
use std::time::Duration;

/// Invokes functions of the rule's project.
#[derive(Debug)]
pub struct FunctionTargets {
    functions: Arc<FunctionService>,
}

impl FunctionTargets {
    /// Targets run by `functions`.
    pub fn new(functions: Arc<FunctionService>) -> Self {
        Self { functions }
    }
}

#[async_trait::async_trait]
impl TargetInvoker for FunctionTargets {
    async fn invoke(&self, delivery: &Delivery<'_>, input: String) -> Result<(), TargetError> {
        let name = &delivery.target.function;
        let trigger = Trigger {
            // An event has no principal behind it.
            caller: None,
            trace_id: delivery.event_id.to_owned(),
            delivery: Some(Arc::new(DeliveryInfo {
                event_id: delivery.event_id.to_owned(),
                rule: delivery.rule.to_owned(),
                target: delivery.target.id.clone(),
                idempotency_key: delivery.idempotency_key.to_owned(),
                attempt: delivery.attempt,
                source: delivery.source.to_owned(),
                function: name.clone(),
                hops: delivery.hops,
            })),
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
}
