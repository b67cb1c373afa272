//! An execution run to its end in memory, in virtual time: timers fire at
//! once in the order they are due, and tasks are answered by a function.
//! For tests, and for checking a definition against expected results
//! without an engine.

use super::{Command, Event, Execution, Invocation, Signal, Status, TimerRef, World};
use crate::context::ExecutionInfo;
use crate::definition::Definition;
use crate::errors::Failure;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};

/// Decisions at most, so that a definition that loops forever ends.
const MAX_SIGNALS: usize = 100_000;

/// An execution that ran as far as it could, and its journal.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// The execution, ended unless a task never answered.
    pub execution: Execution,
    /// Every event, in order.
    pub journal: Vec<Event>,
    /// Where each decision's events end in the journal: a journal cut at
    /// one of these is one an engine could have stored.
    pub batches: Vec<usize>,
}

/// A virtual clock, a seeded random number and counted tokens.
#[derive(Debug, Clone)]
pub struct VirtualWorld {
    /// Now.
    pub now: DateTime<Utc>,
    seed: u64,
    tokens: u64,
}

impl VirtualWorld {
    /// A world whose time starts at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            seed: 0x9e37_79b9_7f4a_7c15,
            tokens: 0,
        }
    }
}

impl World for VirtualWorld {
    fn now(&mut self) -> DateTime<Utc> {
        self.now
    }

    fn random(&mut self) -> f64 {
        // xorshift64*: enough spread for jitter, the same every run.
        self.seed ^= self.seed >> 12;
        self.seed ^= self.seed << 25;
        self.seed ^= self.seed >> 27;
        (self.seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn token(&mut self) -> String {
        self.tokens += 1;
        format!("token-{}", self.tokens)
    }
}

/// Runs `info`'s execution of `definition` from its start in virtual time.
/// `answer` gives each task's result; `None` leaves the task open (a task
/// waiting for a token nobody sends), for its timeouts to decide.
pub fn simulate(
    definition: &Definition,
    info: ExecutionInfo,
    start: DateTime<Utc>,
    answer: &mut dyn FnMut(&Invocation) -> Option<Result<Value, Failure>>,
) -> Simulation {
    let mut world = VirtualWorld::new(start);
    let mut execution = Execution::new(info);
    let mut run = Run::default();
    run.take(execution.start(definition, &mut world));
    run.drive(definition, &mut execution, &mut world, answer);
    Simulation {
        execution,
        journal: run.journal,
        batches: run.batches,
    }
}

/// Goes on with an execution rebuilt from its journal, as an engine does
/// after a restart: what [`Execution::outstanding`] lists runs again.
/// The returned journal holds only the new events.
pub fn resume(
    definition: &Definition,
    mut execution: Execution,
    now: DateTime<Utc>,
    answer: &mut dyn FnMut(&Invocation) -> Option<Result<Value, Failure>>,
) -> Simulation {
    let mut world = VirtualWorld::new(now);
    let mut run = Run::default();
    run.take(super::Progress {
        events: Vec::new(),
        commands: execution.outstanding(),
    });
    run.drive(definition, &mut execution, &mut world, answer);
    Simulation {
        execution,
        journal: run.journal,
        batches: run.batches,
    }
}

#[derive(Default)]
struct Run {
    invocations: VecDeque<Invocation>,
    timers: HashMap<TimerRef, DateTime<Utc>>,
    journal: Vec<Event>,
    batches: Vec<usize>,
}

impl Run {
    fn take(&mut self, progress: super::Progress) {
        self.journal.extend(progress.events);
        self.batches.push(self.journal.len());
        for command in progress.commands {
            match command {
                Command::Invoke(invocation) => self.invocations.push_back(invocation),
                Command::Timer { timer, at } => {
                    self.timers.insert(timer, at);
                }
            }
        }
    }

    fn drive(
        &mut self,
        definition: &Definition,
        execution: &mut Execution,
        world: &mut VirtualWorld,
        answer: &mut dyn FnMut(&Invocation) -> Option<Result<Value, Failure>>,
    ) {
        for _ in 0..MAX_SIGNALS {
            if execution.status() != Status::Running {
                break;
            }
            let signal = if let Some(invocation) = self.invocations.pop_front() {
                match answer(&invocation) {
                    Some(Ok(output)) => Signal::TaskSucceeded {
                        task: invocation.task,
                        output,
                    },
                    Some(Err(failure)) => Signal::TaskFailed {
                        task: invocation.task,
                        failure,
                    },
                    None => continue,
                }
            } else if let Some((timer, at)) = self.earliest_timer() {
                self.timers.remove(&timer);
                world.now = world.now.max(at);
                Signal::TimerFired { timer }
            } else {
                break;
            };
            self.take(execution.handle(definition, signal, world));
        }
    }

    fn earliest_timer(&self) -> Option<(TimerRef, DateTime<Utc>)> {
        self.timers
            .iter()
            .min_by(|a, b| a.1.cmp(b.1).then_with(|| a.0.frame.cmp(&b.0.frame)))
            .map(|(t, at)| (t.clone(), *at))
    }
}
