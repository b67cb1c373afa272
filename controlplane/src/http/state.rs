//! The state every handler of the HTTP layer shares.

use crate::capabilities::Services;
use crate::config::ServeConfig;
use crate::iam::Authorizer;
use crate::iam::limits::RateLimiter;
use crate::iam::tokens::TokenIssuer;
use crate::services::events::EventService;
use crate::services::functions::FunctionService;
use crate::services::iam::IamService;
use crate::services::routes::RouteService;
use crate::services::secrets::SecretService;
use crate::services::tenancy::TenancyService;
use crate::services::workflows::WorkflowService;
use crate::store::Store;
use crate::store::projects::Project;
use metrics_exporter_prometheus::PrometheusHandle;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Projects by name (a project's name and id never change; a deleted one
/// is forgotten).
#[derive(Debug, Clone, Default)]
pub struct ProjectNames(Arc<RwLock<HashMap<String, Project>>>);

/// Everything handlers share, behind one `Arc`: every request's extractors
/// clone it, and a clone is one count, not one per service.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl From<Shared> for AppState {
    fn from(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    /// The database.
    pub store: Store,
    /// Functions: their life cycle, and the one way to invoke them.
    pub functions: Arc<FunctionService>,
    /// Changes to identities and permissions.
    pub iam: Arc<IamService>,
    /// Custom routes and domains, and the gateway's table of them.
    pub routes: Arc<RouteService>,
    /// Orgs and projects.
    pub tenancy: Arc<TenancyService>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// The settings the server started with.
    pub config: Arc<ServeConfig>,
    /// Judges every API action.
    pub authorizer: Arc<Authorizer>,
    /// Signs and verifies access tokens.
    pub tokens: Arc<TokenIssuer>,
    /// Rate limits per principal.
    pub limiter: Arc<RateLimiter>,
    /// Login attempt limits and bounded password checks.
    pub login: Arc<crate::iam::limits::LoginGuard>,
    /// Object storage, key-value, secrets.
    pub services: Services,
    /// Secrets: sealed values and their versions.
    pub secrets: SecretService,
    /// Events, rules and dead letters, over the durable bus and NATS.
    pub events: Arc<EventService>,
    /// Workflows and their executions.
    pub workflows: WorkflowService,
    /// The audit log's writer on this node (nodes race on the sequence
    /// number and retry).
    pub audit: crate::audit::AuditLog,
    /// Quotas of orgs and projects in force (defaults and overrides).
    pub quotas: Arc<crate::store::quotas::QuotaBook>,
    /// Requests a second of public triggers, per project and org.
    pub rates: Arc<crate::gate::RequestRates>,
    /// Projects by name, kept after their first lookup.
    pub projects: ProjectNames,
    /// The log streams open on this node, per principal.
    pub streams: Arc<crate::http::api::observe::OpenStreams>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// A project by name, from memory after the first lookup.
    pub async fn project(&self, name: &str) -> crate::store::Result<Option<Project>> {
        if let Some(p) = self
            .projects
            .0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(Some(p.clone()));
        }
        let found = self.store.project(name).await?;
        if let Some(p) = &found {
            let mut cache = self.projects.0.write().unwrap_or_else(|e| e.into_inner());
            cache.insert(name.to_owned(), p.clone());
        }
        Ok(found)
    }

    /// Drops a project from the name cache, after it was deleted.
    pub fn forget_project(&self, name: &str) {
        self.projects
            .0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }
}
