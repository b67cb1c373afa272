//! Functions as targets: the delivery's input goes to the function's
//! `handler` world, the event id is the invocation's trace id (so its log
//! lines carry it), and the guest can read the delivery (idempotency key,
//! attempt) through the `events` interface. The delivery's hops go with it,
//! so events the function publishes continue its chain.

use super::{Delivery, TargetError, TargetInvoker};
use crate::registry::Registry;
use minicloud_runtime::caps::backend::DeliveryInfo;
use minicloud_runtime::{Caller, InvocationContext};
use std::sync::Arc;
use std::time::Duration;

/// Invokes functions of the rule's project.
#[derive(Debug)]
pub struct FunctionTargets {
    registry: Arc<Registry>,
}

impl FunctionTargets {
    /// Targets served by `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }
}

#[async_trait::async_trait]
impl TargetInvoker for FunctionTargets {
    async fn invoke(&self, delivery: &Delivery<'_>, input: String) -> Result<(), TargetError> {
        let project = delivery.project;
        let name = &delivery.target.function;
        let loaded = self
            .registry
            .get(project, name)
            .await
            .map_err(|e| TargetError::Failed(e.to_string()))?
            .ok_or_else(|| {
                TargetError::Failed(format!(
                    "function {name:?} does not exist in project {:?}",
                    project.name
                ))
            })?;
        let permit =
            loaded.gate.enter().await.map_err(|t| {
                TargetError::Throttled(Duration::from_millis(t.retry_after_secs.max(1) * 200))
            })?;
        let ctx = InvocationContext {
            invocation_id: crate::util::new_id(),
            trace_id: delivery.event_id.to_owned(),
            sink: loaded.sink.clone(),
            // An event has no principal behind it.
            caller: Caller::anonymous(),
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
        loaded
            .function
            .invoke_json(input, ctx, permit)
            .await
            .map(drop)
            .map_err(|e| TargetError::Failed(e.to_string()))
    }
}
