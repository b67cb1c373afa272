//! Events: publish to the project's event bus, where rules route them like
//! any other event, and read the delivery an event rule made this
//! invocation for.
//!
//! Publishing needs `events:PutEvents` on `source/<source>` in the
//! function's execution role.
//!
//! ```no_run
//! use minicloud_sdk::events::{self, Event};
//! use minicloud_sdk::__serde_json::json;
//!
//! # fn f() -> minicloud_sdk::Result<()> {
//! // Handlers run at least once: skip work a repeat already did.
//! if let Some(delivery) = events::current_delivery() {
//!     let key = delivery.idempotency_key;
//! #   let _ = key;
//! }
//! let id = Event::new("shop.orders", "Order Shipped")
//!     .detail(&json!({"order": "o-17"}))
//!     .resource("order/o-17")
//!     .publish()?;
//! # let _ = id;
//! # Ok(()) }
//! ```

use crate::Result;
use crate::bindings::minicloud::platform::events as wit;
use serde::Serialize;

pub use wit::Delivery;

/// An event to publish.
#[derive(Debug, Clone)]
pub struct Event {
    source: String,
    detail_type: String,
    detail: String,
    resources: Vec<String>,
}

impl Event {
    /// An event from `source` (such as `shop.orders`) of `detail_type`
    /// (such as `Order Placed`), with an empty detail.
    pub fn new(source: &str, detail_type: &str) -> Self {
        Self {
            source: source.to_owned(),
            detail_type: detail_type.to_owned(),
            detail: String::new(),
            resources: Vec::new(),
        }
    }

    /// Sets the detail: anything that serializes to a JSON object.
    pub fn detail<T: Serialize>(mut self, detail: &T) -> Self {
        self.detail = serde_json::to_string(detail).unwrap_or_default();
        self
    }

    /// Adds a resource the event concerns.
    pub fn resource(mut self, resource: &str) -> Self {
        self.resources.push(resource.to_owned());
        self
    }

    /// Publishes it; its id comes back once it is stored.
    pub fn publish(self) -> Result<String> {
        Ok(wit::publish(&self.into())?)
    }
}

impl From<Event> for wit::Event {
    fn from(e: Event) -> Self {
        wit::Event {
            source: e.source,
            detail_type: e.detail_type,
            detail: e.detail,
            resources: e.resources,
        }
    }
}

/// Publishes up to 100 events, all or none; their ids come back in order.
pub fn publish_batch(events: Vec<Event>) -> Result<Vec<String>> {
    let batch: Vec<wit::Event> = events.into_iter().map(Into::into).collect();
    Ok(wit::publish_batch(&batch)?)
}

/// The delivery this invocation serves (event id, rule, target, the
/// idempotency key and the attempt), when an event rule invoked it.
pub fn current_delivery() -> Option<Delivery> {
    wit::current_delivery()
}
