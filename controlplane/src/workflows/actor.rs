//! One execution driven on this node: signals in, one at a time (those
//! that arrive together decided together), events journaled, then tasks
//! run and timers armed.

use super::jsonata::{JsonataWorkers, Unanswered};
use super::signals::StoredSignal;
use super::{Message, WorkflowEngine, tasks};
use crate::store::projects::Project;
use crate::store::workflows::executions::ExecutionRow;
use crate::store::workflows::journal::{Append, Ending};
use crate::util::now_ms;
use chrono::{DateTime, SecondsFormat, Utc};
use minicloud_asl::Failure;
use minicloud_asl::context::ExecutionInfo;
use minicloud_asl::definition::Definition;
use minicloud_asl::errors::QUERY_EVALUATION_ERROR;
use minicloud_asl::jsonata::{Env, Request, Template};
use minicloud_asl::machine::{Command, Event, Execution, Progress, Signal, Status, World};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Signals handled before one journal write, at most.
const MAX_SIGNALS_PER_WRITE: usize = 256;

/// The same for an execution that uses JSONata: each signal's decision
/// may take a second, and the slot it holds is shared by every tenant.
const MAX_JSONATA_SIGNALS_PER_WRITE: usize = 4;

/// Decisions taken again after the host failed one of their JSONata
/// evaluations (a worker that could not start or was killed from
/// outside), a pause apart, before the host's failure fails the state.
const HOST_RETRIES: u32 = 5;

/// The first pause before a decision is taken again; it doubles.
const HOST_RETRY_PAUSE: Duration = Duration::from_millis(250);

/// What an actor is told.
#[derive(Debug, Clone)]
pub(super) enum Incoming {
    /// From the engine: a task's end, a timer.
    Machine(Signal),
    /// From outside, through the database.
    Stored(StoredSignal),
}

/// The execution's identity as its states see it (`$$.Execution`).
pub(super) fn info(row: &ExecutionRow, project: &Project) -> ExecutionInfo {
    let base = format!("mrn:workflows:{}:{}", project.org_name, project.name);
    ExecutionInfo {
        id: format!("{base}:execution/{}/{}", row.workflow, row.name),
        name: row.name.clone(),
        input: row.input.clone(),
        start_time: DateTime::<Utc>::from_timestamp_millis(row.started_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Millis, true),
        role: (!row.role.is_empty()).then(|| format!("mrn:iam:{}::role/{}", project.org_name, row.role)),
        workflow_id: format!("{base}:workflow/{}", row.workflow),
        workflow_name: row.workflow.clone(),
    }
}

/// The execution `row` (of `project`) as its stored `journal` and then
/// `decided` (events not journaled yet) make it.
pub(super) fn replay(
    row: &ExecutionRow,
    project: &Project,
    journal: &[String],
    decided: &[Event],
) -> Result<Execution, super::EngineError> {
    let mut execution = Execution::new(info(row, project));
    for text in journal {
        let event: Event = serde_json::from_str(text).map_err(|e| {
            super::EngineError::Corrupt(row.id.clone(), format!("a journal entry does not read: {e}"))
        })?;
        execution.apply(&event);
    }
    for event in decided {
        execution.apply(event);
    }
    Ok(execution)
}

/// The real clock and randomness; tokens name their execution; JSONata
/// runs in the engine's workers.
struct EngineWorld<'a> {
    execution: &'a str,
    jsonata: Option<&'a JsonataWorkers>,
    /// Whether the host's failure of an evaluation discards the decision
    /// (to be taken again) rather than failing the state.
    retry_host: bool,
    /// The host's failure of an evaluation in this decision, if any.
    host_failed: Option<Failure>,
}

