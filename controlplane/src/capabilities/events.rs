//! Events in: platform events leave the code that noticed them either
//! through the outbox, in the transaction of the change they announce
//! (object created, object deleted: [`OutboxSignal`] wakes its pump), or
//! through a non-blocking publisher (invocation failed, loops stopped),
//! which the events router drains onto the bus; functions'
//! `events.publish` goes through [`ProjectEvents`], which stops chains of
//! deliveries past `events::loops::MAX_HOPS`.

use crate::events::envelope::{Entry, Origin};
use crate::events::loops;
use minicloud_runtime::caps::backend::{
    BackendError, DeliveryInfo, EventsBackend, OutgoingEvent, PublishError,
};
use tokio::sync::mpsc;

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

/// Takes platform events. Must not block.
pub trait EventPublisher: Send + Sync {
    /// Hands one event over.
    fn publish(&self, event: PlatformEvent);

    /// Hands over an event caused by a delivery `hops` deep (see
    /// `events::loops`), so that what it triggers counts as part of the
    /// same chain. Publishers that cannot carry the hops start a new chain.
    fn publish_chained(&self, event: PlatformEvent, hops: u32) {
        let _ = hops;
        self.publish(event);
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

/// A platform event on its way to the bus.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) event: PlatformEvent,
    /// The chain it continues: 0 for most platform events.
    pub(crate) hops: u32,
}

/// Hands events to a channel that the events router drains.
#[derive(Debug, Clone)]
pub struct ChannelPublisher {
    tx: mpsc::UnboundedSender<Queued>,
}

impl ChannelPublisher {
    /// A publisher and the receiving end of its channel.
    pub fn new() -> (Self, PlatformInbox) {
        let (tx, rx) = mpsc::unbounded_channel();
        let inbox = PlatformInbox {
            rx,
            loopback: tx.downgrade(),
        };
        (Self { tx }, inbox)
    }
}

impl EventPublisher for ChannelPublisher {
    fn publish(&self, event: PlatformEvent) {
        self.publish_chained(event, 0);
    }

    fn publish_chained(&self, event: PlatformEvent, hops: u32) {
        if self.tx.send(Queued { event, hops }).is_err() {
            tracing::warn!("platform event dropped: the events router has stopped");
        }
    }
}

/// The receiving end of the platform's events, which the events router
/// drains. The router also emits platform events of its own (loops it
/// stopped) into the same channel, through [`PlatformInbox::loopback`].
#[derive(Debug)]
pub struct PlatformInbox {
    pub(crate) rx: mpsc::UnboundedReceiver<Queued>,
    loopback: mpsc::WeakUnboundedSender<Queued>,
}

impl PlatformInbox {
    /// A publisher into this channel that does not keep it open: the
    /// channel still closes when the platform's own publishers are gone.
    pub fn loopback(&self) -> LoopbackPublisher {
        LoopbackPublisher(self.loopback.clone())
    }
}

/// Publishes into a [`PlatformInbox`] for as long as its channel is open.
#[derive(Debug, Clone)]
pub struct LoopbackPublisher(mpsc::WeakUnboundedSender<Queued>);

impl EventPublisher for LoopbackPublisher {
    fn publish(&self, event: PlatformEvent) {
        self.publish_chained(event, 0);
    }

    fn publish_chained(&self, event: PlatformEvent, hops: u32) {
        match self.0.upgrade() {
            Some(tx) => ChannelPublisher { tx }.publish_chained(event, hops),
            None => tracing::warn!("platform event dropped: the platform's publishers are gone"),
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
