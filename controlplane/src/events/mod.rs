//! Events: EventBridge-style rules over events from the API, the platform
//! and NATS subjects, delivered at least once.
//!
//! - [`pattern`]: the pattern language, compiled once into matchers.
//! - [`envelope`]: the event envelope and how each source's events become
//!   one.
//! - [`rules`]: rules as written (checked) and as kept (compiled).
//! - [`transform`]: input transformations (a path, a template, a constant).
//! - [`bus`]: the durable bus: delivery rows, leases, retries, dead letters,
//!   delivery slots shared fairly between projects.
//! - [`loops`]: recursive loop detection: hops per event, a depth limit.
//! - [`platform`]: the platform's own events, and the signal that wakes
//!   the outbox's pump.
//! - [`nats`]: NATS subjects through a JetStream stream and durable
//!   consumers per rule target.
//! - [`targets`]: the target kinds behind [`TargetInvoker`] (functions and
//!   workflows).

pub mod bus;
pub mod envelope;
pub mod loops;
pub mod nats;
pub mod pattern;
pub mod platform;
pub mod rules;
pub mod targets;
pub mod transform;

use crate::store::projects::Project;
use crate::store::rules::RuleRow;
use rules::{Rule, Target};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Every rule in force, by project and by id.
#[derive(Debug, Default)]
pub struct RuleSet {
    /// Grows with every change to rules; reloading happens when it moved.
    pub generation: i64,
    by_project: HashMap<String, Vec<Arc<Rule>>>,
    by_id: HashMap<String, Arc<Rule>>,
}

impl RuleSet {
    /// Compiles stored rules; one that no longer compiles (it was valid
    /// when written) is logged and left out.
    pub fn build(generation: i64, rows: &[RuleRow]) -> Self {
        let mut set = Self {
            generation,
            ..Self::default()
        };
        for row in rows {
            match Rule::compile(row) {
                Ok(rule) => {
                    let rule = Arc::new(rule);
                    set.by_project
                        .entry(rule.project_id.clone())
                        .or_default()
                        .push(rule.clone());
                    set.by_id.insert(rule.id.clone(), rule);
                }
                Err(e) => {
                    tracing::error!(rule = %row.name, error = %e, "stored rule does not compile; skipped")
                }
            }
        }
        set
    }

    /// The rules of a project.
    pub fn of(&self, project_id: &str) -> &[Arc<Rule>] {
        self.by_project.get(project_id).map_or(&[], Vec::as_slice)
    }

    /// A rule by id.
    pub fn rule(&self, id: &str) -> Option<&Arc<Rule>> {
        self.by_id.get(id)
    }

    /// Every rule.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Rule>> {
        self.by_id.values()
    }
}

/// One attempt of one delivery, as a target sees it.
#[derive(Debug)]
pub struct Delivery<'a> {
    /// The rule's project.
    pub project: &'a Project,
    /// The rule's name.
    pub rule: &'a str,
    /// The target.
    pub target: &'a Target,
    /// The event's id.
    pub event_id: &'a str,
    /// Stable across attempts and replays.
    pub idempotency_key: &'a str,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The event's source.
    pub source: &'a str,
    /// How many deliveries led to the event (see [`loops`]).
    pub hops: u32,
}

/// Why an attempt did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TargetError {
    /// The target is busy: try again after this long, without spending an
    /// attempt.
    #[error("the target is at its concurrency limit")]
    Throttled(Duration),
    /// The attempt failed; the text says why.
    #[error("{0}")]
    Failed(String),
}

/// Runs targets: functions and workflows (`targets::RuleTargets`).
#[async_trait::async_trait]
pub trait TargetInvoker: Send + Sync {
    /// Delivers `input` (JSON text) to the delivery's target.
    async fn invoke(&self, delivery: &Delivery<'_>, input: String) -> Result<(), TargetError>;
}
