//! The durable workflow engine: executions of States Language machines
//! (decided by `minicloud-asl`), journaled in the database, driven on one
//! node at a time under a lease, with functions as their tasks.
//!
//! Each running execution this node holds is one task (`actor`) that owns
//! its [`Execution`](minicloud_asl::machine::Execution): it takes one
//! signal at a time (a task's answer, a timer, a token sent back, a
//! stop), lets the machine decide, has the events journaled, and only
//! then carries out the commands (runs tasks, arms timers). After a crash, whichever node claims the execution
//! replays its journal and carries out what it still owes: no step that
//! ended runs again; a step in flight may, with the same idempotency key.
//! Timers are not stored apart: the journal says which are armed.
//!
//! - `actor`: one execution driven on this node.
//! - `writer`: the one writer of journals, many executions a transaction.
//! - `tasks`: a task's function invoked through the functions service.
//! - `loops`: claiming executions whose lease ran out, keeping leases,
//!   picking up signals sent through the database.
//! - `park`: letting an idle execution go until a timer is due or a
//!   signal arrives.
//! - `signals`: signals from outside as stored, and task tokens.
//! - [`jsonata`]: tenants' JSONata, evaluated in worker processes.

mod actor;
pub mod jsonata;
mod loops;
mod park;
mod signals;
mod tasks;
mod writer;

use crate::events::platform::OutboxSignal;
use crate::iam::Authorizer;
use crate::services::functions::FunctionService;
use crate::store::projects::Project;
use crate::store::workflows::executions::ExecutionRow;
use crate::store::{Store, StoreError};
use minicloud_asl::definition::Definition;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

pub use signals::{StoredSignal, signal_from_json, token_execution};

/// How long a lease lasts without renewal.
const LEASE: Duration = Duration::from_secs(10);

/// How often a caller waiting for an execution another node drives reads
/// its row again.
const REMOTE_POLL: Duration = Duration::from_millis(200);

/// What an operator sets of the engine.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// How long an execution waits idle in memory before it is parked.
    pub idle: Duration,
    /// Where definitions' JSONata runs; `None`: definitions may not use it.
    pub jsonata: Option<Arc<jsonata::JsonataWorkers>>,
}

/// A signal for an actor, with the stored signal it came from (removed
/// with the events it causes).
#[derive(Debug, Clone)]
struct Message {
    signal: actor::Incoming,
    stored: Option<String>,
}

/// An execution driven on this node.
struct Running {
    messages: mpsc::UnboundedSender<Message>,
    /// Set when the execution ended (or this node let it go).
    ended: watch::Receiver<bool>,
}

/// The engine; cheap to clone.
#[derive(Clone)]
pub struct WorkflowEngine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WorkflowEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkflowEngine")
            .field("node", &self.inner.node)
            .finish_non_exhaustive()
    }
}

struct Inner {
    store: Store,
    /// The lease owner of this life of the node (`<node>/<life>`).
    node: String,
    functions: Arc<FunctionService>,
    /// Reads execution roles, which tasks are authorized against.
    authorizer: Arc<Authorizer>,
    outbox: OutboxSignal,
    journal: writer::JournalWriter,
    running: Mutex<HashMap<String, Running>>,
    /// Stored signals handed to an actor and not yet removed.
    taken: Mutex<HashSet<String>>,
    definitions: Mutex<HashMap<(String, i64), Arc<Definition>>>,
    wake_signals: tokio::sync::Notify,
    /// Wakes the claim loop: a signal may be for a parked execution.
    wake_claims: tokio::sync::Notify,
    /// How long an execution waits idle in memory before it is parked.
    idle: Duration,
    /// Where definitions' JSONata runs, if they may use it.
    jsonata: Option<Arc<jsonata::JsonataWorkers>>,
    /// Decisions that evaluate JSONata at once, at most: each may use a
    /// second of a thread and a worker process.
    jsonata_slots: tokio::sync::Semaphore,
}

