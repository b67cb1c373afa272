//! `minicloud:platform/events`: `events:PutEvents` on
//! `mrn:events:<org>:<project>:source/<source>` for each source published
//! to; the current delivery needs no grant. Events published while handling
//! a delivery go to the backend with it, as the next link of its chain; a
//! chain the backend finds too deep is `limit-exceeded`.

use super::CapError;
use super::backend::{BackendError, EventsBackend, OutgoingEvent, PublishError};
use super::bindings::{events, types};
use crate::state::InstanceState;

/// Events one `publish-batch` may carry.
const MAX_BATCH: usize = 100;
/// Largest detail, bytes.
const MAX_DETAIL_BYTES: usize = 256 * 1024;

fn invalid(message: impl Into<String>) -> CapError {
    CapError::Backend(BackendError::Invalid(message.into()))
}

impl InstanceState {
    async fn publish_all(&mut self, batch: Vec<events::Event>) -> Result<Vec<String>, CapError> {
        if batch.is_empty() || batch.len() > MAX_BATCH {
            self.caps.count_call()?;
            return Err(invalid(format!("publish 1 to {MAX_BATCH} events at once")));
        }
        let mut sources: Vec<&str> = batch.iter().map(|e| e.source.as_str()).collect();
        sources.sort_unstable();
        sources.dedup();
        for source in sources {
            if source.is_empty() || source.len() > 256 || source.contains(['/', '*']) {
                self.caps.count_call()?;
                return Err(invalid(format!(
                    "source {source:?} must be 1 to 256 characters, without '/' or '*'"
                )));
            }
            self.caps
                .check("events", "events:PutEvents", &format!("source/{source}"))?;
        }
        let bytes: usize = batch.iter().map(|e| e.detail.len()).sum();
        if batch.iter().any(|e| e.detail.len() > MAX_DETAIL_BYTES) {
            return Err(invalid(format!(
                "an event's detail may be at most {MAX_DETAIL_BYTES} bytes"
            )));
        }
        self.caps.count_written(bytes as u64)?;
        let outgoing = batch
            .into_iter()
            .map(|e| OutgoingEvent {
                source: e.source,
                detail_type: e.detail_type,
                detail: e.detail,
                resources: e.resources,
            })
            .collect();
        let cause = self.caps.delivery.clone();
        self.caps
            .backend::<dyn EventsBackend>()?
            .publish(outgoing, cause.as_deref())
            .await
            .map_err(refusal)
    }
}

/// A loop is a cap on the chain of deliveries, not a fault of the bus: the
/// guest sees `limit-exceeded`, as for its other caps.
fn refusal(e: PublishError) -> CapError {
    match e {
        PublishError::Backend(b) => CapError::Backend(b),
        e @ PublishError::LoopDetected { .. } => CapError::Limit(e.to_string()),
    }
}

impl events::Host for InstanceState {
    async fn publish(&mut self, event: events::Event) -> wasmtime::Result<Result<String, types::Error>> {
        Ok(self
            .publish_all(vec![event])
            .await
            .map(|mut ids| ids.pop().unwrap_or_default())
            .map_err(Into::into))
    }

    async fn publish_batch(
        &mut self,
        batch: Vec<events::Event>,
    ) -> wasmtime::Result<Result<Vec<String>, types::Error>> {
        Ok(self.publish_all(batch).await.map_err(Into::into))
    }

    async fn current_delivery(&mut self) -> wasmtime::Result<Option<events::Delivery>> {
        Ok(self.caps.delivery.as_deref().map(|d| events::Delivery {
            event_id: d.event_id.clone(),
            rule: d.rule.clone(),
            target: d.target.clone(),
            idempotency_key: d.idempotency_key.clone(),
            attempt: d.attempt,
        }))
    }
}
