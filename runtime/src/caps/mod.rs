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
//! - `keyvalue`: `wasi:keyvalue` store and atomics.
//! - `storage`: `minicloud:platform/storage`, streaming both ways.
//! - `secrets`, `identity`, `events`: the platform's own interfaces.
//! - `config`, `logging`: `wasi:config` and `wasi:logging`.
//! - `outbound`: `wasi:http/outgoing-handler` to granted hosts only.
//! - [`net`]: the addresses outbound connections may reach (public ones
//!   unless the operator allows more), and the checked connection.

pub mod backend;
pub(crate) mod bindings;
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

use crate::logs::LogCapture;
use crate::state::InstanceState;
use backend::{
    BackendError, CallerAuthority, DeliveryInfo, DenialSink, EventsBackend, Grants, IgnoreDenials, KvBackend,
    NoGrants, SecretsBackend, StorageBackend,
};
pub(crate) use error::CapError;
use std::sync::Arc;
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
    /// Object storage, if the platform offers it.
    pub storage: Option<Arc<dyn StorageBackend>>,
    /// Key-value store, if offered.
    pub kv: Option<Arc<dyn KvBackend>>,
    /// Secrets, if offered.
    pub secrets: Option<Arc<dyn SecretsBackend>>,
    /// The event bus, if offered.
    pub events: Option<Arc<dyn EventsBackend>>,
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
            storage: None,
            kv: None,
            secrets: None,
            events: None,
            config: Arc::new([]),
            limits: HostLimits::default(),
            network: Arc::new(net::NetworkPolicy::public_only()),
        }
    }
}

/// The kind of principal behind an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallerKind {
    /// A user.
    User,
    /// An API key.
    ApiKey,
    /// Nobody authenticated.
    #[default]
    Anonymous,
}

/// Who called an invocation, and how to judge what they may do.
#[derive(Clone, Default)]
pub struct Caller {
    /// The kind.
    pub kind: CallerKind,
    /// User or key id.
    pub id: String,
    /// The user's name (the key's owner, for an API key).
    pub name: String,
    /// The principal's org, by name.
    pub org: String,
    /// The principal's resource name.
    pub mrn: String,
    /// Judges with the caller's policies; `None` allows nothing.
    pub authority: Option<Arc<dyn CallerAuthority>>,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("kind", &self.kind)
            .field("id", &self.id)
            .field("org", &self.org)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// Nobody (one shared value: the HTTP hot path makes no allocation).
    pub fn anonymous() -> Arc<Self> {
        static ANONYMOUS: std::sync::OnceLock<Arc<Caller>> = std::sync::OnceLock::new();
        ANONYMOUS.get_or_init(|| Arc::new(Self::default())).clone()
    }
}

/// What one invocation used so far.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Usage {
    host_calls: u64,
    outbound_requests: u64,
    bytes_read: u64,
    bytes_written: u64,
    denials: u64,
}

/// Refusals of one invocation that reach the [`DenialSink`] (the audit
/// log); the rest are only counted, so that a guest looping on a refused
/// call cannot flood the audit log.
pub const DENIALS_REPORTED_PER_INVOCATION: u64 = 16;

/// The per-instance capability state.
pub(crate) struct CapState {
    pub(crate) caps: Arc<Capabilities>,
    pub(crate) caller: Arc<Caller>,
    pub(crate) delivery: Option<Arc<DeliveryInfo>>,
    pub(crate) trace_id: Arc<str>,
    pub(crate) logs: LogCapture,
    usage: Usage,
    /// The invocation's CPU turn, given back at every capability call.
    turn: Option<crate::cpu::Turn>,
}

impl CapState {
    pub(crate) fn new(
        caps: Arc<Capabilities>,
        caller: Arc<Caller>,
        delivery: Option<Arc<DeliveryInfo>>,
        trace_id: Arc<str>,
        logs: LogCapture,
    ) -> Self {
        Self {
            caps,
            caller,
            delivery,
            trace_id,
            logs,
            usage: Usage::default(),
            turn: None,
        }
    }

