//! Parking: an execution that waits idle (for a token, a long Wait or a
//! retry's interval) with no task running holds memory for nothing; its
//! journal says all there is. The actor gives its lease back with the
//! time its first timer is due as the lease's end, and stops: the claim
//! loop of any node takes it back just before then, or at once when a
//! signal (a token, a stop) is stored for it.

use super::actor::Actor;
use super::lock;
use chrono::Utc;
use minicloud_asl::machine::Command;

/// A parked execution is taken back this long before its first timer, so
/// that the timer fires on time.
const WAKE_EARLY_MS: i64 = 2_000;

impl Actor {
    /// Parks the execution when nothing runs and no timer is due soon;
    /// `true` when it is parked and the actor must stop.
    pub(super) async fn park(&mut self) -> bool {
        if self.in_flight > 0 {
            return false;
        }
        let first_timer = self
            .execution
            .outstanding()
            .into_iter()
            .filter_map(|c| match c {
                Command::Timer { at, .. } => Some(at.timestamp_millis()),
                Command::Invoke(_) => None,
            })
            .min();
        let idle_ms = i64::try_from(self.engine.inner.idle.as_millis()).unwrap_or(i64::MAX);
        let wake_ms = match first_timer {
            Some(at) if at - Utc::now().timestamp_millis() <= idle_ms + WAKE_EARLY_MS => return false,
            Some(at) => at - WAKE_EARLY_MS,
            // Only a signal wakes it.
            None => i64::MAX,
        };
        // Out of `running` first: once parked, a claim on this node must
        // start a new actor, not find this one, which is about to stop.
        let running = super::lock(&self.engine.inner.running).remove(&self.row.id);
        let parked = self
            .engine
            .inner
            .store
            .park_execution(&self.row.id, &self.engine.inner.node, self.row.events, wake_ms)
            .await;
        let kept = match parked {
            Ok(parked) => !parked,
            Err(e) => {
                tracing::warn!(execution = %self.row.id, error = %e, "cannot park the execution");
                true
            }
        };
        if kept {
            if let Some(running) = running {
                super::lock(&self.engine.inner.running).insert(self.row.id.clone(), running);
            }
            return false;
        }
        for timer in self.timers.drain(..) {
            timer.abort();
        }
        // Nothing stored can be in the queue (parking needs no signal to
        // wait), but what is there must not stay marked as taken.
        while let Ok(message) = self.messages.try_recv() {
            if let Some(s) = message.stored {
                lock(&self.engine.inner.taken).remove(&s);
            }
        }
        metrics::counter!("minicloud_workflow_executions_parked_total", "workflow" => self.row.workflow.clone())
            .increment(1);
        true
    }
}
