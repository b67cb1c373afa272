//! The decisions: what each state does when entered, when its work ends
//! and when it fails, and what each signal from outside changes. Every
//! decision is an event, applied at once and returned for the journal.
//!
//! - `begin`: what a JSONPath state does when entered.
//! - `leave`: what a state does when its work ended: its output and
//!   assignments, or Retry and Catch.
//! - `recovery`: signals from outside, failures, Retry and Catch.
//! - `jsonata`, `jsonata_states`: JSONata states.
//! - `variables`: the variables a frame sees, and the limits on what a
//!   state assigns.
//! - `values`: sizes, amounts, waits and names.

use super::events::Event;
use super::frames::{Activity, ROOT, after, scope};
use super::{
    Command, Execution, MAX_EVENTS, MAX_JOURNAL_BYTES, MAX_MAP_CONCURRENCY, Signal, Status, TimerPurpose,
    TimerRef, World,
};
use crate::context::StateInfo;
use crate::definition::{Definition, State};
use crate::errors::{self, Failure};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use std::collections::VecDeque;

mod begin;
mod jsonata;
mod jsonata_states;
mod leave;
mod recovery;
mod values;
mod variables;

pub(crate) use values::type_name;
use values::{Planned, amount, check_size, kind_of, next_of, wait_until};

/// What a decision wrote and what the engine must now do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// The new events, to append to the journal (in one write).
    pub events: Vec<Event>,
    /// Tasks to run and timers to arm.
    pub commands: Vec<Command>,
}

impl Execution {
    /// Starts the execution: its first state runs until it waits for a
    /// task, a timer or its iterations, or the execution ends. Does
    /// nothing to an execution that has started.
    pub fn start(&mut self, definition: &Definition, world: &mut dyn World) -> Progress {
        let mut live = Live::new(self, definition, world);
        if live.exec.events == 0 {
            let input = live.exec.info.input.clone();
            let timeout_at = definition.timeout_seconds.map(|s| after(live.now, s));
            live.emit(Event::ExecutionStarted {
                input: input.clone(),
                timeout_at,
                at: live.now,
            });
            live.enter(ROOT, &definition.start_at, input);
        }
        live.finish()
    }

    /// Follows `signal`: a task's end, a heartbeat, a timer or a stop. A
    /// signal for a task or timer the execution no longer waits for (a
    /// late answer, a timer of an earlier attempt) changes nothing.
    pub fn handle(&mut self, definition: &Definition, signal: Signal, world: &mut dyn World) -> Progress {
        let mut live = Live::new(self, definition, world);
        if live.exec.status == Status::Running {
            live.signal(signal);
        }
        live.finish()
    }
}

/// One decision in progress.
struct Live<'a, 'd> {
    exec: &'a mut Execution,
    definition: &'d Definition,
    world: &'a mut dyn World,
    now: DateTime<Utc>,
    events: Vec<Event>,
    /// Frames with work to decide.
    queue: VecDeque<String>,
    /// What was scheduled: a frame's entry and attempt, and one timer of
    /// it or all its commands.
    scheduled: Vec<(String, u64, u32, Option<TimerPurpose>)>,
    /// What is left of the decision's time for JSONata expressions.
    jsonata_left: std::time::Duration,
}

impl<'a, 'd> Live<'a, 'd> {
    fn new(exec: &'a mut Execution, definition: &'d Definition, world: &'a mut dyn World) -> Self {
        let now = world.now();
        Self {
            exec,
            definition,
            world,
            now,
            events: Vec::new(),
            queue: VecDeque::new(),
            scheduled: Vec::new(),
            jsonata_left: super::JSONATA_PER_DECISION,
        }
    }

