//! The journal's events. Each records what was decided (an output, a
//! delay, a token), so that [`Execution::apply`] only follows: replaying a
//! journal rebuilds the execution without deciding anything again.

use super::frames::{Activity, Frame, Iterations, ROOT, TaskWait, after, json_bytes};
use super::{Execution, Status};
use crate::errors::Failure;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One entry of an execution's journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    /// The execution began.
    ExecutionStarted {
        input: Value,
        timeout_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    },
    /// A frame entered a state (and the entry got the next number).
    StateEntered {
        frame: String,
        state: String,
        state_type: String,
        input: Value,
        at: DateTime<Utc>,
    },
    /// A task's function was asked to run.
    TaskScheduled {
        frame: String,
        resource: String,
        input: Value,
        token: Option<String>,
        timeout_at: Option<DateTime<Utc>>,
        heartbeat_seconds: Option<u64>,
        at: DateTime<Utc>,
    },
    /// The function of a task that waits for its token returned: the
    /// task waits for the token now, and a restarted engine does not run
    /// the function again.
    TaskSubmitted { frame: String, at: DateTime<Utc> },
    /// A task that waits for its token sent a heartbeat.
    TaskHeartbeat { frame: String, at: DateTime<Utc> },
    /// A task returned.
    TaskSucceeded {
        frame: String,
        output: Value,
        at: DateTime<Utc>,
    },
    /// A state's work failed: its Retry and Catch decide what follows.
    StateFailed {
        frame: String,
        state_type: String,
        error: String,
        cause: String,
        at: DateTime<Utc>,
    },
    /// A Wait state waits until `until`.
    WaitStarted {
        frame: String,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// Retrier `retrier` runs the state again at `until`.
    RetryScheduled {
        frame: String,
        retrier: usize,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// A Wait state's time or a retry's interval is over.
    TimerFired { frame: String, at: DateTime<Utc> },
    /// A Parallel state's branches or a Map state's iterations, with each
    /// one's input.
    IterationsPlanned {
        frame: String,
        map: bool,
        inputs: Vec<Value>,
        max_concurrency: u64,
        tolerated_count: Option<u64>,
        tolerated_percentage: Option<f64>,
        at: DateTime<Utc>,
    },
    /// Branch or iteration `index` of `frame`'s state began (in the frame
    /// `<frame>/<entry>.<index>`).
    IterationStarted {
        frame: String,
        map: bool,
        index: usize,
        at: DateTime<Utc>,
    },
    /// A frame left a state with `output`, for `next` (or the frame's end).
    StateExited {
        frame: String,
        state: String,
        state_type: String,
        output: Value,
        next: Option<String>,
        /// Workflow variables the state set (its `Assign`), in the frame's
        /// scope.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assigned: Option<serde_json::Map<String, Value>>,
        at: DateTime<Utc>,
    },
    /// A branch or iteration ended with `output`.
    IterationSucceeded {
        frame: String,
        map: bool,
        output: Value,
        at: DateTime<Utc>,
    },
    /// A branch or iteration failed.
    IterationFailed {
        frame: String,
        map: bool,
        error: String,
        cause: String,
        at: DateTime<Utc>,
    },
    /// The execution succeeded.
    ExecutionSucceeded { output: Value, at: DateTime<Utc> },
    /// The execution failed.
    ExecutionFailed {
        error: String,
        cause: String,
        at: DateTime<Utc>,
    },
    /// The execution ran past its `TimeoutSeconds`.
    ExecutionTimedOut {
        error: String,
        cause: String,
        at: DateTime<Utc>,
    },
    /// The execution was stopped.
    ExecutionAborted {
        error: String,
        cause: String,
        at: DateTime<Utc>,
    },
}

impl Event {
    /// The name Step Functions' history gives it (`TaskStateEntered`,
    /// `MapIterationStarted`, ...).
    pub fn history_type(&self) -> String {
        let part = |map: &bool, what: &str| {
            if *map {
                format!("MapIteration{what}")
            } else {
                format!("ParallelBranch{what}")
            }
        };
        match self {
            Self::ExecutionStarted { .. } => "ExecutionStarted".into(),
            Self::StateEntered { state_type, .. } => format!("{state_type}StateEntered"),
            Self::TaskScheduled { .. } => "TaskScheduled".into(),
            Self::TaskSubmitted { .. } => "TaskSubmitted".into(),
            Self::TaskHeartbeat { .. } => "TaskHeartbeat".into(),
            Self::TaskSucceeded { .. } => "TaskSucceeded".into(),
            Self::StateFailed {
                state_type, error, ..
            } => match state_type.as_str() {
                "Task" if error == crate::errors::TIMEOUT || error == crate::errors::HEARTBEAT_TIMEOUT => {
                    "TaskTimedOut".into()
                }
                "Task" => "TaskFailed".into(),
                other => format!("{other}StateFailed"),
            },
            Self::WaitStarted { .. } => "WaitStarted".into(),
            Self::RetryScheduled { .. } => "RetryScheduled".into(),
            Self::TimerFired { .. } => "TimerFired".into(),
            Self::IterationsPlanned { map: true, .. } => "MapStateStarted".into(),
            Self::IterationsPlanned { map: false, .. } => "ParallelStateStarted".into(),
            Self::IterationStarted { map, .. } => part(map, "Started"),
            Self::StateExited { state_type, .. } => format!("{state_type}StateExited"),
            Self::IterationSucceeded { map, .. } => part(map, "Succeeded"),
            Self::IterationFailed { map, .. } => part(map, "Failed"),
            Self::ExecutionSucceeded { .. } => "ExecutionSucceeded".into(),
            Self::ExecutionFailed { .. } => "ExecutionFailed".into(),
            Self::ExecutionTimedOut { .. } => "ExecutionTimedOut".into(),
            Self::ExecutionAborted { .. } => "ExecutionAborted".into(),
        }
    }

    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::ExecutionStarted { at, .. }
            | Self::StateEntered { at, .. }
            | Self::TaskScheduled { at, .. }
            | Self::TaskSubmitted { at, .. }
            | Self::TaskHeartbeat { at, .. }
            | Self::TaskSucceeded { at, .. }
            | Self::StateFailed { at, .. }
            | Self::WaitStarted { at, .. }
            | Self::RetryScheduled { at, .. }
            | Self::TimerFired { at, .. }
            | Self::IterationsPlanned { at, .. }
            | Self::IterationStarted { at, .. }
            | Self::StateExited { at, .. }
            | Self::IterationSucceeded { at, .. }
            | Self::IterationFailed { at, .. }
            | Self::ExecutionSucceeded { at, .. }
            | Self::ExecutionFailed { at, .. }
            | Self::ExecutionTimedOut { at, .. }
            | Self::ExecutionAborted { at, .. } => *at,
        }
    }
}

