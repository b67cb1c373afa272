//! The events service: events accepted onto the bus, rules written and put
//! in force (this node's rule set reloaded and the NATS stream and
//! consumers brought in step, at once, after every change), and dead
//! letters replayed.

use crate::events::bus::{BusError, Deliverer, EventBus};
use crate::events::envelope::{Event, Origin};
use crate::events::nats::NatsRouter;
use crate::store::events::DeadLetterRow;
use crate::store::projects::Project;
use crate::store::quotas::{CreateRefused, Kind, QuotaBook, QuotaExceeded};
use crate::store::rules::RuleRow;
use crate::store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Why the events service refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// No such rule in the project.
    #[error("rule {0:?} does not exist")]
    NoRule(String),
    /// A rule of that name exists.
    #[error("rule {0:?} already exists")]
    RuleExists(String),
    /// A dead letter's rule is gone.
    #[error("rule {0:?} no longer exists, so the dead letter has nowhere to go")]
    RuleGone(String),
    /// No such dead letter in the project.
    #[error("dead letter {0:?} does not exist")]
    NoDeadLetter(String),
    /// The change is stored, but NATS could not be brought in step.
    #[error("the rule is stored, but {0}")]
    NatsUnavailable(String),
    /// A quota of the project or org.
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
    /// The bus could not take the events.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Result<T, E = EventsError> = std::result::Result<T, E>;

/// A dead letter sent again.
#[derive(Debug)]
pub struct Replayed {
    /// The delivery's idempotency key (the same as the first time).
    pub idempotency_key: String,
}

/// Events, rules and dead letters.
#[derive(Debug)]
pub struct EventService {
    store: Store,
    /// The bus, and what runs its deliveries (replayed dead letters too).
    deliverer: Deliverer,
    nats: Option<Arc<NatsRouter>>,
    quotas: Arc<QuotaBook>,
}

impl EventService {
    /// The service over the bus, and NATS when configured.
    pub fn new(
        store: Store,
        deliverer: Deliverer,
        nats: Option<Arc<NatsRouter>>,
        quotas: Arc<QuotaBook>,
    ) -> Self {
        Self {
            store,
            deliverer,
            nats,
            quotas,
        }
    }

    fn bus(&self) -> &EventBus {
        self.deliverer.bus()
    }

    /// The region events carry.
    pub fn region(&self) -> &str {
        self.bus().region()
    }

    /// Whether NATS subjects can be used (`--nats-url`).
    pub fn has_nats(&self) -> bool {
        self.nats.is_some()
    }

    /// Accepts events of `project`: every delivery they owe is stored
    /// before this returns.
    pub async fn publish(&self, project: &Project, events: Vec<(Origin, Event)>) -> Result<()> {
        Ok(self.bus().publish(project, events).await?)
    }

    /// Stores a new rule (within the project's and org's rule quotas) and
    /// puts it in force.
    pub async fn create_rule(&self, project: &Project, row: RuleRow) -> Result<RuleRow> {
        let name = row.name.clone();
        let limit = self.quotas.count_limit(project, Kind::Rules);
        let row = self
            .store
            .in_project(project)
            .insert_rule(row, &limit)
            .await?
            .map_err(|e| match e {
                CreateRefused::Conflict => EventsError::RuleExists(name),
                CreateRefused::Quota(q) => q.into(),
            })?;
        self.in_force().await?;
        Ok(row)
    }

    /// Stores a changed rule and puts it in force.
    pub async fn update_rule(&self, project: &Project, row: &mut RuleRow) -> Result<()> {
        if !self.store.in_project(project).update_rule(row).await? {
            return Err(EventsError::NoRule(row.name.clone()));
        }
        self.in_force().await
    }

    /// Deletes a rule (with its deliveries) and stops it.
    pub async fn delete_rule(&self, project: &Project, row: &RuleRow) -> Result<()> {
        self.store.in_project(project).delete_rule(&row.id).await?;
        self.in_force().await
    }

    /// Puts a change in force on this node at once (other nodes poll),
    /// with the NATS stream and consumers it needs.
    async fn in_force(&self) -> Result<()> {
        if let Err(e) = self.bus().refresh_rules().await {
            tracing::warn!(error = %e, "cannot reload event rules now; the next poll will");
        }
        if let Some(nats) = &self.nats {
            nats.reconcile()
                .await
                .map_err(|e| EventsError::NatsUnavailable(e.to_string()))?;
        }
        Ok(())
    }

    /// Sends `dead` again: a fresh delivery with a fresh count of attempts
    /// and the same idempotency key, run on this node.
    pub async fn replay(&self, project: &Project, dead: &DeadLetterRow) -> Result<Replayed> {
        if self.bus().rules().rule(&dead.rule_id).is_none() {
            return Err(EventsError::RuleGone(dead.rule.clone()));
        }
        let delivery = self
            .store
            .in_project(project)
            .replay_dead_letter(&dead.id, self.bus().node(), self.bus().lease_until())
            .await?
            .ok_or_else(|| EventsError::NoDeadLetter(dead.id.clone()))?;
        let idempotency_key = delivery.id.clone();
        self.deliverer.run_replayed(delivery);
        Ok(Replayed { idempotency_key })
    }

    /// Stops reading NATS, then stops delivering and gives up this node's
    /// leases (see [`EventBus::close`]), within `grace`.
    pub async fn close(&self, grace: Duration) {
        if let Some(nats) = &self.nats {
            nats.stop();
        }
        self.bus().close(grace).await;
    }
}