impl World for EngineWorld<'_> {
    fn now(&mut self) -> DateTime<Utc> {
        Utc::now()
    }

    fn random(&mut self) -> f64 {
        rand::random()
    }

    fn token(&mut self) -> String {
        format!("{}.{}", self.execution, hex::encode(rand::random::<[u8; 16]>()))
    }

    fn jsonata(&mut self, template: &Template, env: &Env<'_>, field: &str) -> Result<Value, Failure> {
        // The decision is discarded: evaluate nothing more of it.
        if let Some(failure) = &self.host_failed {
            return Err(failure.clone());
        }
        match self.jsonata {
            Some(workers) => match workers.evaluate(&Request::new(template, env, field)) {
                Ok(value) => Ok(value),
                Err(Unanswered::Host(failure)) if self.retry_host => {
                    self.host_failed = Some(failure.clone());
                    Err(failure)
                }
                Err(Unanswered::Failed(failure) | Unanswered::Host(failure)) => Err(failure),
            },
            // Stored while it was on, run after the operator turned it off.
            None => Err(Failure::new(
                QUERY_EVALUATION_ERROR,
                format!("JSONata is turned off on this platform; the field '{field}' was not evaluated"),
            )),
        }
    }
}

/// Runs `decide`, which may evaluate a tenant's JSONata for up to
/// `minicloud_asl::machine::JSONATA_PER_DECISION` when `jsonata`, where it
/// may block: the runtime moves this thread's other tasks elsewhere.
fn blocking<T>(jsonata: bool, decide: impl FnOnce() -> T) -> T {
    let threaded = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if jsonata && threaded {
        tokio::task::block_in_place(decide)
    } else {
        decide()
    }
}

pub(super) struct Actor {
    pub(super) engine: WorkflowEngine,
    pub(super) row: ExecutionRow,
    pub(super) project: Project,
    pub(super) definition: Arc<Definition>,
    pub(super) execution: Execution,
    pub(super) messages: mpsc::UnboundedReceiver<Message>,
    pub(super) own: mpsc::UnboundedSender<Message>,
    pub(super) ended: watch::Sender<bool>,
    /// What its tasks need of it.
    pub(super) owner: Arc<tasks::TaskOwner>,
    /// The task tokens journaled as awaited; empty when the actor starts,
    /// so that its first write records what it waits for (an execution
    /// journaled before tokens were recorded gets them then).
    pub(super) tokens: BTreeSet<String>,
    /// Tasks whose function runs now: while any does, the actor stays.
    pub(super) in_flight: usize,
    /// The timers armed, aborted when the actor parks.
    pub(super) timers: Vec<tokio::task::AbortHandle>,
    /// Decisions in a row that the host failed (see [`HOST_RETRIES`]).
    pub(super) host_failures: u32,
}

