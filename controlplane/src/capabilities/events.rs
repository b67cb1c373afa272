//! Events in: platform events (object created, object deleted, invocation
//! failed) leave the code that noticed them through a non-blocking
//! publisher, which the events router drains onto the bus; functions'
//! `events.publish` goes through [`ProjectEvents`].

use crate::events::envelope::{Entry, Origin};
use minicloud_runtime::caps::backend::{BackendError, EventsBackend, OutgoingEvent};
use tokio::sync::mpsc;

/// An event the platform itself emits, in EventBridge's terms.
#[derive(Debug, Clone, serde::Serialize)]
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

/// Takes platform events. Must not block.
pub trait EventPublisher: Send + Sync {
    /// Hands one event over.
    fn publish(&self, event: PlatformEvent);
}

/// Hands events to a channel that the events router drains.
#[derive(Debug, Clone)]
pub struct ChannelPublisher {
    tx: mpsc::UnboundedSender<PlatformEvent>,
}

impl ChannelPublisher {
    /// A publisher and the receiving end of its channel.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<PlatformEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }
}

impl EventPublisher for ChannelPublisher {
    fn publish(&self, event: PlatformEvent) {
        if self.tx.send(event).is_err() {
            tracing::warn!("platform event dropped: the events router has stopped");
        }
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
    async fn publish(&self, events: Vec<OutgoingEvent>) -> Result<Vec<String>, BackendError> {
        let bus = self
            .bus
            .get()
            .ok_or_else(|| BackendError::Unavailable("the event bus is starting".into()))?;
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
        bus.publish(&self.project, out)
            .await
            .map_err(|e| BackendError::Unavailable(e.to_string()))?;
        Ok(ids)
    }
}