impl Execution {
    /// Follows one event of the journal. Events that name a frame the
    /// execution no longer has (an iteration aborted when its state
    /// failed) change nothing.
    pub fn apply(&mut self, event: &Event) {
        self.events += 1;
        self.bytes += super::frames::json_bytes(event) as u64;
        match event {
            Event::ExecutionStarted { timeout_at, at, .. } => {
                self.timeout_at = *timeout_at;
                self.frames
                    .insert(ROOT.to_owned(), Frame::new(Vec::new(), None, *at));
            }
            Event::StateEntered {
                frame,
                state,
                input,
                at,
                ..
            } => {
                let entry = self.next_entry;
                self.next_entry += 1;
                if let Some(f) = self.frames.get_mut(frame) {
                    f.state.clone_from(state);
                    f.input = input.clone();
                    f.entered = *at;
                    f.entry = entry;
                    f.attempt = 0;
                    f.counts.clear();
                    f.activity = Activity::Entered;
                }
            }
            Event::TaskScheduled {
                frame,
                resource,
                input,
                token,
                timeout_at,
                heartbeat_seconds,
                at,
            } => self.set_activity(
                frame,
                Activity::Task(TaskWait {
                    resource: resource.clone(),
                    input: input.clone(),
                    token: token.clone(),
                    timeout_at: *timeout_at,
                    heartbeat_seconds: *heartbeat_seconds,
                    heartbeat_at: heartbeat_seconds.map(|s| after(*at, s)),
                    submitted: false,
                }),
            ),
            Event::TaskSubmitted { frame, .. } => {
                if let Some(Activity::Task(task)) = self.frames.get_mut(frame).map(|f| &mut f.activity) {
                    task.submitted = true;
                }
            }
            Event::TaskHeartbeat { frame, at } => {
                if let Some(Activity::Task(task)) = self.frames.get_mut(frame).map(|f| &mut f.activity) {
                    task.heartbeat_at = task.heartbeat_seconds.map(|s| after(*at, s));
                }
            }
            Event::TaskSucceeded { frame, output, .. } => {
                self.set_activity(frame, Activity::Done(Ok(output.clone())));
            }
            Event::StateFailed {
                frame, error, cause, ..
            } => {
                self.abort_iterations_of(frame);
                self.set_activity(frame, Activity::Done(Err(Failure::new(error, cause))));
            }
            Event::WaitStarted { frame, until, .. } => self.set_activity(
                frame,
                Activity::Timer {
                    until: *until,
                    purpose: super::TimerPurpose::Wait,
                },
            ),
            Event::RetryScheduled {
                frame,
                retrier,
                until,
                ..
            } => {
                if let Some(f) = self.frames.get_mut(frame) {
                    if f.counts.len() <= *retrier {
                        f.counts.resize(retrier + 1, 0);
                    }
                    f.counts[*retrier] += 1;
                    f.attempt += 1;
                    f.activity = Activity::Timer {
                        until: *until,
                        purpose: super::TimerPurpose::Retry,
                    };
                }
            }
            Event::TimerFired { frame, .. } => {
                let next = match self.frames.get(frame).map(|f| &f.activity) {
                    Some(Activity::Timer {
                        purpose: super::TimerPurpose::Retry,
                        ..
                    }) => Activity::Entered,
                    _ => Activity::Done(Ok(Value::Null)),
                };
                self.set_activity(frame, next);
            }
            Event::IterationsPlanned {
                frame,
                map,
                inputs,
                max_concurrency,
                tolerated_count,
                tolerated_percentage,
                ..
            } => self.set_activity(
                frame,
                Activity::Iterations(Iterations {
                    map: *map,
                    results: vec![None; inputs.len()],
                    inputs: inputs.clone(),
                    started: 0,
                    running: 0,
                    limit: *max_concurrency,
                    tolerated_count: *tolerated_count,
                    tolerated_percentage: *tolerated_percentage,
                    first_failure: None,
                }),
            ),
            Event::IterationStarted { frame, index, at, .. } => {
                let Some(parent) = self.frames.get_mut(frame) else {
                    return;
                };
                let mut scope = parent.scope.clone();
                let Activity::Iterations(iterations) = &mut parent.activity else {
                    return;
                };
                iterations.started += 1;
                iterations.running += 1;
                scope.push((parent.state.clone(), if iterations.map { 0 } else { *index }));
                let child = format!("{frame}/{}.{index}", parent.entry);
                self.frames
                    .insert(child, Frame::new(scope, Some((frame.clone(), *index)), *at));
            }
            Event::StateExited {
                frame,
                assigned: Some(assigned),
                ..
            } => {
                if let Some(f) = self.frames.get_mut(frame) {
                    for (name, value) in assigned {
                        let old = f.variables.insert(name.clone(), value.clone());
                        f.variables_bytes = f.variables_bytes + json_bytes(value)
                            - old.as_ref().map_or(0, json_bytes).min(f.variables_bytes);
                    }
                }
            }
            Event::StateExited { .. } => {}
            Event::IterationSucceeded { frame, output, .. } => self.end_iteration(frame, Ok(output.clone())),
            Event::IterationFailed {
                frame, error, cause, ..
            } => self.end_iteration(frame, Err(Failure::new(error, cause))),
            Event::ExecutionSucceeded { output, .. } => {
                self.end(Status::Succeeded);
                self.output = Some(output.clone());
            }
            Event::ExecutionFailed { error, cause, .. } => self.end_with(Status::Failed, error, cause),
            Event::ExecutionTimedOut { error, cause, .. } => self.end_with(Status::TimedOut, error, cause),
            Event::ExecutionAborted { error, cause, .. } => self.end_with(Status::Aborted, error, cause),
        }
    }

