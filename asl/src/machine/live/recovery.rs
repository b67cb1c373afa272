//! Signals from outside a decision (a task's end, a heartbeat, a timer,
//! a stop), a state's failure, and what Retry and Catch make of it.

use super::{Live, check_size, type_name};
use crate::definition::{Kind, State};
use crate::errors::{self, Failure};
use crate::machine::events::Event;
use crate::machine::frames::Activity;
use crate::machine::{Signal, TimerPurpose, TimerRef};
use crate::paths::Bindings;
use crate::retry::{self, Recovery};
use crate::variables::Assign;
use chrono::{DateTime, Utc};

impl<'d> Live<'_, 'd> {
    pub(super) fn signal(&mut self, signal: Signal) {
        match signal {
            Signal::TaskSucceeded { task, output } if self.exec.awaits(&task) => {
                match check_size(&output, "the task's result") {
                    Ok(()) => self.emit(Event::TaskSucceeded {
                        frame: task.frame.clone(),
                        output,
                        at: self.now,
                    }),
                    Err(failure) => self.state_failed(&task.frame, failure),
                }
                self.queue.push_back(task.frame);
            }
            Signal::TaskFailed { task, failure } if self.exec.awaits(&task) => {
                self.state_failed(&task.frame, failure);
            }
            Signal::TaskSubmitted { task } if self.exec.awaits(&task) => {
                self.emit(Event::TaskSubmitted {
                    frame: task.frame.clone(),
                    at: self.now,
                });
            }
            Signal::Heartbeat { task } if self.exec.awaits(&task) => {
                self.emit(Event::TaskHeartbeat {
                    frame: task.frame.clone(),
                    at: self.now,
                });
                self.schedule(&task.frame, Some(TimerPurpose::Heartbeat));
            }
            Signal::TimerFired { timer } => self.timer_fired(&timer),
            Signal::Stop { failure } => self.emit(Event::ExecutionAborted {
                error: failure.error,
                cause: failure.cause,
                at: self.now,
            }),
            _ => {}
        }
    }

    pub(super) fn timer_fired(&mut self, timer: &TimerRef) {
        if timer.purpose == TimerPurpose::Execution {
            if self.exec.timeout_at.is_some_and(|t| t <= self.now) {
                self.emit(Event::ExecutionTimedOut {
                    error: errors::TIMEOUT.into(),
                    cause: "the execution ran longer than its TimeoutSeconds".into(),
                    at: self.now,
                });
            }
            return;
        }
        let Some(frame) = self.exec.frames.get(&timer.frame) else {
            return;
        };
        if frame.entry != timer.entry || frame.attempt != timer.attempt {
            return;
        }
        let due = |at: Option<DateTime<Utc>>| at.is_some_and(|at| at <= self.now);
        let failure = match (&frame.activity, timer.purpose) {
            (Activity::Timer { until, purpose }, p) if *purpose == p => {
                if due(Some(*until)) {
                    self.emit(Event::TimerFired {
                        frame: timer.frame.clone(),
                        at: self.now,
                    });
                    self.queue.push_back(timer.frame.clone());
                } else {
                    // Early (another node's clock): armed again.
                    self.schedule(&timer.frame, Some(p));
                }
                return;
            }
            (Activity::Task(task), TimerPurpose::TaskTimeout) if due(task.timeout_at) => Failure::new(
                errors::TIMEOUT,
                "the task did not finish within its TimeoutSeconds",
            ),
            (Activity::Task(task), TimerPurpose::Heartbeat) if due(task.heartbeat_at) => Failure::new(
                errors::HEARTBEAT_TIMEOUT,
                "the task sent no heartbeat within its HeartbeatSeconds",
            ),
            (Activity::Task(_), p @ (TimerPurpose::TaskTimeout | TimerPurpose::Heartbeat)) => {
                self.schedule(&timer.frame, Some(p));
                return;
            }
            _ => return,
        };
        self.state_failed(&timer.frame.clone(), failure);
    }

    /// The state of frame `id` failed: Retry and Catch decide next.
    pub(super) fn state_failed(&mut self, id: &str, failure: Failure) {
        let state_type = self.state_of(id).map_or("Task", |s| type_name(&s.kind));
        self.emit(Event::StateFailed {
            frame: id.to_owned(),
            state_type: state_type.to_owned(),
            error: failure.error,
            cause: failure.cause,
            at: self.now,
        });
        self.queue.push_back(id.to_owned());
    }

    pub(super) fn recover(&mut self, id: &str, state: &'d State, failure: Failure) {
        let (retriers, catchers) = match &state.kind {
            Kind::Task(task) => (&task.retry[..], &task.catch[..]),
            Kind::Parallel { retry, catch, .. } => (&retry[..], &catch[..]),
            Kind::Map(map) => (&map.retry[..], &map.catch[..]),
            _ => (&[][..], &[][..]),
        };
        let counts = self
            .exec
            .frames
            .get(id)
            .map(|f| f.counts.clone())
            .unwrap_or_default();
        let random = self.world.random();
        match retry::recover(retriers, catchers, &failure, &counts, random) {
            Recovery::Retry { retrier, delay } => {
                let until = chrono::TimeDelta::from_std(delay)
                    .ok()
                    .and_then(|d| self.now.checked_add_signed(d))
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                self.emit(Event::RetryScheduled {
                    frame: id.to_owned(),
                    retrier,
                    until,
                    at: self.now,
                });
                self.schedule(id, None);
            }
            Recovery::Catch { catcher } if state.jsonata.is_some() => {
                self.catch_jsonata(id, state, &catchers[catcher], &failure);
            }
            Recovery::Catch { catcher } => {
                let catcher = &catchers[catcher];
                let input = self.input_of(id);
                let error_output = failure.to_json();
                let (ctx, variables) = (self.context(id, None, None), self.variables(id));
                let bindings = Bindings::new(&ctx, &variables);
                // The catcher's `Assign` reads the error output as `$`, and
                // sets variables in the failed state's own scope.
                let assign = catcher.assign.as_ref().and_then(Assign::payload);
                let leaving = self
                    .assign_jsonpath(id, assign, &error_output, &bindings)
                    .and_then(|assigned| {
                        let output = match &catcher.result_path {
                            None => input,
                            Some(path) => path.set(input, error_output).map_err(Failure::runtime)?,
                        };
                        Ok((output, assigned))
                    });
                match leaving {
                    Ok((output, assigned)) => self.exit(id, state, output, Some(&catcher.next), assigned),
                    Err(failure) => self.end_frame(id, Err(failure)),
                }
            }
            Recovery::Fail => self.end_frame(id, Err(failure)),
        }
    }
}
