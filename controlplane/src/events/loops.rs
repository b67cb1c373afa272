//! Recursive loop detection, after Lambda's: every event carries how many
//! deliveries led to it (its hops). Events from the API, NATS and the
//! platform start at 0; an event a function publishes while handling a
//! delivery is one hop further than that delivery's event. A publish that
//! would go past [`MAX_HOPS`] is refused: the guest gets `limit-exceeded`,
//! the platform counts it (`minicloud_event_loops_detected_total`) and
//! announces it as a [`SOURCE`] event, [`LOOP_DETECTED`].
//!
//! The announcement is part of the chain it reports (it carries the
//! refused events' hops, past the limit), so its handlers cannot publish,
//! and a loop found while handling one is not announced again: otherwise a
//! handler of announcements that restarts the loop would feed on itself.
//!
//! Without this, a function whose rule matches the events it publishes
//! runs forever, and a rule with several targets multiplies each round.

use super::bus::EventBus;
use crate::events::platform::PlatformEvent;
use crate::store::projects::Project;
use minicloud_runtime::caps::backend::{DeliveryInfo, PublishError};

/// The deepest chain of deliveries: an event 16 hops from its origin is
/// still delivered, events its handler publishes are not (17 runs of a
/// function that triggers itself, as Lambda stops after about 16).
pub const MAX_HOPS: u32 = 16;
/// The source of the platform's announcements of stopped loops.
pub const SOURCE: &str = "minicloud.events";
/// Their detail-type.
pub const LOOP_DETECTED: &str = "Loop Detected";

/// A chain of deliveries that went too deep: the delivery whose handler
/// published, and the hops its events would have had.
#[derive(Debug, Clone, Copy)]
pub struct Stopped<'a> {
    cause: &'a DeliveryInfo,
    hops: u32,
}

/// Whether events `hops` deep are past the limit.
pub fn too_deep(hops: u32) -> bool {
    hops > MAX_HOPS
}

/// Counts one stopped loop of `project` (`rule`: the rule whose delivery
/// went too deep, when known).
pub fn count(project: &Project, rule: &str) {
    metrics::counter!("minicloud_event_loops_detected_total",
        "project" => project.name.clone(), "rule" => rule.to_owned())
    .increment(1);
}

/// The hops of events published while handling `cause` (none: 0), or the
/// loop they would continue.
pub fn next_hops(cause: Option<&DeliveryInfo>) -> Result<u32, Stopped<'_>> {
    let Some(cause) = cause else { return Ok(0) };
    let hops = cause.hops.saturating_add(1);
    if too_deep(hops) {
        Err(Stopped { cause, hops })
    } else {
        Ok(hops)
    }
}

impl Stopped<'_> {
    /// Whether the platform announces this loop. One found while handling
    /// an announcement is not: a handler of loop events that loops would
    /// feed on itself (as failures of failure handlers are not announced).
    pub fn announced(&self) -> bool {
        self.cause.source != SOURCE
    }

    /// The announcement, in `project`.
    pub fn event(&self, project: &Project) -> PlatformEvent {
        let d = self.cause;
        PlatformEvent {
            source: SOURCE.into(),
            detail_type: LOOP_DETECTED.into(),
            project_id: project.id.clone(),
            resources: vec![format!(
                "mrn:functions:{}:{}:function/{}",
                project.org_name, project.name, d.function
            )],
            detail: serde_json::json!({
                "rule": d.rule,
                "function": d.function,
                "event_id": d.event_id,
                "hops": self.hops,
                "max_hops": MAX_HOPS,
            }),
        }
    }

    /// Counts and logs the loop, and announces it unless that would feed
    /// on itself.
    pub fn report(&self, bus: &EventBus, project: &Project) {
        let d = self.cause;
        count(project, &d.rule);
        tracing::warn!(project = %project.name, rule = %d.rule, function = %d.function,
            event = %d.event_id, hops = self.hops, "event loop detected: publish refused");
        if self.announced() {
            bus.emit(self.event(project), self.hops);
        }
    }
}

impl From<Stopped<'_>> for PublishError {
    fn from(s: Stopped<'_>) -> Self {
        PublishError::LoopDetected {
            hops: s.hops,
            max: MAX_HOPS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(source: &str, hops: u32) -> DeliveryInfo {
        DeliveryInfo {
            event_id: "e1".into(),
            rule: "again".into(),
            target: "sink".into(),
            idempotency_key: "e1/r/sink".into(),
            attempt: 1,
            source: source.into(),
            function: "sink".into(),
            hops,
        }
    }

    #[test]
    fn hops_grow_by_one_per_delivery_up_to_the_limit() {
        assert_eq!(next_hops(None).ok(), Some(0));
        assert_eq!(next_hops(Some(&delivery("shop", 0))).ok(), Some(1));
        assert_eq!(
            next_hops(Some(&delivery("shop", MAX_HOPS - 1))).ok(),
            Some(MAX_HOPS)
        );
        let deep = delivery("shop", MAX_HOPS);
        let stopped = next_hops(Some(&deep)).expect_err("one past the limit");
        assert_eq!(
            PublishError::from(stopped),
            PublishError::LoopDetected {
                hops: MAX_HOPS + 1,
                max: MAX_HOPS
            }
        );
        // A corrupt row cannot wrap around to a shallow chain.
        assert!(next_hops(Some(&delivery("shop", u32::MAX))).is_err());
    }

    /// A chain of a function triggering itself: 17 runs (hops 0 to 16),
    /// then its publish is refused.
    #[test]
    fn a_self_triggering_function_runs_max_hops_plus_one_times() {
        let mut runs = 0;
        let mut hops = Some(0);
        while let Some(h) = hops {
            runs += 1;
            hops = next_hops(Some(&delivery("shop", h))).ok();
        }
        assert_eq!(runs, MAX_HOPS + 1);
    }

    #[test]
    fn loops_are_announced_except_while_handling_an_announcement() {
        let project = Project {
            id: "p1".into(),
            name: "shop".into(),
            org_id: "o1".into(),
            org_name: "acme".into(),
        };
        let deep = delivery("shop.orders", MAX_HOPS);
        let stopped = next_hops(Some(&deep)).expect_err("too deep");
        assert!(stopped.announced());
        let event = stopped.event(&project);
        assert_eq!(
            (event.source.as_str(), event.detail_type.as_str()),
            (SOURCE, LOOP_DETECTED)
        );
        assert_eq!(event.project_id, "p1");
        assert_eq!(event.resources, ["mrn:functions:acme:shop:function/sink"]);
        assert_eq!(
            event.detail,
            serde_json::json!({"rule": "again", "function": "sink", "event_id": "e1", "hops": 17, "max_hops": 16})
        );
        let of_announcement = delivery(SOURCE, MAX_HOPS);
        let stopped = next_hops(Some(&of_announcement)).expect_err("too deep");
        assert!(!stopped.announced());
    }
}
