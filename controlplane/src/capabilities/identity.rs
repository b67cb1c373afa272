//! Who called an invocation, for the `identity` interface: the principal
//! and a judge of its own policies.

use crate::iam::{Authorizer, Caller, PrincipalKind, Target};
use crate::store::Store;
use minicloud_policy::Mrn;
use minicloud_runtime::caps::backend::{BackendError, CallerAuthority};
use minicloud_runtime::{CallerKind, caps};
use std::sync::Arc;

/// Judges actions with an API caller's policies.
struct PrincipalAuthority {
    authorizer: Arc<Authorizer>,
    store: Store,
    caller: Caller,
}

#[async_trait::async_trait]
impl CallerAuthority for PrincipalAuthority {
    async fn authorize(&self, action: &str, resource: &str) -> Result<bool, BackendError> {
        let mrn = Mrn::parse(resource)
            .map_err(|e| BackendError::Invalid(format!("{resource:?} is not a resource name: {e}")))?;
        let org = &self.caller.principal.org;
        // A principal's grants never reach another org.
        if mrn.org_name() != org.name {
            return Ok(false);
        }
        let project_id = if mrn.project_name().is_empty() {
            None
        } else {
            match self.store.project(mrn.project_name()).await {
                Ok(Some(p)) if p.org_id == org.id => Some(p.id),
                Ok(_) => return Ok(false),
                Err(e) => return Err(BackendError::Unavailable(e.to_string())),
            }
        };
        let target = Target {
            mrn,
            org_id: org.id.clone(),
            project_id,
            tags: Default::default(),
        };
        match self.authorizer.check(&self.caller, action, &target).await {
            Ok(()) => Ok(true),
            Err(crate::iam::AuthzError::Denied(_)) => Ok(false),
            Err(e) => Err(BackendError::Unavailable(e.to_string())),
        }
    }
}

/// The invocation's caller as the runtime sees it.
pub fn caller(authorizer: Arc<Authorizer>, store: Store, caller: Option<Caller>) -> Arc<caps::Caller> {
    let Some(c) = caller else {
        return caps::Caller::anonymous();
    };
    let p = &c.principal;
    let (kind, kind_path) = match p.kind {
        PrincipalKind::User => (CallerKind::User, format!("user/{}", p.user_name)),
        PrincipalKind::ApiKey => (CallerKind::ApiKey, format!("key/{}", p.id)),
    };
    Arc::new(caps::Caller {
        kind,
        id: p.id.clone(),
        name: p.user_name.clone(),
        org: p.org.name.clone(),
        mrn: Mrn::org("iam", &p.org.name, kind_path).to_string(),
        authority: Some(Arc::new(PrincipalAuthority {
            authorizer,
            store,
            caller: c.clone(),
        })),
    })
}