    /// Gives the invocation's CPU turn back at each capability call (they
    /// may wait for I/O).
    pub(crate) fn with_turn(mut self, turn: Option<crate::cpu::Turn>) -> Self {
        self.turn = turn;
        self
    }

    fn may_wait(&self) {
        if let Some(turn) = &self.turn {
            turn.give_back();
        }
    }

    /// Counts one host call and checks the grants for `action` on the
    /// resource `path` of `service` in the function's project.
    pub(crate) fn check(&mut self, service: &str, action: &str, path: &str) -> Result<(), CapError> {
        self.count_call()?;
        let resource = self.caps.scope.mrn(service, path);
        if self.caps.grants.allows(action, &resource) {
            Ok(())
        } else {
            metrics::counter!("minicloud_capability_denied_total", "action" => action.to_owned())
                .increment(1);
            self.usage.denials += 1;
            if self.usage.denials <= DENIALS_REPORTED_PER_INVOCATION {
                self.caps.denials.denied(action, &resource, &self.trace_id);
            }
            Err(CapError::Denied(format!(
                "the function's execution role does not allow {action} on {resource}"
            )))
        }
    }

    pub(crate) fn count_call(&mut self) -> Result<(), CapError> {
        self.may_wait();
        self.usage.host_calls += 1;
        let cap = self.caps.limits.host_calls;
        if self.usage.host_calls > cap {
            return Err(CapError::Limit(format!(
                "this invocation made more than {cap} platform calls"
            )));
        }
        Ok(())
    }

    pub(crate) fn count_outbound(&mut self) -> Result<(), CapError> {
        self.may_wait();
        self.usage.outbound_requests += 1;
        let cap = self.caps.limits.outbound_requests;
        if self.usage.outbound_requests > cap {
            return Err(CapError::Limit(format!(
                "this invocation made more than {cap} outbound HTTP requests"
            )));
        }
        Ok(())
    }

    /// Records `n` bytes read; refuses when that passes the cap.
    pub(crate) fn count_read(&mut self, n: u64) -> Result<(), CapError> {
        self.usage.bytes_read += n;
        let cap = self.caps.limits.bytes_read;
        if self.usage.bytes_read > cap {
            return Err(CapError::Limit(format!(
                "this invocation read more than {cap} bytes from the platform"
            )));
        }
        Ok(())
    }

    /// Records `n` bytes written; refuses when that passes the cap.
    pub(crate) fn count_written(&mut self, n: u64) -> Result<(), CapError> {
        self.usage.bytes_written += n;
        let cap = self.caps.limits.bytes_written;
        if self.usage.bytes_written > cap {
            return Err(CapError::Limit(format!(
                "this invocation wrote more than {cap} bytes to the platform"
            )));
        }
        Ok(())
    }

    /// What is left of the write cap, for an upload stream.
    pub(crate) fn write_budget(&self) -> u64 {
        self.caps
            .limits
            .bytes_written
            .saturating_sub(self.usage.bytes_written)
    }

    pub(crate) fn storage(&self) -> Result<Arc<dyn StorageBackend>, CapError> {
        configured(&self.caps.storage, "object storage is")
    }

    pub(crate) fn kv(&self) -> Result<Arc<dyn KvBackend>, CapError> {
        configured(&self.caps.kv, "the key-value store is")
    }

    pub(crate) fn secrets(&self) -> Result<Arc<dyn SecretsBackend>, CapError> {
        configured(&self.caps.secrets, "secrets are")
    }

    pub(crate) fn events(&self) -> Result<Arc<dyn EventsBackend>, CapError> {
        configured(&self.caps.events, "events are")
    }
}

/// A backend the platform may not offer: `unavailable` when it does not.
fn configured<B: ?Sized>(backend: &Option<Arc<B>>, what: &str) -> Result<Arc<B>, CapError> {
    backend.clone().ok_or_else(|| {
        CapError::Backend(BackendError::Unavailable(format!(
            "{what} not configured on this platform"
        )))
    })
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
