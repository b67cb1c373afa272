//! Functions' `events.publish`: it goes through [`ProjectEvents`], which stops
//! chains of deliveries past `events::loops::MAX_HOPS`.

use crate::events::bus::EventBus;
use crate::events::envelope::{Entry, Origin};
use crate::events::loops;
use minicloud_runtime::caps::backend::{
    BackendError, DeliveryInfo, EventsBackend, OutgoingEvent, PublishError,
};

/// `events.publish` of one project's functions: the same checks and the
/// same bus as `POST .../events`.
#[derive(Debug, Clone)]
pub struct ProjectEvents {
    bus: EventBus,
    project: crate::store::projects::Project,
}

impl ProjectEvents {
    /// The publisher of `project`'s functions.
    pub fn new(bus: EventBus, project: crate::store::projects::Project) -> Self {
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
        let bus = &self.bus;
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
