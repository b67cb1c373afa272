//! The durable bus: accepted events become delivery rows in the database
//! (one transaction for many publishers, then the publishers hear back),
//! run from memory, and leave the table when their target succeeded or they
//! became dead letters.
//!
//! One writer task owns every write, so SQLite sees one writer and
//! PostgreSQL few round trips. Rows carry a lease: this node renews its
//! leases while it lives; rows of a dead node (or of this node's previous
//! life, released at start) are claimed by whichever node polls first.

use super::envelope::{Event, Origin};
use super::rules::Rule;
use super::{RuleSet, TargetInvoker};
use crate::events::platform::{OutboxSignal, PlatformEvent};
use crate::store::events::{Batch, DeliveryRow};
use crate::store::projects::Project;
use crate::store::{Store, StoreError};
use crate::util::now_ms;
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, oneshot};

mod deliver;
mod outbox;
mod slots;
mod writer;

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
    writes: mpsc::UnboundedSender<Write>,
    /// Deliveries to run, to the [`Deliverer`] (they wait here until the
    /// bus has its targets).
    runnable: mpsc::UnboundedSender<Pending>,
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

/// An open bus's deliveries, waiting for their targets: see
/// [`EventBus::open`].
pub struct Undelivered {
    bus: EventBus,
    runnable: mpsc::UnboundedReceiver<Pending>,
}

impl std::fmt::Debug for Undelivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Undelivered").finish_non_exhaustive()
    }
}

impl Undelivered {
    /// Starts running deliveries on `targets`: those that waited, and from
    /// now on every one the bus accepts or claims.
    pub fn deliver_to(self, targets: Arc<dyn TargetInvoker>) -> Deliverer {
        let deliverer = Deliverer {
            bus: self.bus,
            targets,
        };
        tokio::spawn(deliverer.clone().run(self.runnable));
        deliverer
    }
}

/// The bus with its targets: runs each delivery's attempts.
#[derive(Clone)]
pub struct Deliverer {
    bus: EventBus,
    targets: Arc<dyn TargetInvoker>,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("bus", &self.bus)
            .finish_non_exhaustive()
    }
}

impl Deliverer {
    /// The bus it delivers for.
    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    async fn run(self, mut runnable: mpsc::UnboundedReceiver<Pending>) {
        while let Some(p) = runnable.recv().await {
            tokio::spawn(self.clone().deliver(p));
        }
    }
}

