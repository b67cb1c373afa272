//! A frame: the root state machine, one Parallel branch or one Map
//! iteration, in one state at a time, and what that state waits for.

use super::{Command, Invocation};
use crate::definition::{Definition, Kind};
use crate::errors::Failure;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The root frame's id.
pub(crate) const ROOT: &str = "";

/// One attempt of one task: the frame, the state entry and the retry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TaskRef {
    /// The frame's id.
    pub frame: String,
    /// The state entry's number: the same for every retry.
    pub entry: u64,
    /// The retry (0 for the first attempt): `$$.State.RetryCount`.
    pub attempt: u32,
}

impl TaskRef {
    /// The idempotency key of the state entry in execution `execution`:
    /// the same for every attempt, and for an attempt run again after a
    /// restart.
    pub fn idempotency_key(&self, execution: &str) -> String {
        format!("{execution}/{}", self.entry)
    }
}

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerPurpose {
    /// A Wait state.
    Wait,
    /// The interval before a retry.
    Retry,
    /// A task's `TimeoutSeconds`.
    TaskTimeout,
    /// A task's `HeartbeatSeconds`.
    Heartbeat,
    /// The execution's `TimeoutSeconds`.
    Execution,
}

/// One timer: a frame's state entry and attempt, and what it is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimerRef {
    /// The frame's id (the root's for the execution's timeout).
    pub frame: String,
    /// The state entry's number.
    pub entry: u64,
    /// The attempt.
    pub attempt: u32,
    /// What for.
    pub purpose: TimerPurpose,
}

impl TimerRef {
    /// The execution's timeout.
    pub(crate) fn execution() -> Self {
        Self {
            frame: ROOT.to_owned(),
            entry: 0,
            attempt: 0,
            purpose: TimerPurpose::Execution,
        }
    }
}

/// A frame.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Frame {
    /// From the top definition to this frame's: each step a Parallel or
    /// Map state's name and the branch (0 for a Map).
    pub(crate) scope: Vec<(String, usize)>,
    /// The parent frame and this frame's index among its iterations.
    pub(crate) parent: Option<(String, usize)>,
    /// The current state.
    pub(crate) state: String,
    /// The current state's raw input.
    pub(crate) input: Value,
    /// When the state was entered.
    pub(crate) entered: DateTime<Utc>,
    /// The state entry's number.
    pub(crate) entry: u64,
    /// Retries of this entry so far.
    pub(crate) attempt: u32,
    /// Retries per retrier.
    pub(crate) counts: Vec<u32>,
    /// What the state is doing.
    pub(crate) activity: Activity,
    /// The workflow variables this frame's scope set (the root's are the
    /// execution's; a branch or iteration sees its parents' too).
    pub(crate) variables: serde_json::Map<String, Value>,
    /// What those variables weigh, in bytes of JSON.
    pub(crate) variables_bytes: usize,
}

/// What `value` weighs in bytes of JSON, counted as it is written out,
/// without keeping the text.
pub(crate) fn json_bytes(value: &impl serde::Serialize) -> usize {
    /// A writer that only counts.
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a `Value` or an event to a writer that never fails cannot
    // fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// What a frame's state is doing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Activity {
    /// Just entered (or about to be retried): its work has not begun.
    Entered,
    /// Waiting for a task.
    Task(TaskWait),
    /// Waiting for a Wait state's time or a retry's interval.
    Timer {
        until: DateTime<Utc>,
        purpose: TimerPurpose,
    },
    /// Running its branches or iterations.
    Iterations(Iterations),
    /// Its work is done: the raw result, or the failure that Retry and
    /// Catch decide about.
    Done(Result<Value, Failure>),
}

/// A task in flight.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TaskWait {
    pub(crate) resource: String,
    pub(crate) input: Value,
    pub(crate) token: Option<String>,
    pub(crate) timeout_at: Option<DateTime<Utc>>,
    pub(crate) heartbeat_seconds: Option<u64>,
    pub(crate) heartbeat_at: Option<DateTime<Utc>>,
    /// Its function returned and it waits only for its token: nothing to
    /// run again.
    pub(crate) submitted: bool,
}

