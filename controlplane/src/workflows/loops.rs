//! The engine's background work: claiming executions whose lease ran out
//! (their node died, or gave them back as it stopped), keeping this node's
//! leases, and handing signals stored for its executions to their actors.

use super::actor::Incoming;
use super::signals::signal_from_json;
use super::{EngineError, LEASE, Message, WorkflowEngine, lock};
use crate::store::workflows::executions::ExecutionRow;
use crate::store::workflows::journal::{Append, Ending};
use crate::util::now_ms;
use std::time::Duration;

/// How often unleased executions are looked for.
const CLAIM_EVERY: Duration = Duration::from_millis(1_000);
/// How often stored signals are looked for (a signal sent on this node
/// wakes the poller at once).
const SIGNALS_EVERY: Duration = Duration::from_millis(250);

impl WorkflowEngine {
    pub(super) fn spawn_loops(&self) {
        tokio::spawn(self.clone().claim_loop());
        tokio::spawn(self.clone().lease_loop());
        tokio::spawn(self.clone().signal_loop());
    }

    async fn claim_loop(self) {
        self.inner.store.until_started().await;
        loop {
            let claimed = self
                .inner
                .store
                .claim_executions(&self.inner.node, self.lease_until(), 100)
                .await;
            let full = match claimed {
                Ok(rows) => {
                    let full = rows.len() == 100;
                    for row in rows {
                        self.take_claimed(row).await;
                    }
                    full
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim workflow executions");
                    false
                }
            };
            if !full {
                let _ = tokio::time::timeout(CLAIM_EVERY, self.inner.wake_claims.notified()).await;
            }
        }
    }

    /// Drives a claimed execution; one whose definition or journal no
    /// longer reads fails with `States.Runtime` rather than staying
    /// claimed and stuck.
    async fn take_claimed(&self, row: ExecutionRow) {
        let (id, from) = (row.id.clone(), row.events);
        match self.take(row, Vec::new(), None).await {
            Ok(()) => {}
            // `take` leaves a newer engine's execution itself.
            Err(e @ (EngineError::Store(_) | EngineError::Newer(..))) => {
                tracing::warn!(execution = %id, error = %e, "cannot resume execution; it will be claimed again");
                let _ = self.inner.store.release_execution(&id, &self.inner.node).await;
            }
            Err(EngineError::Corrupt(_, why)) => {
                tracing::error!(execution = %id, %why, "execution cannot resume: failed");
                let end = Append {
                    execution_id: id,
                    from,
                    events: Vec::new(),
                    end: Some(Ending {
                        status: "FAILED",
                        output: None,
                        error: Some(minicloud_asl::errors::RUNTIME.into()),
                        cause: Some(why),
                        at_ms: now_ms(),
                        tokens: true,
                    }),
                    signals: Vec::new(),
                    outbox: Vec::new(),
                    tokens_opened: Vec::new(),
                    // Its tokens go with its end.
                    tokens_closed: Vec::new(),
                };
                let _ = self.inner.journal.append(end).await;
            }
        }
    }

    async fn lease_loop(self) {
        loop {
            tokio::time::sleep(LEASE / 3).await;
            if let Err(e) = self
                .inner
                .store
                .renew_execution_leases(&self.inner.node, self.lease_until())
                .await
            {
                tracing::warn!(error = %e, "cannot renew workflow execution leases");
            }
        }
    }

    async fn signal_loop(self) {
        loop {
            let _ = tokio::time::timeout(SIGNALS_EVERY, self.inner.wake_signals.notified()).await;
            let signals = match self.inner.store.signals_for(&self.inner.node).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read workflow signals");
                    continue;
                }
            };
            for s in signals {
                if lock(&self.inner.taken).contains(&s.id) {
                    continue;
                }
                let Ok(signal) = signal_from_json(&s.signal) else {
                    tracing::error!(signal = %s.id, "a stored workflow signal does not read");
                    continue;
                };
                lock(&self.inner.taken).insert(s.id.clone());
                let message = Message {
                    signal: Incoming::Stored(signal),
                    stored: Some(s.id.clone()),
                };
                if !self.deliver(&s.execution_id, message) {
                    lock(&self.inner.taken).remove(&s.id);
                }
            }
        }
    }
}
