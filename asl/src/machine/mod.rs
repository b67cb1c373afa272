//! The interpreter: an execution as a journal of typed events, and the
//! decisions that write it.
//!
//! An execution is a tree of frames. The root frame (`""`) runs the
//! definition; each Parallel branch and Map iteration runs in a child frame
//! (`<parent>/<entry>.<index>`). A frame is in one state at a time, and
//! each entry into a state gets a number, unique in the execution, that
//! every retry of that entry shares: it is the task's idempotency key.
//!
//! - `events`: what the journal holds, each with one `apply`. Replaying a
//!   journal is applying its events in order; nothing is decided again.
//! - `frames`: a frame and what it waits for (a task, a timer, its
//!   iterations).
//! - `live`: the decisions. [`Execution::start`] and [`Execution::handle`]
//!   take the time, randomness and task tokens from a [`World`], decide,
//!   apply and return the new events with the [`Command`]s the engine must
//!   carry out; the events carry every value decided (outputs, delays,
//!   tokens), so a replay needs no world.
//!
//! - [`simulate`]: an execution run to its end in memory, in virtual time.
//!
//! After a restart the engine applies the stored events to
//! [`Execution::new`] and asks [`Execution::outstanding`] for the tasks
//! and timers still open.

mod events;
mod frames;
#[cfg(test)]
mod jsonata_tests;
mod live;
pub mod simulate;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod variables_tests;

pub use events::Event;
pub(crate) use frames::json_bytes;
pub use frames::{TaskRef, TimerPurpose, TimerRef};
pub use live::Progress;

use crate::context::ExecutionInfo;
use crate::errors::Failure;
use crate::jsonata::{Env, Template};
use chrono::{DateTime, Utc};
use frames::Frame;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A task that waits for its task token to be answered.
#[derive(Debug, Clone, PartialEq)]
pub struct AwaitedTask {
    /// The token an answer names.
    pub token: String,
    /// The Task state.
    pub state: String,
    /// Its resource.
    pub resource: String,
    /// Its input (the payload sent with the token).
    pub input: Value,
}

/// The largest input or output a state may pass on, in bytes of JSON
/// (Step Functions' limit).
pub const MAX_PAYLOAD: usize = 256 * 1024;

/// The time one decision (the states a signal moves through) may spend
/// evaluating JSONata, all expressions together: a tenant's expressions
/// must not hold an engine's thread.
pub const JSONATA_PER_DECISION: std::time::Duration = std::time::Duration::from_secs(1);

/// The version of what this interpreter reads: the events of a journal and
/// the fields of a definition. It goes up whenever an older interpreter
/// could not read what this one writes (a new event, a new field); a node
/// takes only executions whose journal an engine of this version or older
/// wrote. 2: workflow variables in JSONPath states. 3: a JSONata Choice
/// rule that matches applies only its own `Output` and `Assign` (an older
/// engine would decide the same state differently).
pub const ENGINE_VERSION: i64 = 3;

/// Events an execution's journal may hold; the execution fails with
/// `States.Runtime` when it reaches them (Step Functions' limit).
pub const MAX_EVENTS: u64 = 25_000;

/// Bytes of JSON an execution's journal may hold; the execution fails
/// with `States.Runtime` when its events pass them. Step Functions sets no
/// such limit, but its events and payloads allow 25,000 events of 256 KiB
/// each (6 GiB); no state machine that works needs more than this.
pub const MAX_JOURNAL_BYTES: u64 = 100 * 1024 * 1024;

/// Iterations of an inline Map state that run at once, at most, whatever
/// its `MaxConcurrency` says (Step Functions' limit).
pub const MAX_MAP_CONCURRENCY: u64 = 40;

/// What an execution takes from outside when it decides: the time,
/// randomness (retry jitter), task tokens, and where JSONata runs.
pub trait World {
    /// Now.
    fn now(&mut self) -> DateTime<Utc>;
    /// A number in `0.0..1.0`.
    fn random(&mut self) -> f64;
    /// A fresh, unguessable task token.
    fn token(&mut self) -> String;
    /// `template` applied in `env` for the ASL field `field`: here, on the
    /// caller's thread, unless the world evaluates tenants' expressions
    /// elsewhere (an engine runs them in processes with their own memory
    /// limit; see [`crate::jsonata::Request`]).
    fn jsonata(&mut self, template: &Template, env: &Env<'_>, field: &str) -> Result<Value, Failure> {
        template.apply(env, field)
    }
}

/// Where an execution stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Not started, or running.
    Running,
    /// Ended with an output.
    Succeeded,
    /// Ended with an error.
    Failed,
    /// Ran past its `TimeoutSeconds`.
    TimedOut,
    /// Stopped from outside.
    Aborted,
}

impl Status {
    /// The name Step Functions gives it (`SUCCEEDED`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::TimedOut => "TIMED_OUT",
            Self::Aborted => "ABORTED",
        }
    }
}

