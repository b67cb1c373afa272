//! Functions as targets: the delivery's input goes to the function's
//! `handler` world, the event id is the invocation's trace id (so its log
//! lines carry it), and the guest can read the delivery (idempotency key,
//! attempt) through the `events` interface.

use super::{Delivery, TargetError, TargetInvoker};
use crate::iam::Authorizer;
use crate::registry::Registry;
use crate::store::Store;
use crate::store::projects::Project;
use minicloud_runtime::InvocationContext;
use minicloud_runtime::caps::backend::DeliveryInfo;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Invokes functions of the rule's project.
pub struct FunctionTargets {
    registry: Arc<Registry>,
    store: Store,
    authorizer: Arc<Authorizer>,
    projects: RwLock<HashMap<String, Project>>,
}

impl std::fmt::Debug for FunctionTargets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionTargets").finish_non_exhaustive()
    }
}

impl FunctionTargets {
    /// Targets served by `registry`.
    pub fn new(registry: Arc<Registry>, store: Store, authorizer: Arc<Authorizer>) -> Self {
        Self {
            registry,
            store,
            authorizer,
            projects: RwLock::default(),
        }
    }

    async fn project(&self, id: &str) -> Result<Project, TargetError> {
        if let Some(p) = self.projects.read().unwrap_or_else(|e| e.into_inner()).get(id) {
            return Ok(p.clone());
        }
        let project = self
            .store
            .project_by_id(id)
            .await
            .map_err(|e| TargetError::Failed(e.to_string()))?
            .ok_or_else(|| TargetError::Failed(format!("project {id} no longer exists")))?;
        self.projects
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned(), project.clone());
        Ok(project)
    }
}

#[async_trait::async_trait]
impl TargetInvoker for FunctionTargets {
    async fn invoke(&self, delivery: &Delivery<'_>, input: String) -> Result<(), TargetError> {
        let project = self.project(delivery.project_id).await?;
        let name = &delivery.target.function;
        let loaded = self
            .registry
            .get(&project, name)
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
            caller: crate::capabilities::identity::caller(self.authorizer.clone(), self.store.clone(), None),
            delivery: Some(Arc::new(DeliveryInfo {
                event_id: delivery.event_id.to_owned(),
                rule: delivery.rule.to_owned(),
                target: delivery.target.id.clone(),
                idempotency_key: delivery.idempotency_key.to_owned(),
                attempt: delivery.attempt,
                source: delivery.source.to_owned(),
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
