//! Platform events (object created, object deleted, ...) on an internal
//! publisher. The events router will subscribe to it; until then events are
//! counted and logged.

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

/// Counts events in metrics and logs them at debug level.
#[derive(Debug, Default)]
pub struct CountingPublisher;

impl EventPublisher for CountingPublisher {
    fn publish(&self, event: PlatformEvent) {
        metrics::counter!(
            "minicloud_platform_events_total",
            "source" => event.source.clone(),
            "detail_type" => event.detail_type.clone()
        )
        .increment(1);
        tracing::debug!(source = %event.source, detail_type = %event.detail_type, "platform event");
    }
}