/// Why the engine could not take an execution.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored definition or journal no longer reads.
    #[error("execution {0}: {1}")]
    Corrupt(String, String),
    /// A newer engine (of engine version `.1`) wrote the definition: a
    /// node of that version must run it (a rolling upgrade is under way).
    #[error("workflow {0}: its definition was written by engine {1}, newer than this node's")]
    Newer(String, i64),
}

impl WorkflowEngine {
    /// Starts the engine of node `node` (stable across restarts): on a
    /// cold start, takes back what earlier lives of the node held; then
    /// claims executions whose lease ran out, keeps its leases and picks
    /// up signals.
    /// Executions' status events go to the outbox with the journal entries
    /// that decide them; `outbox` wakes its pump. An execution idle for
    /// `settings.idle` is parked (see `park`).
    pub async fn start(
        store: Store,
        node: &str,
        functions: Arc<FunctionService>,
        authorizer: Arc<Authorizer>,
        outbox: OutboxSignal,
        cold: bool,
        settings: EngineSettings,
    ) -> Result<Self, StoreError> {
        if cold {
            store.release_node_execution_leases(node).await?;
        }
        let owner = format!("{node}/{}", crate::util::new_id());
        let engine = Self {
            inner: Arc::new(Inner {
                journal: writer::JournalWriter::spawn(store.clone(), owner.clone()),
                store,
                node: owner,
                functions,
                authorizer,
                outbox,
                running: Mutex::default(),
                taken: Mutex::default(),
                definitions: Mutex::default(),
                wake_signals: tokio::sync::Notify::new(),
                wake_claims: tokio::sync::Notify::new(),
                idle: settings.idle,
                jsonata: settings.jsonata,
                // Half the cores at most: the node serves requests too.
                jsonata_slots: tokio::sync::Semaphore::new(
                    crate::util::cores().map_or(1, |n| (n / 2).max(1)),
                ),
            }),
        };
        engine.spawn_loops();
        Ok(engine)
    }

    /// Whether definitions may use JSONata.
    pub fn jsonata_enabled(&self) -> bool {
        self.inner.jsonata.is_some()
    }

    /// The lease owner of this life of the node.
    pub fn owner(&self) -> &str {
        &self.inner.node
    }

    /// The lease a row written now by this node gets.
    pub fn lease_until(&self) -> i64 {
        crate::util::now_ms() + LEASE.as_millis() as i64
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// A version's definition, parsed once.
    pub async fn definition(&self, workflow_id: &str, version: i64) -> Result<Arc<Definition>, EngineError> {
        let key = (workflow_id.to_owned(), version);
        if let Some(d) = lock(&self.inner.definitions).get(&key) {
            return Ok(d.clone());
        }
        let (text, written_by) = self
            .inner
            .store
            .definition_of(workflow_id, version)
            .await?
            .ok_or_else(|| {
                EngineError::Corrupt(workflow_id.to_owned(), format!("version {version} is missing"))
            })?;
        if written_by > minicloud_asl::machine::ENGINE_VERSION {
            return Err(EngineError::Newer(workflow_id.to_owned(), written_by));
        }
        let definition = Definition::load(&text).map_err(|problems| {
            EngineError::Corrupt(
                workflow_id.to_owned(),
                format!("the stored definition no longer validates: {problems:?}"),
            )
        })?;
        let definition = Arc::new(definition);
        lock(&self.inner.definitions).insert(key, definition.clone());
        Ok(definition)
    }

    /// Drives a new execution (stored by the caller, leased to this node)
    /// from its start; one whose definition a newer engine wrote is left
    /// to a node of that engine (its row says so: see
    /// `insert_execution`).
    pub async fn run_new(&self, row: ExecutionRow, project: &Project) -> Result<(), EngineError> {
        self.take(row, Vec::new(), Some(project)).await
    }

    /// A slot for a decision that evaluates JSONata (none needed for one
    /// that does not).
    async fn jsonata_slot(&self, jsonata: bool) -> Option<tokio::sync::SemaphorePermit<'_>> {
        if !jsonata {
            return None;
        }
        self.inner.jsonata_slots.acquire().await.ok()
    }