impl Actor {
    pub(super) async fn run(mut self) {
        let id = self.row.id.clone();
        let jsonata = self.definition.uses_jsonata();
        // Its own handle: a slot is held while the actor decides.
        let engine = self.engine.clone();
        let first = if self.execution.event_count() == 0 {
            loop {
                let slot = engine.jsonata_slot(jsonata).await;
                if let Some(progress) = self.decide(jsonata, |e, d, w| e.start(d, w)) {
                    break progress;
                }
                drop(slot);
                // Nothing was journaled: back to before its start.
                self.execution = Execution::new(info(&self.row, &self.project));
                tokio::time::sleep(self.host_retry_pause()).await;
            }
        } else {
            Progress {
                events: Vec::new(),
                commands: self.execution.outstanding(),
            }
        };
        let mut kept = self.commit(first, Vec::new()).await;
        // A message whose decision the host failed: taken again first,
        // after a pause, before anything that came after it.
        let mut held: Option<Message> = None;
        while kept && self.execution.status() == Status::Running {
            let message = match held.take() {
                Some(message) => {
                    tokio::time::sleep(self.host_retry_pause()).await;
                    message
                }
                None => match tokio::time::timeout(self.engine.inner.idle, self.messages.recv()).await {
                    Ok(Some(message)) => message,
                    Ok(None) => break,
                    Err(_idle) if self.park().await => return,
                    Err(_idle) => continue,
                },
            };
            let mut progress = Progress::default();
            let mut stored = Vec::new();
            let mut next = Some(message);
            let mut n = 0;
            let slot = engine.jsonata_slot(jsonata).await;
            while let Some(message) = next.take() {
                let task_ended = matches!(
                    message.signal,
                    Incoming::Machine(
                        Signal::TaskSucceeded { .. }
                            | Signal::TaskFailed { .. }
                            | Signal::TaskSubmitted { .. },
                    )
                );
                if task_ended {
                    self.in_flight = self.in_flight.saturating_sub(1);
                }
                // Kept only where the host can fail a decision.
                let again = jsonata.then(|| message.clone());
                let decided = match self.resolve(message.signal) {
                    Some(signal) => self.decide(jsonata, |e, d, w| e.handle(d, signal, w)).map(Some),
                    None => Some(None),
                };
                match decided {
                    Some(p) => {
                        stored.extend(message.stored);
                        if let Some(p) = p {
                            progress.events.extend(p.events);
                            progress.commands.extend(p.commands);
                        }
                    }
                    // Handled again after a pause, once what came before it
                    // is journaled; its stored signal stays stored. The
                    // execution is rebuilt without the failed decision.
                    None => {
                        if task_ended {
                            self.in_flight += 1;
                        }
                        held = again;
                        self.rebuild(&progress.events).await;
                        break;
                    }
                }
                n += 1;
                let most = if jsonata {
                    MAX_JSONATA_SIGNALS_PER_WRITE
                } else {
                    MAX_SIGNALS_PER_WRITE
                };
                if n < most && self.execution.status() == Status::Running {
                    next = self.messages.try_recv().ok();
                }
            }
            drop(slot);
            kept = self.commit(progress, stored).await;
        }
        self.engine.forget(&id);
        let _ = self.ended.send(true);
    }

    /// `decide` on the execution, in a world that evaluates its JSONata;
    /// `None` when the host failed one of its evaluations (and fewer than
    /// [`HOST_RETRIES`] decisions in a row were failed so): the decision
    /// is to be taken again, and the execution, which it changed, must be
    /// rebuilt first ([`Self::rebuild`]). The state fails with the host's
    /// failure only when the host keeps failing. Blocks the thread when
    /// `jsonata` (see [`blocking`]).
    fn decide(
        &mut self,
        jsonata: bool,
        decide: impl FnOnce(&mut Execution, &Definition, &mut dyn World) -> Progress,
    ) -> Option<Progress> {
        let retry_host = jsonata && self.host_failures < HOST_RETRIES;
        let mut world = EngineWorld {
            execution: &self.row.id,
            jsonata: self.engine.inner.jsonata.as_deref(),
            retry_host,
            host_failed: None,
        };
        let (execution, definition) = (&mut self.execution, &self.definition);
        let progress = blocking(jsonata, || decide(execution, definition, &mut world));
        match world.host_failed {
            Some(failure) if retry_host => {
                self.host_failures += 1;
                tracing::warn!(
                    execution = %self.row.id,
                    cause = %failure.cause,
                    tries = self.host_failures,
                    "the host failed a JSONata evaluation; the decision will be taken again"
                );
                metrics::counter!("minicloud_workflow_host_retries_total").increment(1);
                None
            }
            _ => {
                self.host_failures = 0;
                Some(progress)
            }
        }
    }

    /// How long to wait before a decision the host failed is taken again.
    fn host_retry_pause(&self) -> Duration {
        HOST_RETRY_PAUSE * 2u32.saturating_pow(self.host_failures.saturating_sub(1))
    }