    fn set_activity(&mut self, frame: &str, activity: Activity) {
        if let Some(f) = self.frames.get_mut(frame) {
            f.activity = activity;
        }
    }

    /// Drops every frame below `frame`: its iterations, theirs, and so on.
    fn abort_iterations_of(&mut self, frame: &str) {
        let prefix = format!("{frame}/");
        self.frames.retain(|id, _| !id.starts_with(&prefix));
    }

    fn end_iteration(&mut self, frame: &str, result: Result<Value, Failure>) {
        self.abort_iterations_of(frame);
        let Some(Frame {
            parent: Some((parent, index)),
            ..
        }) = self.frames.remove(frame)
        else {
            return;
        };
        if let Some(Activity::Iterations(iterations)) = self.frames.get_mut(&parent).map(|f| &mut f.activity)
        {
            iterations.running = iterations.running.saturating_sub(1);
            if let Err(failure) = &result
                && iterations.first_failure.is_none()
            {
                iterations.first_failure = Some(failure.clone());
            }
            if let Some(slot) = iterations.results.get_mut(index) {
                *slot = Some(result);
            }
        }
    }

    fn end(&mut self, status: Status) {
        self.status = status;
        self.frames.clear();
        self.timeout_at = None;
    }

    fn end_with(&mut self, status: Status, error: &str, cause: &str) {
        self.end(status);
        self.failure = Some(Failure::new(error, cause));
    }
}

impl Frame {
    fn new(scope: Vec<(String, usize)>, parent: Option<(String, usize)>, at: DateTime<Utc>) -> Self {
        Self {
            scope,
            parent,
            state: String::new(),
            input: Value::Null,
            entered: at,
            entry: 0,
            attempt: 0,
            counts: Vec::new(),
            activity: Activity::Entered,
            variables: serde_json::Map::new(),
            variables_bytes: 0,
        }
    }
}