    /// Wakes the signal poller: a signal was stored, perhaps for an
    /// execution this node drives.
    pub fn nudge(&self) {
        self.inner.wake_signals.notify_one();
        self.inner.wake_claims.notify_one();
    }

    /// Waits at most `timeout` for the execution `id` to end when this
    /// node drives it; else (another node drives it) only a moment, for
    /// the caller to read its row again.
    pub async fn wait(&self, id: &str, timeout: Duration) {
        let ended = lock(&self.inner.running).get(id).map(|r| r.ended.clone());
        match ended {
            Some(mut ended) => {
                let _ = tokio::time::timeout(timeout, ended.wait_for(|e| *e)).await;
            }
            None => tokio::time::sleep(timeout.min(REMOTE_POLL)).await,
        }
    }

    /// Executions this node drives now.
    pub fn running(&self) -> usize {
        lock(&self.inner.running).len()
    }

    /// Gives up every execution this node drives: another node (or the
    /// next life of this one) takes them at once. Tasks in flight may run
    /// again there, with the same idempotency keys.
    pub async fn close(&self) {
        self.inner.journal.flush().await;
        lock(&self.inner.running).clear();
        if let Err(e) = self.inner.store.release_execution_leases(&self.inner.node).await {
            tracing::warn!(error = %e, "cannot release workflow execution leases");
        }
    }

    /// Starts driving `row` (leased to this node): its journal replayed,
    /// then what it still owes carried out. `signals` go to it first.
    /// `new` is the project of an execution stored just now, whose
    /// journal is empty.
    async fn take(
        &self,
        row: ExecutionRow,
        signals: Vec<Message>,
        new: Option<&Project>,
    ) -> Result<(), EngineError> {
        if lock(&self.inner.running).contains_key(&row.id) {
            return Ok(());
        }
        let definition = match self.definition(&row.workflow_id, row.version).await {
            // Stamped with that engine, so that this node does not claim
            // it again at once.
            Err(EngineError::Newer(workflow, engine)) => {
                tracing::info!(execution = %row.id, %workflow, engine, "left to a node of a newer engine");
                self.inner
                    .store
                    .leave_to_engine(&row.id, &self.inner.node, engine)
                    .await?;
                return Ok(());
            }
            other => other?,
        };
        let project = match new {
            Some(project) => project.clone(),
            None => self
                .inner
                .store
                .project_by_id(&row.project_id)
                .await?
                .ok_or_else(|| EngineError::Corrupt(row.id.clone(), "its project is gone".into()))?,
        };
        let journal = match new {
            Some(_) => Vec::new(),
            None => self.inner.store.journal(&row.id).await?,
        };
        let execution = actor::replay(&row, &project, &journal, &[])?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (ended_tx, ended_rx) = watch::channel(false);
        {
            let mut running = lock(&self.inner.running);
            if running.contains_key(&row.id) {
                return Ok(());
            }
            running.insert(
                row.id.clone(),
                Running {
                    messages: tx.clone(),
                    ended: ended_rx,
                },
            );
        }
        for m in signals {
            let _ = tx.send(m);
        }
        let owner = Arc::new(tasks::TaskOwner {
            id: row.id.clone(),
            workflow: row.workflow.clone(),
            role: row.role.clone(),
        });
        let actor = actor::Actor {
            engine: self.clone(),
            row,
            project,
            definition,
            execution,
            messages: rx,
            own: tx,
            ended: ended_tx,
            owner,
            tokens: Default::default(),
            in_flight: 0,
            timers: Vec::new(),
            host_failures: 0,
        };
        tokio::spawn(actor.run());
        Ok(())
    }

    /// Sends `signal` to execution `id` if this node drives it.
    fn deliver(&self, id: &str, message: Message) -> bool {
        match lock(&self.inner.running).get(id) {
            Some(r) => r.messages.send(message).is_ok(),
            None => false,
        }
    }

    fn forget(&self, id: &str) {
        lock(&self.inner.running).remove(id);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