impl EventBus {
    /// Opens the bus of node `node` (stable across restarts): loads the
    /// rules, takes back what earlier lives of the node held (on a cold
    /// start), and starts the writer, the claimer, the lease keeper and the
    /// outbox's pump (`outbox` wakes it). The bus accepts events at once,
    /// so that it can be built before the functions that publish to it;
    /// their deliveries are stored and wait in memory until
    /// [`Undelivered::deliver_to`] gives the bus its targets, which are
    /// those functions.
    ///
    /// Leases are held by this life of the node (`<node>/<id>`), so that a
    /// successor started by a hand-over and the server it replaces, which
    /// run side by side for a moment, never take each other's deliveries:
    /// the old one gives its own back as it stops.
    pub async fn open(
        store: Store,
        node: String,
        region: String,
        outbox: OutboxSignal,
        nats: Option<async_nats::Client>,
        start: NodeStart,
    ) -> Result<(Self, Undelivered), BusError> {
        let (generation, rows) = store.all_rules().await?;
        let rules = RuleSet::build(generation, &rows);
        if start == NodeStart::Cold {
            store.release_node_leases(&node).await?;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let (runnable, waiting) = mpsc::unbounded_channel();
        let bus = Self {
            inner: Arc::new(Inner {
                store,
                node: format!("{node}/{}", crate::util::new_id()),
                region,
                rules: ArcSwap::from_pointee(rules),
                writes: tx,
                runnable,
                in_memory: AtomicUsize::new(0),
                slots: slots::Slots::new(CONCURRENT_DELIVERIES, CONCURRENT_DELIVERIES_PER_PROJECT),
                closing: AtomicBool::new(false),
                claiming: tokio::sync::Mutex::new(()),
                wake_claimer: Notify::new(),
                refresh_lock: tokio::sync::Mutex::new(()),
                rules_changed: Notify::new(),
                projects: Default::default(),
                nats,
                outbox,
            }),
        };
        tokio::spawn(bus.clone().write_loop(rx));
        tokio::spawn(bus.clone().claim_loop());
        tokio::spawn(bus.clone().lease_loop());
        bus.forward_outbox();
        let undelivered = Undelivered {
            bus: bus.clone(),
            runnable: waiting,
        };
        Ok((bus, undelivered))
    }

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

    /// Stores a dead letter now (for deliveries not on the table, such as
    /// NATS messages, which are acknowledged only once it is stored).
    pub async fn dead_letter_now(
        &self,
        rule: &Rule,
        row: DeliveryRow,
        error: String,
    ) -> Result<(), StoreError> {
        self.count_dead(rule, &row, &error);
        let batch = Batch {
            dead: vec![(row, rule.name.clone(), error)],
            ..Batch::default()
        };
        self.inner
            .store
            .apply_deliveries(&batch, &self.inner.node, self.lease_until())
            .await
    }

    /// Counts and logs a dead letter, and publishes it to the rule's
    /// dead-letter subject if it has one.
    fn count_dead(&self, rule: &Rule, row: &DeliveryRow, error: &str) {
        metrics::counter!("minicloud_events_dead_lettered_total", "rule" => rule.name.clone()).increment(1);
        tracing::warn!(rule = %rule.name, event = %row.event_id, attempts = row.attempts, %error, "delivery dead-lettered");
        let org = self
            .inner
            .projects
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&rule.project_id)
            .map(|p| p.org_name.clone());
        let owned = |subject: &str| {
            org.as_deref()
                .is_some_and(|org| super::rules::subject_in_org(subject, org).is_ok())
        };
        if let Some(subject) = rule.dead_letter.subject.as_deref().filter(|s| !owned(s)) {
            tracing::warn!(rule = %rule.name, subject, "dead letter not published: the subject is outside the rule's org");
        } else if let (Some(subject), Some(client)) = (&rule.dead_letter.subject, &self.inner.nats) {
            let letter = serde_json::json!({
                "rule": rule.name,
                "target": row.target_id,
                "idempotency_key": row.id,
                "attempts": row.attempts,
                "error": error,
                "event": serde_json::from_str::<serde_json::Value>(&row.event_json).unwrap_or_default(),
            });
            let (client, subject) = (client.clone(), subject.clone());
            tokio::spawn(async move {
                if let Err(e) = client.publish(subject, letter.to_string().into()).await {
                    tracing::warn!(error = %e, "cannot publish a dead letter to its subject");
                }
            });
        }
    }

    /// Accepts events of `project` that start a chain of deliveries (from
    /// the API, NATS or the platform): every delivery they owe is stored
    /// before this returns, and runs at least once from then on.
    pub async fn publish(&self, project: &Project, events: Vec<(Origin, Event)>) -> Result<(), BusError> {
        self.publish_with_hops(project, events, 0).await
    }