    fn emit(&mut self, event: Event) {
        // An ended execution journals nothing more (a decision under way
        // when the history limit ended it stops here).
        if self.exec.status != Status::Running {
            return;
        }
        self.exec.apply(&event);
        self.events.push(event);
        let full = if self.exec.events + 1 >= MAX_EVENTS {
            Some(format!("{MAX_EVENTS} events"))
        } else if self.exec.bytes > MAX_JOURNAL_BYTES {
            Some(format!("{} MiB", MAX_JOURNAL_BYTES >> 20))
        } else {
            None
        };
        if let Some(limit) = full
            && self.exec.status == Status::Running
        {
            let failed = Event::ExecutionFailed {
                error: errors::RUNTIME.into(),
                cause: format!("the execution's history reached its limit of {limit}"),
                at: self.now,
            };
            self.exec.apply(&failed);
            self.events.push(failed);
        }
    }

    /// Decides until every frame waits, then lists the commands of what
    /// was scheduled and still stands.
    fn finish(mut self) -> Progress {
        while let Some(id) = self.queue.pop_front() {
            if self.exec.status != Status::Running {
                break;
            }
            self.advance(&id);
        }
        let mut commands = Vec::new();
        if self.exec.status == Status::Running {
            if let (Some(at), Some(Event::ExecutionStarted { .. })) =
                (self.exec.timeout_at, self.events.first())
            {
                commands.push(Command::Timer {
                    timer: TimerRef::execution(),
                    at,
                });
            }
            for (id, entry, attempt, only) in &self.scheduled {
                if let Some(frame) = self.exec.frames.get(id)
                    && frame.entry == *entry
                    && frame.attempt == *attempt
                {
                    commands.extend(frame.commands(id, *only));
                }
            }
        }
        Progress {
            events: self.events,
            commands,
        }
    }

    fn schedule(&mut self, id: &str, only: Option<TimerPurpose>) {
        if let Some(frame) = self.exec.frames.get(id) {
            self.scheduled
                .push((id.to_owned(), frame.entry, frame.attempt, only));
        }
    }

