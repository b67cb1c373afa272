//! `minicloud:platform/identity`: who called, and what their own policies
//! allow. Knowing who called needs no grant; `authorize` judges with the
//! caller's policies, not the function's.

use super::backend::BackendError;
use super::bindings::{identity, types};
use super::{CallerKind, CapError};
use crate::state::InstanceState;

impl identity::Host for InstanceState {
    async fn caller(&mut self) -> wasmtime::Result<identity::Principal> {
        let c = &self.caps.caller;
        Ok(identity::Principal {
            kind: match c.kind {
                CallerKind::User => identity::PrincipalKind::User,
                CallerKind::ApiKey => identity::PrincipalKind::ApiKey,
                CallerKind::Anonymous => identity::PrincipalKind::Anonymous,
            },
            id: c.id.clone(),
            name: c.name.clone(),
            org: c.org.clone(),
            mrn: c.mrn.clone(),
        })
    }

    async fn authorize(
        &mut self,
        action: String,
        resource: String,
    ) -> wasmtime::Result<Result<bool, types::Error>> {
        if let Err(e) = self.caps.count_call() {
            return Ok(Err(e.into()));
        }
        if action.len() > 128 || resource.len() > 2048 {
            return Ok(Err(CapError::Backend(BackendError::Invalid(
                "the action or resource name is too long".into(),
            ))
            .into()));
        }
        let Some(authority) = self.caps.caller.authority.clone() else {
            return Ok(Ok(false));
        };
        Ok(authority
            .authorize(&action, &resource)
            .await
            .map_err(|e| CapError::Backend(e).into()))
    }
}
