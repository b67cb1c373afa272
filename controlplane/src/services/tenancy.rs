//! The tenancy service: orgs and projects created, and deleted only when
//! empty, with what a deleted project frees (its domains) taken out of the
//! gateway's table at once. The default org, which holds the bootstrap
//! administrator, is never deleted.

use super::routes::{RouteService, RoutesError};
use crate::store::Store;
use crate::store::orgs::{Org, TenancyError};
use crate::store::projects::{DEFAULT_ORG_ID, Project};
use std::sync::Arc;

/// Why a tenancy change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum TenancyChangeError {
    /// Refused by the store: the name is taken or the org or project is
    /// not empty.
    #[error(transparent)]
    Refused(#[from] TenancyError),
    /// The default org cannot be deleted.
    #[error("the default org holds the bootstrap administrator and cannot be deleted")]
    Protected,
    /// The project is deleted, but the gateway's table could not be rebuilt.
    #[error(transparent)]
    Routes(#[from] RoutesError),
}

type Result<T, E = TenancyChangeError> = std::result::Result<T, E>;

/// Orgs and projects.
#[derive(Debug)]
pub struct TenancyService {
    store: Store,
    routes: Arc<RouteService>,
}

impl TenancyService {
    /// The service over `store`, keeping `routes` in step.
    pub fn new(store: Store, routes: Arc<RouteService>) -> Self {
        Self { store, routes }
    }

    /// Creates org `name` (a name the caller checked).
    pub async fn create_org(&self, name: &str) -> Result<Org> {
        Ok(self.store.create_org(name).await?)
    }

    /// Deletes `org`, which must hold no live project and not be the
    /// default org.
    pub async fn delete_org(&self, org: &Org) -> Result<()> {
        if org.id == DEFAULT_ORG_ID {
            return Err(TenancyChangeError::Protected);
        }
        Ok(self.store.delete_org(org).await?)
    }

    /// Creates project `name` (a name the caller checked) in `org`.
    pub async fn create_project(&self, org: &Org, name: &str) -> Result<Project> {
        Ok(self.store.create_project(org, name).await?)
    }

    /// Deletes `project`, which must hold no function or route; its
    /// domains are released and leave the gateway's table at once.
    pub async fn delete_project(&self, project: &Project) -> Result<()> {
        self.store.delete_project(project).await?;
        self.routes.project_deleted().await?;
        Ok(())
    }
}