/// A Parallel state's branches or a Map state's iterations.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Iterations {
    /// A Map (its branches are one processor) or a Parallel.
    pub(crate) map: bool,
    /// Each one's input.
    pub(crate) inputs: Vec<Value>,
    /// Each one's end, once it ended.
    pub(crate) results: Vec<Option<Result<Value, Failure>>>,
    /// How many have started.
    pub(crate) started: usize,
    /// How many run now.
    pub(crate) running: usize,
    /// How many may run at once (0: all).
    pub(crate) limit: u64,
    /// Failed iterations tolerated: a count and a percentage.
    pub(crate) tolerated_count: Option<u64>,
    pub(crate) tolerated_percentage: Option<f64>,
    /// The first failure.
    pub(crate) first_failure: Option<Failure>,
}

impl Iterations {
    pub(crate) fn failed(&self) -> usize {
        self.results.iter().filter(|r| matches!(r, Some(Err(_)))).count()
    }

    pub(crate) fn ended(&self) -> usize {
        self.results.iter().filter(|r| r.is_some()).count()
    }

    /// Whether the failures so far are within what the state tolerates.
    pub(crate) fn tolerates(&self) -> bool {
        let failed = self.failed();
        if failed == 0 {
            return true;
        }
        let by_count = self.tolerated_count.is_some_and(|c| failed as u64 <= c);
        let by_share = self.tolerated_percentage.is_some_and(|p| {
            let total = self.inputs.len().max(1) as f64;
            failed as f64 * 100.0 / total <= p
        });
        by_count || by_share
    }

    /// Whether the state tolerates failures at all (its failure is then
    /// `States.ExceedToleratedFailureThreshold`, not an iteration's).
    pub(crate) fn has_tolerance(&self) -> bool {
        self.tolerated_count.is_some_and(|c| c > 0) || self.tolerated_percentage.is_some_and(|p| p > 0.0)
    }
}

impl Frame {
    /// The task this frame waits for.
    pub(crate) fn current_task(&self, id: &str) -> Option<TaskRef> {
        matches!(self.activity, Activity::Task(_)).then(|| TaskRef {
            frame: id.to_owned(),
            entry: self.entry,
            attempt: self.attempt,
        })
    }

    pub(crate) fn timer(&self, id: &str, purpose: TimerPurpose) -> TimerRef {
        TimerRef {
            frame: id.to_owned(),
            entry: self.entry,
            attempt: self.attempt,
            purpose,
        }
    }

    /// The commands this frame's activity needs; with `only`, just that
    /// timer (a heartbeat re-arms its timer and runs nothing).
    pub(crate) fn commands(&self, id: &str, only: Option<TimerPurpose>) -> Vec<Command> {
        let mut out = Vec::new();
        match &self.activity {
            Activity::Task(task) => {
                if only.is_none()
                    && !task.submitted
                    && let Some(task_ref) = self.current_task(id)
                {
                    out.push(Command::Invoke(Invocation {
                        task: task_ref,
                        resource: task.resource.clone(),
                        input: task.input.clone(),
                        token: task.token.clone(),
                        state: self.state.clone(),
                    }));
                }
                let timers = [
                    (TimerPurpose::TaskTimeout, task.timeout_at),
                    (TimerPurpose::Heartbeat, task.heartbeat_at),
                ];
                for (purpose, at) in timers {
                    if let Some(at) = at
                        && only.is_none_or(|o| o == purpose)
                    {
                        out.push(Command::Timer {
                            timer: self.timer(id, purpose),
                            at,
                        });
                    }
                }
            }
            Activity::Timer { until, purpose } if only.is_none_or(|o| o == *purpose) => {
                out.push(Command::Timer {
                    timer: self.timer(id, *purpose),
                    at: *until,
                });
            }
            _ => {}
        }
        out
    }
}

/// The state machine a frame runs: the definition itself, a branch or a
/// processor.
pub(crate) fn scope<'d>(definition: &'d Definition, scope: &[(String, usize)]) -> Option<&'d Definition> {
    let mut machine = definition;
    for (state, branch) in scope {
        machine = match &machine.states.get(state)?.kind {
            Kind::Parallel { branches, .. } => branches.get(*branch)?,
            Kind::Map(map) => &map.processor,
            _ => return None,
        };
    }
    Some(machine)
}

/// `seconds` after `at`, or the last instant there is.
pub(crate) fn after(at: DateTime<Utc>, seconds: u64) -> DateTime<Utc> {
    let delta = chrono::TimeDelta::try_seconds(i64::try_from(seconds).unwrap_or(i64::MAX));
    delta
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