    /// The execution as its journal and `decided` (this batch's events,
    /// not journaled yet) make it: what a decision the host failed had
    /// changed is gone. Reads the journal until the database answers.
    async fn rebuild(&mut self, decided: &[Event]) {
        loop {
            let replayed = match self.engine.inner.store.journal(&self.row.id).await {
                Ok(journal) => replay(&self.row, &self.project, &journal, decided),
                Err(e) => Err(e.into()),
            };
            match replayed {
                Ok(execution) => {
                    self.execution = execution;
                    return;
                }
                // The journal read when the actor started: only the
                // database can fail here.
                Err(e) => {
                    tracing::warn!(execution = %self.row.id, error = %e, "cannot read the journal; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// The machine's signal for what came in; `None` for a token the
    /// execution does not wait for (any more).
    fn resolve(&self, incoming: Incoming) -> Option<Signal> {
        let task = |token: &str| self.execution.task_with_token(token);
        match incoming {
            Incoming::Machine(signal) => Some(signal),
            Incoming::Stored(StoredSignal::TaskSuccess { token, output }) => {
                task(&token).map(|task| Signal::TaskSucceeded { task, output })
            }
            Incoming::Stored(StoredSignal::TaskFailure { token, error, cause }) => {
                task(&token).map(|task| Signal::TaskFailed {
                    task,
                    failure: Failure::new(error, cause),
                })
            }
            Incoming::Stored(StoredSignal::TaskHeartbeat { token }) => {
                task(&token).map(|task| Signal::Heartbeat { task })
            }
            Incoming::Stored(StoredSignal::Stop { error, cause }) => Some(Signal::Stop {
                failure: Failure::new(error, cause),
            }),
        }
    }

    /// Journals `progress` (and removes the signals it answered), then
    /// carries out its commands; `false` when another node took the
    /// execution over.
    async fn commit(&mut self, progress: Progress, stored: Vec<String>) -> bool {
        let tokens = self.execution.awaited_tokens();
        // The tasks (state, input) only for tokens new since the last
        // commit: most commits open none.
        let tokens_opened = if tokens.is_subset(&self.tokens) {
            Vec::new()
        } else {
            let mut awaited = self.execution.awaited_tasks();
            awaited.retain(|t| !self.tokens.contains(&t.token));
            awaited
        };
        let tokens_closed: Vec<String> = self.tokens.difference(&tokens).cloned().collect();
        let changed = !tokens_opened.is_empty() || !tokens_closed.is_empty();
        if !progress.events.is_empty() || !stored.is_empty() || changed {
            let events: Vec<(String, i64)> = progress
                .events
                .iter()
                .map(|e| {
                    let body = serde_json::to_string(e).unwrap_or_default();
                    (body, e.at().timestamp_millis())
                })
                .collect();
            let outbox = self.announcements(&progress);
            let announced = !outbox.is_empty();
            let append = Append {
                execution_id: self.row.id.clone(),
                from: self.row.events,
                events,
                end: self.ending(),
                signals: stored.clone(),
                outbox,
                tokens_opened,
                tokens_closed,
            };
            loop {
                match self.engine.inner.journal.append(append.clone()).await {
                    Ok(true) => break,
                    Ok(false) => {
                        tracing::warn!(execution = %self.row.id, "another node took over the execution");
                        return false;
                    }
                    Err(e) => {
                        tracing::warn!(execution = %self.row.id, error = %e, "cannot journal; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
            self.row.events += progress.events.len() as i64;
            self.tokens = tokens;
            if announced {
                self.engine.inner.outbox.written();
            }
            let mut taken = super::lock(&self.engine.inner.taken);
            for s in &stored {
                taken.remove(s);
            }
        }
        self.count(&progress);
        for command in progress.commands {
            match command {
                Command::Invoke(invocation) => {
                    self.in_flight += 1;
                    let engine = self.engine.clone();
                    let project = self.project.clone();
                    let owner = self.owner.clone();
                    let reply = self.own.clone();
                    tokio::spawn(async move {
                        let signal = tasks::run(&engine, &project, &owner, invocation).await;
                        let _ = reply.send(Message {
                            signal: Incoming::Machine(signal),
                            stored: None,
                        });
                    });
                }
                Command::Timer { timer, at } => {
                    let reply = self.own.clone();
                    let wait = (at - Utc::now()).to_std().unwrap_or_default();
                    let armed = tokio::spawn(async move {
                        tokio::time::sleep(wait).await;
                        let _ = reply.send(Message {
                            signal: Incoming::Machine(Signal::TimerFired { timer }),
                            stored: None,
                        });
                    });
                    self.timers.retain(|t| !t.is_finished());
                    self.timers.push(armed.abort_handle());
                }
            }
        }
        true
    }

    fn ending(&self) -> Option<Ending> {
        let status = self.execution.status();
        if status == Status::Running {
            return None;
        }
        let failure = self.execution.failure();
        Some(Ending {
            status: status.as_str(),
            output: self.execution.output().map(Value::to_string),
            error: failure.map(|f| f.error.clone()),
            cause: failure.map(|f| f.cause.clone()),
            at_ms: now_ms(),
            // No task of a definition without `.waitForTaskToken` ever
            // had one.
            tokens: self.definition.uses_task_tokens(),
        })
    }

    /// `minicloud.workflows` "Execution Status Change" events for the
    /// execution's start and end in `progress`, as outbox rows. An
    /// execution started by a chain of deliveries too deep announces
    /// nothing (a rule that starts the workflow on its own events would
    /// loop).
    fn announcements(&self, progress: &Progress) -> Vec<crate::store::outbox::OutboxRow> {
        let changed = progress.events.iter().any(|e| {
            matches!(
                e,
                Event::ExecutionStarted { .. }
                    | Event::ExecutionSucceeded { .. }
                    | Event::ExecutionFailed { .. }
                    | Event::ExecutionTimedOut { .. }
                    | Event::ExecutionAborted { .. }
            )
        });
        if !changed {
            return Vec::new();
        }
        let hops = u32::try_from(self.row.hops).unwrap_or(u32::MAX).saturating_add(1);
        if crate::events::loops::too_deep(hops) {
            crate::events::loops::count(&self.project, "");
            tracing::warn!(execution = %self.row.id, hops, "a status change was not announced: the chain of deliveries that started the execution is too deep");
            return Vec::new();
        }
        let info = info(&self.row, &self.project);
        let status = self.execution.status().as_str();
        let failure = self.execution.failure();
        let event = crate::events::platform::PlatformEvent {
            source: "minicloud.workflows".into(),
            detail_type: "Execution Status Change".into(),
            project_id: self.project.id.clone(),
            resources: vec![info.id.clone(), info.workflow_id.clone()],
            detail: serde_json::json!({
                "executionArn": info.id,
                "executionId": self.row.id,
                "name": self.row.name,
                "workflow": self.row.workflow,
                "stateMachineArn": info.workflow_id,
                "status": status,
                "startDate": self.row.started_ms,
                "stopDate": (status != "RUNNING").then(now_ms),
                "input": self.row.input,
                "output": self.execution.output(),
                "error": failure.map(|f| &f.error),
                "cause": failure.map(|f| &f.cause),
            }),
        };
        vec![event.into_outbox(hops)]
    }

    /// Metrics per workflow and state.
    fn count(&self, progress: &Progress) {
        let workflow = self.row.workflow.clone();
        for event in &progress.events {
            match event {
                Event::StateExited { state, .. } => {
                    metrics::counter!("minicloud_workflow_states_total", "workflow" => workflow.clone(), "state" => state.clone())
                        .increment(1);
                }
                Event::ExecutionStarted { .. } => {
                    metrics::counter!("minicloud_workflow_executions_started_total", "workflow" => workflow.clone())
                        .increment(1);
                }
                Event::ExecutionSucceeded { .. }
                | Event::ExecutionFailed { .. }
                | Event::ExecutionTimedOut { .. }
                | Event::ExecutionAborted { .. } => {
                    let status = self.execution.status().as_str();
                    metrics::counter!("minicloud_workflow_executions_ended_total", "workflow" => workflow.clone(), "status" => status)
                        .increment(1);
                    let seconds = (now_ms() - self.row.started_ms).max(0) as f64 / 1e3;
                    metrics::histogram!("minicloud_workflow_execution_seconds", "workflow" => workflow.clone())
                        .record(seconds);
                }
                _ => {}
            }
        }
    }
}
