//! The services behind the host interfaces functions import, and the
//! assembly of each loaded function's [`Capabilities`].
//!
//! - [`objects`]: object storage (buckets and objects), for the REST API
//!   and for functions.
//! - [`kv`]: the key-value store on the platform's database.
//! - [`secrets`]: the master key and sealed secrets.
//! - [`grants`]: a function's execution role, compiled.
//! - [`events`]: functions' `events.publish`.
//! - [`workflows`]: functions' `workflows.start-execution`.
//! - [`identity`]: who called an invocation, and a judge of its policies.

pub mod events;
pub mod grants;
pub mod identity;
pub mod kv;
pub mod objects;
pub mod secrets;
pub mod workflows;

use crate::store::Store;
use crate::store::functions::FunctionRow;
use crate::store::projects::Project;
use minicloud_runtime::caps::backend::{
    Backends, DenialSink, EventsBackend, Grants, KvBackend, NoGrants, SecretsBackend, StorageBackend,
    WorkflowsBackend,
};
use minicloud_runtime::caps::net::NetworkPolicy;
use minicloud_runtime::{Capabilities, Scope};
use std::sync::Arc;

/// What every function's capabilities are built from.
#[derive(Debug, Clone)]
pub struct Services {
    /// The database.
    pub store: Store,
    /// Object storage.
    pub objects: objects::ObjectService,
    /// The master key.
    pub keyring: secrets::Keyring,
    /// The event bus (open before any function loads).
    pub bus: crate::events::bus::EventBus,
    /// The addresses functions' outbound HTTP may reach
    /// (`--outbound-allow-cidr`), whatever their roles grant.
    pub network: Arc<NetworkPolicy>,
}

impl Services {
    /// The capabilities of `row`, a function of `project`, acting with
    /// `grants` and reporting refusals to `denials`.
    pub fn capabilities(
        &self,
        project: &Project,
        row: &FunctionRow,
        grants: Option<Arc<dyn Grants>>,
        denials: Arc<dyn DenialSink>,
    ) -> Capabilities {
        let scope = self.store.in_project(project);
        Capabilities {
            scope: Scope {
                org: project.org_name.clone(),
                project: project.name.clone(),
            },
            grants: grants.unwrap_or_else(|| Arc::new(NoGrants)),
            denials,
            backends: Backends::default()
                .with::<dyn StorageBackend>(Arc::new(self.objects.project(project)))
                .with::<dyn KvBackend>(Arc::new(kv::ProjectKv::new(scope.clone())))
                .with::<dyn SecretsBackend>(Arc::new(secrets::ProjectSecrets::new(
                    scope,
                    self.keyring.clone(),
                )))
                .with::<dyn EventsBackend>(Arc::new(events::ProjectEvents::new(
                    self.bus.clone(),
                    project.clone(),
                )))
                .with::<dyn WorkflowsBackend>(Arc::new(workflows::ProjectWorkflows::new(
                    self.store.in_project(project),
                ))),
            config: row
                .settings
                .config
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            limits: row.settings.host_limits,
            network: self.network.clone(),
        }
    }
}
