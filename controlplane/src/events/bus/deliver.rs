//! Running deliveries: those waiting for their targets ([`Undelivered`]),
//! the [`Deliverer`] that runs them, and each one's attempts on this node
//! until it succeeded, became a dead letter, or its rule or target went
//! away.

use super::{EventBus, Pending, Write};
use crate::events::rules::{Rule, Target};
use crate::events::transform::Context;
use crate::events::{Delivery, TargetError, TargetInvoker};
use crate::store::events::DeliveryRow;
use crate::util::now_ms;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;

/// An open bus's deliveries, waiting for their targets: see
/// [`EventBus::open`].
pub struct Undelivered {
    pub(super) bus: EventBus,
    pub(super) writes: mpsc::UnboundedReceiver<Write>,
}

impl std::fmt::Debug for Undelivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Undelivered").finish_non_exhaustive()
    }
}

impl Undelivered {
    /// Starts running deliveries on `targets`: the writer stores what
    /// publishers waited with and starts each new delivery as its batch is
    /// stored, and the claimer takes unleased ones.
    pub fn deliver_to(self, targets: Arc<dyn TargetInvoker>) -> Deliverer {
        let deliverer = Deliverer {
            bus: self.bus,
            targets,
        };
        tokio::spawn(deliverer.clone().write_loop(self.writes));
        tokio::spawn(deliverer.clone().claim_loop());
        deliverer
    }
}

/// The bus with its targets: runs each delivery's attempts.
#[derive(Clone)]
pub struct Deliverer {
    pub(super) bus: EventBus,
    targets: Arc<dyn TargetInvoker>,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("bus", &self.bus)
            .finish_non_exhaustive()
    }
}

impl Deliverer {
    /// The bus it delivers for.
    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// Runs a replayed dead letter (already stored, leased to this node).
    pub fn run_replayed(&self, row: DeliveryRow) {
        self.spawn(Pending { row, accepted: None });
    }

    pub(super) fn spawn(&self, pending: Pending) {
        self.bus.inner.in_memory.fetch_add(1, Ordering::AcqRel);
        tokio::spawn(self.clone().deliver(pending));
    }
}

impl Deliverer {
    /// One delivery, start to end: its attempts on this node, until it
    /// succeeded, became a dead letter, or its rule or target went away.
    pub(super) async fn deliver(self, mut p: Pending) {
        loop {
            let wait = p.row.due_ms - now_ms();
            if wait > 0 {
                tokio::time::sleep(Duration::from_millis(wait as u64)).await;
            }
            let rules = self.bus.inner.rules.load_full();
            let Some(rule) = rules.rule(&p.row.rule_id) else {
                // The rule was deleted (with its rows).
                self.bus.write(Write::Done(p.row.id.clone()));
                break;
            };
            let Some(target) = rule.target(&p.row.target_id) else {
                tracing::info!(rule = %rule.name, target = %p.row.target_id, "target removed from the rule: delivery dropped");
                self.bus.write(Write::Done(p.row.id.clone()));
                break;
            };
            let age_ms = now_ms() - p.row.accepted_ms;
            if age_ms > (rule.retry.max_age_secs * 1000) as i64 {
                let error = format!(
                    "the event is older than the rule's maximum age of {} s; last error: {}",
                    rule.retry.max_age_secs, p.row.last_error
                );
                self.bus.dead(rule, p.row, error);
                break;
            }
            let result = {
                let Some(_slot) = self.bus.inner.slots.acquire(&p.row.project_id).await else {
                    break;
                };
                if self.bus.closing() {
                    // Left leased to this life, which gives it back.
                    break;
                }
                if let Some(at) = p.accepted.take() {
                    metrics::histogram!("minicloud_event_delivery_start_seconds")
                        .record(at.elapsed().as_secs_f64());
                }
                self.attempt(rule, target, &p.row).await
            };
            match result {
                Ok(()) => {
                    metrics::counter!("minicloud_events_delivered_total", "rule" => rule.name.clone())
                        .increment(1);
                    metrics::histogram!("minicloud_event_delivery_seconds")
                        .record((now_ms() - p.row.accepted_ms).max(0) as f64 / 1e3);
                    self.bus.write(Write::Done(p.row.id.clone()));
                    break;
                }
                Err(TargetError::Throttled(after)) => {
                    // Not the target's fault: try again soon, no attempt spent.
                    p.row.due_ms = now_ms() + after.as_millis() as i64;
                }
                Err(TargetError::Failed(error)) => {
                    p.row.attempts += 1;
                    if p.row.attempts >= i64::from(rule.retry.max_attempts) {
                        self.bus.dead(rule, p.row, error);
                        break;
                    }
                    metrics::counter!("minicloud_events_retried_total", "rule" => rule.name.clone())
                        .increment(1);
                    let backoff = rule.retry.backoff(p.row.attempts as u32);
                    p.row.due_ms = now_ms() + backoff.as_millis() as i64;
                    tracing::debug!(rule = %rule.name, event = %p.row.event_id, attempts = p.row.attempts, %error, "delivery failed; will retry");
                    p.row.last_error = error.clone();
                    self.bus.write(Write::Retry(
                        p.row.id.clone(),
                        p.row.attempts,
                        p.row.due_ms,
                        error,
                    ));
                }
            }
        }
        self.bus.finished();
    }

    /// One attempt of a delivery: the input (transformed if the target
    /// says so) to the target.
    pub async fn attempt(&self, rule: &Rule, target: &Target, row: &DeliveryRow) -> Result<(), TargetError> {
        let input = match &target.input {
            None => row.event_json.clone(),
            Some(transform) => {
                let event: serde_json::Value = serde_json::from_str(&row.event_json)
                    .map_err(|e| TargetError::Failed(format!("the stored event is not JSON: {e}")))?;
                let time = chrono::DateTime::from_timestamp_millis(row.accepted_ms)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    .unwrap_or_default();
                transform
                    .apply(
                        &event,
                        Context {
                            rule_name: &rule.name,
                            idempotency_key: &row.id,
                            ingestion_time: &time,
                        },
                    )
                    .map_err(|e| TargetError::Failed(e.to_string()))?
            }
        };
        #[derive(serde::Deserialize)]
        struct Source<'a> {
            #[serde(borrow)]
            source: std::borrow::Cow<'a, str>,
        }
        let source = serde_json::from_str::<Source<'_>>(&row.event_json)
            .map(|s| s.source)
            .unwrap_or_default();
        let project = self
            .bus
            .project(&row.project_id)
            .await
            .map_err(|e| TargetError::Failed(e.to_string()))?
            .ok_or_else(|| TargetError::Failed(format!("project {} no longer exists", row.project_id)))?;
        let delivery = Delivery {
            source: &source,
            project: &project,
            rule: &rule.name,
            target,
            event_id: &row.event_id,
            idempotency_key: &row.id,
            attempt: row.attempts as u32 + 1,
            // A row cannot hold more than the bus wrote; a corrupt one
            // counts as too deep, never as a fresh chain.
            hops: u32::try_from(row.hops).unwrap_or(u32::MAX),
        };
        self.targets.invoke(&delivery, input).await
    }
}