/// Something that happened to a running execution, from outside.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// A task returned.
    TaskSucceeded {
        /// Which.
        task: TaskRef,
        /// Its result.
        output: Value,
    },
    /// A task failed.
    TaskFailed {
        /// Which.
        task: TaskRef,
        /// Its error and cause.
        failure: Failure,
    },
    /// The function of a task that waits for its token returned.
    TaskSubmitted {
        /// Which.
        task: TaskRef,
    },
    /// A task that waits for its token is still alive.
    Heartbeat {
        /// Which.
        task: TaskRef,
    },
    /// A timer came due.
    TimerFired {
        /// Which.
        timer: TimerRef,
    },
    /// Someone stopped the execution.
    Stop {
        /// The error and cause it ends with.
        failure: Failure,
    },
}

/// What the engine must do for an execution.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run a task's function.
    Invoke(Invocation),
    /// Signal [`Signal::TimerFired`] at `at` (a timer with the same
    /// [`TimerRef`] replaces the earlier one).
    Timer {
        /// Which.
        timer: TimerRef,
        /// When.
        at: DateTime<Utc>,
    },
}

/// A task to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// Which task, to signal its end with.
    pub task: TaskRef,
    /// The function, as the definition names it.
    pub resource: String,
    /// Its effective input.
    pub input: Value,
    /// Its token, when the task ends only when the token is sent back.
    pub token: Option<String>,
    /// The state's name.
    pub state: String,
}

/// An execution: its status and frames, as its journal built them.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    info: ExecutionInfo,
    status: Status,
    output: Option<Value>,
    failure: Option<Failure>,
    timeout_at: Option<DateTime<Utc>>,
    frames: BTreeMap<String, Frame>,
    next_entry: u64,
    events: u64,
    /// What its events weigh, in bytes of JSON.
    bytes: u64,
}

impl Execution {
    /// An execution before its first event.
    pub fn new(info: ExecutionInfo) -> Self {
        Self {
            info,
            status: Status::Running,
            output: None,
            failure: None,
            timeout_at: None,
            frames: BTreeMap::new(),
            next_entry: 0,
            events: 0,
            bytes: 0,
        }
    }

    /// Who it is.
    pub fn info(&self) -> &ExecutionInfo {
        &self.info
    }

    /// Where it stands.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Its output, once it succeeded.
    pub fn output(&self) -> Option<&Value> {
        self.output.as_ref()
    }

    /// Its error and cause, once it failed, timed out or was stopped.
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// How many events its journal holds.
    pub fn event_count(&self) -> u64 {
        self.events
    }

    /// What its journal's events weigh, in bytes of JSON.
    pub fn journal_bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether `task` is a task the execution still waits for.
    pub fn awaits(&self, task: &TaskRef) -> bool {
        self.frames
            .get(&task.frame)
            .is_some_and(|f| f.current_task(&task.frame).as_ref() == Some(task))
    }

    /// The task whose token is `token`, while the execution waits for it.
    pub fn task_with_token(&self, token: &str) -> Option<TaskRef> {
        self.frames.iter().find_map(|(id, frame)| match &frame.activity {
            frames::Activity::Task(task) if task.token.as_deref() == Some(token) => frame.current_task(id),
            _ => None,
        })
    }

    /// The frames whose task waits for a token, with the token (none once
    /// it ended).
    fn waiting_for_tokens(&self) -> impl Iterator<Item = (&Frame, &frames::TaskWait, &String)> {
        let running = self.status == Status::Running;
        self.frames
            .values()
            .filter(move |_| running)
            .filter_map(|frame| match &frame.activity {
                frames::Activity::Task(task) => Some((frame, task, task.token.as_ref()?)),
                _ => None,
            })
    }

    /// The tokens of the tasks it waits for (none once it ended): the only
    /// tokens an answer may name.
    pub fn awaited_tokens(&self) -> BTreeSet<String> {
        self.waiting_for_tokens()
            .map(|(_, _, token)| token.clone())
            .collect()
    }

    /// The tasks it waits for whose token someone must answer (none once
    /// it ended), with their state, resource and input: what an inbox
    /// shows.
    pub fn awaited_tasks(&self) -> Vec<AwaitedTask> {
        self.waiting_for_tokens()
            .map(|(frame, task, token)| AwaitedTask {
                token: token.clone(),
                state: frame.state.clone(),
                resource: task.resource.clone(),
                input: task.input.clone(),
            })
            .collect()
    }

    /// Every task and timer still open: what a restarted engine must run
    /// and arm again.
    pub fn outstanding(&self) -> Vec<Command> {
        let mut commands = Vec::new();
        if self.status != Status::Running {
            return commands;
        }
        if let Some(at) = self.timeout_at {
            commands.push(Command::Timer {
                timer: TimerRef::execution(),
                at,
            });
        }
        for (id, frame) in &self.frames {
            commands.extend(frame.commands(id, None));
        }
        commands
    }
}
