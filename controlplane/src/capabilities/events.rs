//! Events in: platform events leave the code that noticed them through
//! the outbox, written in the transaction of what they announce (an object
//! stored or removed; an invocation's record, for its failure) or on their
//! own (a loop the bus stopped); [`OutboxSignal`] wakes its pump.
//! Functions' `events.publish` goes through [`ProjectEvents`], which stops
//! chains of deliveries past `events::loops::MAX_HOPS`.

use crate::events::envelope::{Entry, Origin};
use crate::events::loops;
use crate::store::outbox::OutboxRow;
use minicloud_runtime::caps::backend::{
    BackendError, DeliveryInfo, EventsBackend, OutgoingEvent, PublishError,
};

/// An event the platform itself emits, in EventBridge's terms.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PlatformEvent {
    /// `minicloud.storage`, ...
    pub source: String,
    /// `Object Created`, ...
    pub detail_type: String,
    /// The project it happened in.
    pub project_id: String,
    /// The resources involved.
    pub resources: Vec<String>,
    /// What happened.
    pub detail: serde_json::Value,
}

impl PlatformEvent {
    /// The event as a row of the outbox (`store::outbox`), `hops` deep in
    /// a chain of deliveries (see `events::loops`), under a new id.
    pub fn into_outbox(self, hops: u32) -> OutboxRow {
        OutboxRow {
            id: crate::util::new_id(),
            project_id: self.project_id.clone(),
            hops: i64::from(hops),
            event_json: serde_json::to_string(&self).unwrap_or_default(),
            created_ms: crate::util::now_ms(),
        }
    }
}

/// Wakes the pump that moves the outbox (`store::outbox`: platform events
/// written with the change they announce) onto the bus, after a write
/// added to it; the pump also polls, for rows of other nodes and of a
/// previous life.
#[derive(Debug, Clone, Default)]
pub struct OutboxSignal(std::sync::Arc<tokio::sync::Notify>);

impl OutboxSignal {
    /// A write added rows to the outbox.
    pub fn written(&self) {
        self.0.notify_one();
    }

    /// Waits for a write, or `at_most`.
    pub async fn wait(&self, at_most: std::time::Duration) {
        let _ = tokio::time::timeout(at_most, self.0.notified()).await;
    }
}

/// The bus, once started (it is built after the services that functions
/// use, since its targets are those functions).
pub type BusSlot = std::sync::Arc<std::sync::OnceLock<crate::events::bus::EventBus>>;

/// `events.publish` of one project's functions: the same checks and the
/// same bus as `POST .../events`.
#[derive(Debug, Clone)]
pub struct ProjectEvents {
    bus: BusSlot,
    project: crate::store::projects::Project,
}

impl ProjectEvents {
    /// The publisher of `project`'s functions.
    pub fn new(bus: BusSlot, project: crate::store::projects::Project) -> Self {
        Self { bus, project }
    }
}

#[async_trait::async_trait]
impl EventsBackend for ProjectEvents {
    async fn publish(
        &self,
        events: Vec<OutgoingEvent>,
        cause: Option<&DeliveryInfo>,
    ) -> Result<Vec<String>, PublishError> {
        let bus = self
            .bus
            .get()
            .ok_or_else(|| BackendError::Unavailable("the event bus is starting".into()))?;
        let hops = match loops::next_hops(cause) {
            Ok(hops) => hops,
            Err(stopped) => {
                stopped.report(bus, &self.project);
                return Err(stopped.into());
            }
        };
        let mut out = Vec::with_capacity(events.len());
        for (i, e) in events.into_iter().enumerate() {
            let detail = if e.detail.trim().is_empty() {
                None
            } else {
                Some(serde_json::Value::String(e.detail))
            };
            let entry = Entry {
                source: e.source,
                detail_type: e.detail_type,
                detail,
                resources: e.resources,
                time: None,
            };
            let event = entry
                .into_event(crate::util::new_id(), &self.project.name, bus.region())
                .map_err(|err| BackendError::Invalid(format!("event {i}: {}", err.message)))?;
            out.push((Origin::Api, event));
        }
        let ids = out.iter().map(|(_, e)| e.id.clone()).collect();
        bus.publish_with_hops(&self.project, out, hops)
            .await
            .map_err(|e| BackendError::Unavailable(e.to_string()))?;
        Ok(ids)
    }
}
