//! The host interfaces a function may import, each checked against the
//! function's grants on every call.
//!
//! Every capability has the same shape: the control plane builds one
//! [`Capabilities`] per loaded function (its grants, the project-scoped
//! backends, its settings and caps), each invocation gets a [`CapState`]
//! holding that plus who called and what was used so far, and each host call
//! goes through [`CapState::check`] before it touches a backend. A refusal is
//! the guest-visible `access-denied` value, counted and reported; never a
//! trap.
//!
//! - [`backend`]: the traits the control plane implements.
//! - `bindings`: the host bindings of the platform's WIT, generated once.
//! - `error`: why a call did not go ahead, and the guest's error value it
//!   becomes, shared by every capability.
//! - `caller`: who called an invocation ([`Caller`]).
//! - `usage`: the per-instance state ([`CapState`]): its counters and the
//!   check every host call goes through.
//! - `keyvalue`: `wasi:keyvalue` store and atomics.
//! - `storage`: `minicloud:platform/storage`, streaming both ways.
//! - `secrets`, `identity`, `events`, `workflows`: the platform's own
//!   interfaces.
//! - `config`, `logging`: `wasi:config` and `wasi:logging`.
//! - `outbound`: `wasi:http/outgoing-handler` to granted hosts only.
//! - [`net`]: the addresses outbound connections may reach (public ones
//!   unless the operator allows more), and the checked connection.

pub mod backend;
pub(crate) mod bindings;
mod caller;
mod config;
mod error;
mod events;
mod identity;
mod keyvalue;
mod logging;
pub mod net;
pub(crate) mod outbound;
mod secrets;
mod storage;
mod usage;
mod workflows;

use crate::logs::LogCapture;
use crate::state::InstanceState;
use backend::{BackendError, Backends, DeliveryInfo, DenialSink, Grants, IgnoreDenials, NoGrants, TaskInfo};
pub use caller::{Caller, CallerKind};
pub(crate) use error::CapError;
use std::sync::Arc;
pub(crate) use usage::CapState;
pub use usage::DENIALS_REPORTED_PER_INVOCATION;
use wasmtime::component::{HasSelf, Linker};

/// Per-invocation caps on the use of host interfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct HostLimits {
    /// Calls into platform interfaces (storage, key-value, secrets,
    /// identity, outbound HTTP).
    pub host_calls: u64,
    /// Outbound HTTP requests.
    pub outbound_requests: u64,
    /// Bytes read from storage, key-value and secrets.
    pub bytes_read: u64,
    /// Bytes written to storage and key-value.
    pub bytes_written: u64,
}

impl Default for HostLimits {
    fn default() -> Self {
        Self {
            host_calls: 10_000,
            outbound_requests: 50,
            bytes_read: 1 << 30,
            bytes_written: 1 << 30,
        }
    }
}

/// The project a function belongs to, for the resource names it acts on.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The org's name (resource names carry names, not ids).
    pub org: String,
    /// The project's name.
    pub project: String,
}

impl Scope {
    /// `mrn:<service>:<org>:<project>:<path>`.
    pub fn mrn(&self, service: &str, path: &str) -> String {
        format!("mrn:{service}:{}:{}:{path}", self.org, self.project)
    }
}

/// Everything a loaded function's instances may use. Built by the control
/// plane once per deployment or policy change, shared by every invocation.
#[derive(Clone)]
pub struct Capabilities {
    /// Where the function lives.
    pub scope: Scope,
    /// What its execution role allows.
    pub grants: Arc<dyn Grants>,
    /// Where refusals go.
    pub denials: Arc<dyn DenialSink>,
    /// The backends the platform offers (object storage, key-value,
    /// secrets, events), each found by its trait.
    pub backends: Backends,
    /// The plain settings `wasi:config` serves.
    pub config: Arc<[(String, String)]>,
    /// Caps per invocation.
    pub limits: HostLimits,
    /// The addresses outbound HTTP may reach, whatever the role grants.
    pub network: Arc<net::NetworkPolicy>,
}

impl std::fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capabilities")
            .field("scope", &self.scope)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Default for Capabilities {
    /// Nothing granted and no backends: every platform call fails cleanly;
    /// outbound connections reach public addresses only.
    fn default() -> Self {
        Self {
            scope: Scope::default(),
            grants: Arc::new(NoGrants),
            denials: Arc::new(IgnoreDenials),
            backends: Backends::default(),
            config: Arc::new([]),
            limits: HostLimits::default(),
            network: Arc::new(net::NetworkPolicy::public_only()),
        }
    }
}

/// Adds every platform interface to the linker.
pub(crate) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    type Me = HasSelf<InstanceState>;
    fn me(s: &mut InstanceState) -> &mut InstanceState {
        s
    }
    bindings::types::add_to_linker::<_, Me>(linker, me)?;
    bindings::storage::add_to_linker::<_, Me>(linker, me)?;
    bindings::secrets::add_to_linker::<_, Me>(linker, me)?;
    bindings::identity::add_to_linker::<_, Me>(linker, me)?;
    bindings::events::add_to_linker::<_, Me>(linker, me)?;
    bindings::workflows::add_to_linker::<_, Me>(linker, me)?;
    bindings::kv::add_to_linker::<_, Me>(linker, me)?;
    bindings::atomics::add_to_linker::<_, Me>(linker, me)?;
    bindings::config::add_to_linker::<_, Me>(linker, me)?;
    bindings::logging::add_to_linker::<_, Me>(linker, me)?;
    Ok(())
}

/// Names (bucket, secret, key-value store) follow the platform's one rule
/// (`crate::names`).
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), CapError> {
    if crate::names::valid_name(name) {
        Ok(())
    } else {
        Err(CapError::Backend(BackendError::Invalid(format!(
            "{what} name {name:?} must be {}",
            crate::names::NAME_RULE
        ))))
    }
}