    fn state_of(&self, id: &str) -> Option<&'d State> {
        let frame = self.exec.frames.get(id)?;
        scope(self.definition, &frame.scope)?.states.get(&frame.state)
    }

    fn advance(&mut self, id: &str) {
        let Some(state) = self.state_of(id) else {
            if let Some(frame) = self.exec.frames.get(id) {
                let failure = Failure::runtime(format!(
                    "the journal names state {:?}, which the definition does not have",
                    frame.state
                ));
                self.end_frame(ROOT, Err(failure));
            }
            return;
        };
        match self.exec.frames.get(id).map(|f| &f.activity) {
            Some(Activity::Entered) => self.begin(id, state),
            Some(Activity::Done(result)) => {
                let result = result.clone();
                self.conclude(id, state, result);
            }
            Some(Activity::Iterations(_)) => self.iterate(id, state),
            _ => {}
        }
    }

    /// The context object of frame `id`'s state.
    fn context(&self, id: &str, token: Option<&str>, item: Option<(usize, &Value)>) -> Value {
        let Some(frame) = self.exec.frames.get(id) else {
            return Value::Null;
        };
        let entered = frame.entered.to_rfc3339_opts(SecondsFormat::Millis, true);
        self.exec.info.context(&StateInfo {
            name: &frame.state,
            entered_time: &entered,
            retry_count: frame.attempt,
            task_token: token,
            map_item: item,
        })
    }

    fn input_of(&self, id: &str) -> Value {
        self.exec
            .frames
            .get(id)
            .map(|f| f.input.clone())
            .unwrap_or_default()
    }

    /// Starts the iterations that may start, or ends the state when they
    /// have all ended or more failed than it tolerates.
    fn iterate(&mut self, id: &str, state: &'d State) {
        let Some(frame) = self.exec.frames.get(id) else {
            return;
        };
        let Activity::Iterations(iterations) = &frame.activity else {
            return;
        };
        if !iterations.tolerates() {
            let failure = if iterations.map && iterations.has_tolerance() {
                Failure::new(
                    errors::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                    format!(
                        "{} of {} iterations failed, more than the Map state tolerates",
                        iterations.failed(),
                        iterations.inputs.len()
                    ),
                )
            } else {
                iterations
                    .first_failure
                    .clone()
                    .unwrap_or_else(|| Failure::new(errors::BRANCH_FAILED, "a branch failed"))
            };
            return self.state_failed(id, failure);
        }
        if iterations.ended() == iterations.inputs.len() {
            let results = iterations
                .results
                .iter()
                .map(|r| match r {
                    Some(Ok(value)) => value.clone(),
                    Some(Err(failure)) => failure.to_json(),
                    None => Value::Null,
                })
                .collect();
            return self.conclude(id, state, Ok(Value::Array(results)));
        }
        let limit = match (iterations.map, iterations.limit) {
            (false, 0) => u64::MAX,
            (true, 0) => MAX_MAP_CONCURRENCY,
            (true, n) => n.min(MAX_MAP_CONCURRENCY),
            (false, n) => n,
        };
        let free = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .saturating_sub(iterations.running);
        let starting: Vec<(usize, Value)> = (iterations.started..iterations.inputs.len())
            .take(free)
            .map(|i| (i, iterations.inputs[i].clone()))
            .collect();
        let (map, entry) = (iterations.map, frame.entry);
        for (index, input) in starting {
            self.emit(Event::IterationStarted {
                frame: id.to_owned(),
                map,
                index,
                at: self.now,
            });
            let child = format!("{id}/{entry}.{index}");
            let start = self
                .exec
                .frames
                .get(&child)
                .and_then(|f| scope(self.definition, &f.scope))
                .map(|machine| machine.start_at.as_str());
            if let Some(start) = start {
                self.enter(&child, start, input);
            }
        }
    }

    /// Frame `id` leaves its state with `output` (and the variables it
    /// assigned) for `next`, or ends.
    fn exit(
        &mut self,
        id: &str,
        state: &'d State,
        output: Value,
        next: Option<&str>,
        assigned: Option<serde_json::Map<String, Value>>,
    ) {
        if let Err(failure) = check_size(&output, "the state's output") {
            return self.end_frame(id, Err(failure));
        }
        self.emit(Event::StateExited {
            frame: id.to_owned(),
            state: state.name.clone(),
            state_type: type_name(&state.kind).to_owned(),
            output: output.clone(),
            next: next.map(str::to_owned),
            assigned,
            at: self.now,
        });
        match next {
            Some(next) => self.enter(id, next, output),
            None => self.end_frame(id, Ok(output)),
        }
    }

    fn enter(&mut self, id: &str, name: &str, input: Value) {
        let state_type = self
            .exec
            .frames
            .get(id)
            .and_then(|f| scope(self.definition, &f.scope))
            .and_then(|machine| machine.states.get(name))
            .map_or("Unknown", |s| type_name(&s.kind));
        self.emit(Event::StateEntered {
            frame: id.to_owned(),
            state: name.to_owned(),
            state_type: state_type.to_owned(),
            input,
            at: self.now,
        });
        self.queue.push_back(id.to_owned());
    }

    /// Frame `id` ended: the execution, or the branch or iteration it is.
    fn end_frame(&mut self, id: &str, result: Result<Value, Failure>) {
        let now = self.now;
        if id == ROOT {
            return self.emit(match result {
                Ok(output) => Event::ExecutionSucceeded { output, at: now },
                Err(f) => Event::ExecutionFailed {
                    error: f.error,
                    cause: f.cause,
                    at: now,
                },
            });
        }
        let Some((parent, _)) = self.exec.frames.get(id).and_then(|f| f.parent.clone()) else {
            return;
        };
        let map = matches!(
            self.exec.frames.get(&parent).map(|f| &f.activity),
            Some(Activity::Iterations(i)) if i.map
        );
        let frame = id.to_owned();
        self.emit(match result {
            Ok(output) => Event::IterationSucceeded {
                frame,
                map,
                output,
                at: now,
            },
            Err(f) => Event::IterationFailed {
                frame,
                map,
                error: f.error,
                cause: f.cause,
                at: now,
            },
        });
        self.queue.push_back(parent);
    }
}
