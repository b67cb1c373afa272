//! The durable bus: accepted events become delivery rows in the database
//! (one transaction for many publishers, then the publishers hear back),
//! run from memory, and leave the table when their target succeeded or they
//! became dead letters.
//!
//! One writer task owns every write, so SQLite sees one writer and
//! PostgreSQL few round trips. Rows carry a lease: this node renews its
//! leases while it lives; rows of a dead node (or of this node's previous
//! life, released at start) are claimed by whichever node polls first.
//!
//! - `lifecycle`: opening the bus (rules loaded, its tasks started) and
//!   closing it (attempts waited out, leases given back).
//! - `publish`: the publishing path: accepted events become delivery rows;
//!   the bus's own platform events go through the outbox.
//! - `deliver`: deliveries waiting for their targets ([`Undelivered`]) and
//!   the [`Deliverer`] that runs each one's attempts.
//! - `dead`: dead letters: stored, counted, and published to their rule's
//!   dead-letter subject.
//! - `writer`: the one writer of batched changes, the claimer of unleased
//!   deliveries, and the lease keeper.
//! - `outbox`: the pump from the outbox onto the bus.
//! - `slots`: delivery slots: attempts at once on this node, and one
//!   project's share of them.

use super::RuleSet;
use crate::events::platform::OutboxSignal;
use crate::store::events::DeliveryRow;
use crate::store::projects::Project;
use crate::store::{Store, StoreError};
use crate::util::now_ms;
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, oneshot};

mod dead;
mod deliver;
mod lifecycle;
mod outbox;
mod publish;
mod slots;
mod writer;

pub use deliver::{Deliverer, Undelivered};

/// How long a lease lasts without renewal.
const LEASE: Duration = Duration::from_secs(30);
/// Deliveries this node keeps in memory; beyond it new ones wait in the
/// table, unleased, until there is room.
const MAX_IN_MEMORY: usize = 50_000;
/// Deliveries running at once on this node.
const CONCURRENT_DELIVERIES: usize = 256;
/// Deliveries of one project running at once on this node: half the node,
/// so one project's backlog leaves the other half to the rest.
const CONCURRENT_DELIVERIES_PER_PROJECT: usize = CONCURRENT_DELIVERIES / 2;

/// The bus could not take the events.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The database refused the write.
    #[error("cannot store the events: {0}")]
    Store(#[from] StoreError),
    /// The database refused the batch the events were in.
    #[error("cannot store the events: {0}")]
    Batch(String),
    /// The bus is shutting down.
    #[error("the event bus is shutting down")]
    Closed,
}

enum Write {
    Insert(Vec<Pending>, oneshot::Sender<Result<(), BusError>>),
    Done(String),
    Retry(String, i64, i64, String),
    Dead(DeliveryRow, String, String),
    Flush(oneshot::Sender<()>),
}

/// A delivery in memory, with the instant it was accepted on this node (for
/// the latency histogram).
struct Pending {
    row: DeliveryRow,
    accepted: Option<Instant>,
}

/// How a node's process started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeStart {
    /// No other process of this node runs: what earlier ones held is taken
    /// back at once.
    Cold,
    /// Started by a hand-over, while the server it replaces still runs
    /// (and gives back its own leases as it stops).
    Handover,
}

/// The bus; cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("node", &self.inner.node)
            .finish_non_exhaustive()
    }
}

struct Inner {
    store: Store,
    node: String,
    region: String,
    rules: ArcSwap<RuleSet>,
    /// To the writer, which starts with the [`Deliverer`]: until the bus
    /// has its targets, publishers wait for their events to be stored.
    writes: mpsc::UnboundedSender<Write>,
    in_memory: AtomicUsize,
    /// One slot per delivery attempt running, at most a share of them per
    /// project; all of them taken, and closed, once the bus closes.
    slots: slots::Slots,
    /// Set as the bus closes: no more claims or attempts, and new
    /// deliveries are stored unleased, for whichever node polls next.
    closing: AtomicBool,
    /// Held while claiming, so that closing can wait out a claim under way
    /// and give back what it took.
    claiming: tokio::sync::Mutex<()>,
    wake_claimer: Notify,
    refresh_lock: tokio::sync::Mutex<()>,
    /// Woken when the claimer saw other nodes' rule changes.
    rules_changed: Notify,
    /// Projects by id, for the envelopes and targets of deliveries (a
    /// project's id and name never change).
    projects: std::sync::RwLock<std::collections::HashMap<String, Project>>,
    /// When NATS is configured: dead letters of rules with a dead-letter
    /// subject are also published there.
    nats: Option<async_nats::Client>,
    /// Wakes the outbox's pump after the bus's own events (loops it
    /// stopped) are written there.
    outbox: OutboxSignal,
}

impl EventBus {
    /// The rules in force.
    pub fn rules(&self) -> Arc<RuleSet> {
        self.inner.rules.load_full()
    }

    /// Reloads the rules if any changed (here or on another node); `true`
    /// when they did.
    pub async fn refresh_rules(&self) -> Result<bool, StoreError> {
        let _one = self.inner.refresh_lock.lock().await;
        let generation = self.inner.store.rules_generation().await?;
        if generation == self.inner.rules.load().generation {
            return Ok(false);
        }
        let (generation, rows) = self.inner.store.all_rules().await?;
        self.inner
            .rules
            .store(Arc::new(RuleSet::build(generation, &rows)));
        Ok(true)
    }

    /// Waits until the periodic poll finds that the rules changed (for one
    /// waiter: the NATS router).
    pub async fn rules_changed(&self) {
        self.inner.rules_changed.notified().await;
    }

    /// A live project by id, from memory after the first lookup.
    pub async fn project(&self, id: &str) -> Result<Option<Project>, StoreError> {
        let cached = self
            .inner
            .projects
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned();
        if cached.is_some() {
            return Ok(cached);
        }
        let found = self.inner.store.project_by_id(id).await?;
        if let Some(p) = &found {
            let mut projects = self.inner.projects.write().unwrap_or_else(|e| e.into_inner());
            projects.insert(id.to_owned(), p.clone());
        }
        Ok(found)
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The lease owner of this life of the node.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// A delivery slot of project `project_id` (see `slots`), for attempts
    /// that do not come through the bus's own claimer (NATS messages), so
    /// that every trigger of a project shares one bound; `None` once the
    /// bus closed.
    pub(crate) async fn slot(&self, project_id: &str) -> Option<slots::Slot<'_>> {
        self.inner.slots.acquire(project_id).await
    }

    /// The region name events carry.
    pub fn region(&self) -> &str {
        &self.inner.region
    }

    /// The lease a row written now by this node gets.
    pub fn lease_until(&self) -> i64 {
        now_ms() + LEASE.as_millis() as i64
    }

    fn closing(&self) -> bool {
        self.inner.closing.load(Ordering::Acquire)
    }

    fn write(&self, w: Write) {
        // The writer only stops with the process.
        let _ = self.inner.writes.send(w);
    }

    fn finished(&self) {
        if self.inner.in_memory.fetch_sub(1, Ordering::AcqRel) <= MAX_IN_MEMORY / 2 {
            self.inner.wake_claimer.notify_one();
        }
    }
}

/// `<event id>/<rule id>/<target id>`: the same for every attempt and
/// replay of one delivery, so handlers can make repeats harmless.
pub fn idempotency_key(event: &str, rule: &str, target: &str) -> String {
    format!("{event}/{rule}/{target}")
}
