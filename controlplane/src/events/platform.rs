//! Platform events: what the platform itself announces (an object stored
//! or removed, an invocation failed, a loop stopped), in EventBridge's
//! terms. They leave the code that noticed them through the outbox
//! (`store::outbox`), written in the transaction of what they announce or
//! on their own; [`OutboxSignal`] wakes the bus's pump that moves them on.

use crate::store::outbox::OutboxRow;

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