    /// Accepts events `hops` deliveries down a chain (see
    /// [`crate::events::loops`]), as [`EventBus::publish`] does.
    pub async fn publish_with_hops(
        &self,
        project: &Project,
        events: Vec<(Origin, Event)>,
        hops: u32,
    ) -> Result<(), BusError> {
        let rules = self.inner.rules.load();
        let rules = rules.of(&project.id);
        let now = now_ms();
        let accepted = Instant::now();
        let mut pending = Vec::new();
        for (origin, event) in events {
            let value = event.to_value();
            metrics::counter!("minicloud_events_received_total", "project" => project.name.clone(), "origin" => origin_label(&origin)).increment(1);
            let mut text = None;
            for rule in rules
                .iter()
                .filter(|r| r.listens_to(&origin) && r.matches(&value))
            {
                metrics::counter!("minicloud_events_matched_total", "project" => project.name.clone(), "rule" => rule.name.clone()).increment(1);
                let text = text.get_or_insert_with(|| value.to_string());
                for target in &rule.targets {
                    pending.push(Pending {
                        row: DeliveryRow {
                            id: idempotency_key(&event.id, &rule.id, &target.id),
                            project_id: project.id.clone(),
                            rule_id: rule.id.clone(),
                            target_id: target.id.clone(),
                            event_id: event.id.clone(),
                            event_json: text.clone(),
                            attempts: 0,
                            accepted_ms: now,
                            due_ms: now,
                            last_error: String::new(),
                            hops: i64::from(hops),
                        },
                        accepted: Some(accepted),
                    });
                }
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        self.inner
            .writes
            .send(Write::Insert(pending, tx))
            .map_err(|_| BusError::Closed)?;
        rx.await.map_err(|_| BusError::Closed)?
    }

    /// Runs a replayed dead letter (already stored, leased to this node).
    pub fn run_replayed(&self, row: DeliveryRow) {
        self.spawn(Pending { row, accepted: None });
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

    /// Publishes a platform event of the bus's own, `hops` deep, through
    /// the outbox like the others (written off the caller's path: it must
    /// not block).
    pub fn emit(&self, event: PlatformEvent, hops: u32) {
        let bus = self.clone();
        tokio::spawn(async move {
            let source = event.source.clone();
            match bus.inner.store.put_outbox(&event.into_outbox(hops)).await {
                Ok(()) => bus.inner.outbox.written(),
                Err(e) => {
                    tracing::error!(error = %e, %source, "platform event lost: cannot write it to the outbox")
                }
            }
        });
    }

    /// The envelope of a platform event of `project`.
    fn platform_event(&self, project: &Project, e: PlatformEvent, id: String, time: String) -> Event {
        Event {
            id,
            source: e.source,
            detail_type: e.detail_type,
            time,
            project: project.name.clone(),
            region: self.inner.region.clone(),
            resources: e.resources,
            detail: e.detail,
            nats: None,
        }
    }

    /// The lease a row written now by this node gets.
    pub fn lease_until(&self) -> i64 {
        now_ms() + LEASE.as_millis() as i64
    }

    /// Stops delivering and gives up this node's leases, so that another
    /// node (or this one's successor or next life) takes its deliveries at
    /// once and runs none of them twice: no new claims or attempts,
    /// attempts under way finish (within `grace`), their outcomes are
    /// stored, and only then are the leases released. Events published
    /// from here on are stored unleased.
    pub async fn close(&self, grace: Duration) {
        self.inner.closing.store(true, Ordering::Release);
        // A claim under way takes rows for this life: they are given back
        // below, after it.
        drop(self.inner.claiming.lock().await);
        let all = CONCURRENT_DELIVERIES as u32;
        let slots = self.inner.slots.global();
        if tokio::time::timeout(grace, slots.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!("event deliveries still running after the grace period: they will run again");
        }
        slots.close();
        let (tx, rx) = oneshot::channel();
        if self.inner.writes.send(Write::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
        if let Err(e) = self.inner.store.release_leases(&self.inner.node).await {
            tracing::warn!(error = %e, "cannot release event delivery leases");
        }
    }

    fn closing(&self) -> bool {
        self.inner.closing.load(Ordering::Acquire)
    }

    fn spawn(&self, pending: Pending) {
        self.inner.in_memory.fetch_add(1, Ordering::AcqRel);
        // Refused only when nothing will ever deliver (the bus was opened
        // without targets): the row stays stored, leased to this life,
        // which gives it back as it closes.
        if self.inner.runnable.send(pending).is_err() {
            self.inner.in_memory.fetch_sub(1, Ordering::AcqRel);
        }
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

fn origin_label(o: &Origin) -> &'static str {
    match o {
        Origin::Api => "api",
        Origin::Platform(_) => "platform",
        Origin::Subject(_) => "nats",
    }
}
