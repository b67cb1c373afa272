//! The publishing path: accepted events become delivery rows (one per
//! matching rule and target), and the bus's own platform events go through
//! the outbox.

use super::{BusError, EventBus, Pending, Write, idempotency_key};
use crate::events::envelope::{Event, Origin};
use crate::events::platform::PlatformEvent;
use crate::store::events::DeliveryRow;
use crate::store::projects::Project;
use crate::util::now_ms;
use std::time::Instant;
use tokio::sync::oneshot;

impl EventBus {
    /// Accepts events of `project` that start a chain of deliveries (from
    /// the API, NATS or the platform): every delivery they owe is stored
    /// before this returns, and runs at least once from then on.
    pub async fn publish(&self, project: &Project, events: Vec<(Origin, Event)>) -> Result<(), BusError> {
        self.publish_with_hops(project, events, 0).await
    }

    /// Accepts events `hops` deliveries down a chain (see
    /// [`crate::events::loops`]), as [`EventBus::publish`] does.
    pub async fn publish_with_hops(
        &self,
        project: &Project,
        events: Vec<(Origin, Event)>,
        hops: u32,
    ) -> Result<(), BusError> {
        let rules = self.inner.rules.load();
        let rules = rules.of(&project.id);
        let now = now_ms();
        let accepted = Instant::now();
        let mut pending = Vec::new();
        for (origin, event) in events {
            let value = event.to_value();
            metrics::counter!("minicloud_events_received_total", "project" => project.name.clone(), "origin" => origin_label(&origin)).increment(1);
            let mut text = None;
            for rule in rules
                .iter()
                .filter(|r| r.listens_to(&origin) && r.matches(&value))
            {
                metrics::counter!("minicloud_events_matched_total", "project" => project.name.clone(), "rule" => rule.name.clone()).increment(1);
                let text = text.get_or_insert_with(|| value.to_string());
                for target in &rule.targets {
                    pending.push(Pending {
                        row: DeliveryRow {
                            id: idempotency_key(&event.id, &rule.id, &target.id),
                            project_id: project.id.clone(),
                            rule_id: rule.id.clone(),
                            target_id: target.id.clone(),
                            event_id: event.id.clone(),
                            event_json: text.clone(),
                            attempts: 0,
                            accepted_ms: now,
                            due_ms: now,
                            last_error: String::new(),
                            hops: i64::from(hops),
                        },
                        accepted: Some(accepted),
                    });
                }
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        self.inner
            .writes
            .send(Write::Insert(pending, tx))
            .map_err(|_| BusError::Closed)?;
        rx.await.map_err(|_| BusError::Closed)?
    }

    /// Publishes a platform event of the bus's own, `hops` deep, through
    /// the outbox like the others (written off the caller's path: it must
    /// not block).
    pub fn emit(&self, event: PlatformEvent, hops: u32) {
        let bus = self.clone();
        tokio::spawn(async move {
            let source = event.source.clone();
            match bus.inner.store.put_outbox(&event.into_outbox(hops)).await {
                Ok(()) => bus.inner.outbox.written(),
                Err(e) => {
                    tracing::error!(error = %e, %source, "platform event lost: cannot write it to the outbox")
                }
            }
        });
    }

    /// The envelope of a platform event of `project`.
    pub(super) fn platform_event(
        &self,
        project: &Project,
        e: PlatformEvent,
        id: String,
        time: String,
    ) -> Event {
        Event {
            id,
            source: e.source,
            detail_type: e.detail_type,
            time,
            project: project.name.clone(),
            region: self.inner.region.clone(),
            resources: e.resources,
            detail: e.detail,
            nats: None,
        }
    }
}

fn origin_label(o: &Origin) -> &'static str {
    match o {
        Origin::Api => "api",
        Origin::Platform(_) => "platform",
        Origin::Subject(_) => "nats",
    }
}
