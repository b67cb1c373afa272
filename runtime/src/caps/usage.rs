//! What one invocation may use and has used: the per-instance capability
//! state, its counters, and the check every host call goes through.

use super::backend::Backend;
use super::*;

/// What one invocation used so far.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Usage {
    host_calls: u64,
    outbound_requests: u64,
    bytes_read: u64,
    bytes_written: u64,
    pub(super) denials: u64,
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
    pub(crate) task: Option<Arc<TaskInfo>>,
    pub(crate) trace_id: Arc<str>,
    pub(crate) logs: LogCapture,
    pub(super) usage: Usage,
    /// The invocation's CPU turn, given back at every capability call.
    turn: Option<crate::cpu::Turn>,
}

impl CapState {
    pub(crate) fn new(
        caps: Arc<Capabilities>,
        caller: Arc<Caller>,
        delivery: Option<Arc<DeliveryInfo>>,
        task: Option<Arc<TaskInfo>>,
        trace_id: Arc<str>,
        logs: LogCapture,
    ) -> Self {
        Self {
            caps,
            caller,
            delivery,
            task,
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

    /// The capability's backend of trait `B`, or `unavailable` when the
    /// platform offers none.
    pub(crate) fn backend<B: Backend + ?Sized>(&self) -> Result<Arc<B>, CapError> {
        self.caps.backends.get::<B>()
    }
}
