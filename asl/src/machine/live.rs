//! The decisions: what each state does when entered, when its work ends
//! and when it fails, and what each signal from outside changes. Every
//! decision is an event, applied at once and returned for the journal.

use super::events::Event;
use super::frames::{Activity, ROOT, after, scope};
use super::{
    Command, Execution, MAX_EVENTS, MAX_MAP_CONCURRENCY, MAX_PAYLOAD, Signal, Status, TimerPurpose, TimerRef,
    World,
};
use crate::context::StateInfo;
use crate::definition::{Amount, Definition, Kind, State, Transition, Wait};
use crate::errors::{self, Failure};
use crate::retry::{self, Recovery};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use std::collections::VecDeque;

mod jsonata;
mod jsonata_states;

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
        if self.exec.status == Status::Running && self.exec.events + 1 >= MAX_EVENTS {
            let failed = Event::ExecutionFailed {
                error: errors::RUNTIME.into(),
                cause: format!("the execution's history reached its limit of {MAX_EVENTS} events"),
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

    fn signal(&mut self, signal: Signal) {
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

    fn timer_fired(&mut self, timer: &TimerRef) {
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
    fn state_failed(&mut self, id: &str, failure: Failure) {
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

    /// Starts the work of the state frame `id` just entered.
    fn begin(&mut self, id: &str, state: &'d State) {
        if let Some(io) = &state.jsonata {
            return self.begin_jsonata(id, state, io);
        }
        let input = self.input_of(id);
        let io = &state.io;
        match &state.kind {
            Kind::Pass { result } => {
                let ctx = self.context(id, None, None);
                let output = io
                    .effective_input(&input, &ctx)
                    .and_then(|effective| io.place(&input, result.clone().unwrap_or(effective), &ctx));
                self.proceed(id, state, output);
            }
            Kind::Choice { choices, default } => {
                let ctx = self.context(id, None, None);
                let chosen = io.effective_input(&input, &ctx).and_then(|effective| {
                    let mut next = default.as_deref();
                    for choice in choices {
                        if choice.condition.eval(&effective, &ctx)? {
                            next = Some(&choice.next);
                            break;
                        }
                    }
                    let next = next.ok_or_else(|| {
                        Failure::new(
                            errors::NO_CHOICE_MATCHED,
                            "no choice rule matched and there is no Default",
                        )
                    })?;
                    Ok((next, io.select_output(&effective, &ctx)?))
                });
                match chosen {
                    Ok((next, output)) => self.exit(id, state, output, Some(next), None),
                    Err(failure) => self.state_failed(id, failure),
                }
            }
            Kind::Wait(wait) => {
                let ctx = self.context(id, None, None);
                let until = io
                    .effective_input(&input, &ctx)
                    .and_then(|effective| Ok((wait_until(wait, &effective, &ctx, self.now)?, effective)));
                match until {
                    Ok((until, effective)) if until <= self.now => {
                        let output = io.select_output(&effective, &ctx);
                        self.proceed(id, state, output);
                    }
                    Ok((until, _)) => {
                        self.emit(Event::WaitStarted {
                            frame: id.to_owned(),
                            until,
                            at: self.now,
                        });
                        self.schedule(id, None);
                    }
                    Err(failure) => self.state_failed(id, failure),
                }
            }
            Kind::Succeed => {
                let ctx = self.context(id, None, None);
                let output = io
                    .effective_input(&input, &ctx)
                    .and_then(|effective| io.select_output(&effective, &ctx));
                match output {
                    Ok(output) => self.exit(id, state, output, None, None),
                    Err(failure) => self.state_failed(id, failure),
                }
            }
            Kind::Fail { error, cause } => {
                let ctx = self.context(id, None, None);
                let text = |text: &Option<crate::definition::Text>| match text {
                    None => Ok(String::new()),
                    Some(crate::definition::Text::Payload(p)) => p.apply(&input, &ctx).map(|v| match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    }),
                    Some(crate::definition::Text::Jsonata(_)) => {
                        Err(Failure::runtime("a JSONata Error or Cause in a JSONPath state"))
                    }
                };
                let failure = match (text(error), text(cause)) {
                    (Ok(error), Ok(cause)) => Failure::new(error, cause),
                    (Err(f), _) | (_, Err(f)) => f,
                };
                self.end_frame(id, Err(failure));
            }
            Kind::Task(task) => {
                let token = task.wait_for_token.then(|| self.world.token());
                let ctx = self.context(id, token.as_deref(), None);
                let scheduled = io.effective_input(&input, &ctx).and_then(|effective| {
                    check_size(&effective, "the task's input")?;
                    let timeout = amount(task.timeout_seconds.as_ref(), &effective, &ctx)?;
                    let heartbeat = amount(task.heartbeat_seconds.as_ref(), &effective, &ctx)?;
                    Ok((effective, timeout, heartbeat))
                });
                match scheduled {
                    Ok((effective, timeout, heartbeat_seconds)) => {
                        self.schedule_task(id, task, effective, token, timeout, heartbeat_seconds);
                    }
                    Err(failure) => self.state_failed(id, failure),
                }
            }
            Kind::Parallel { branches, .. } => {
                let ctx = self.context(id, None, None);
                match io.effective_input(&input, &ctx) {
                    Ok(effective) => {
                        self.emit(Event::IterationsPlanned {
                            frame: id.to_owned(),
                            map: false,
                            inputs: vec![effective; branches.len()],
                            max_concurrency: 0,
                            tolerated_count: None,
                            tolerated_percentage: None,
                            at: self.now,
                        });
                        self.queue.push_back(id.to_owned());
                    }
                    Err(failure) => self.state_failed(id, failure),
                }
            }
            Kind::Map(map) => match self.plan_map(id, map, &input) {
                Ok(event) => {
                    self.emit(event);
                    self.queue.push_back(id.to_owned());
                }
                Err(failure) => self.state_failed(id, failure),
            },
        }
    }

    /// Journals that frame `id`'s task runs now with `input` (and its
    /// token and limits), and schedules it.
    fn schedule_task(
        &mut self,
        id: &str,
        task: &crate::definition::Task,
        input: Value,
        token: Option<String>,
        timeout: Option<u64>,
        heartbeat_seconds: Option<u64>,
    ) {
        self.emit(Event::TaskScheduled {
            frame: id.to_owned(),
            resource: task.resource.clone(),
            input,
            token,
            timeout_at: timeout.map(|s| after(self.now, s)),
            heartbeat_seconds,
            at: self.now,
        });
        self.schedule(id, None);
    }

    /// A Map state's iterations: its items, each one's input (through
    /// `ItemSelector`), its concurrency and what it tolerates.
    fn plan_map(&self, id: &str, map: &crate::definition::MapState, input: &Value) -> Result<Event, Failure> {
        let ctx = self.context(id, None, None);
        let state = self
            .state_of(id)
            .ok_or_else(|| Failure::runtime("the Map state is gone"))?;
        let effective = state.io.effective_input(input, &ctx)?;
        let items = map
            .items_path
            .select(&effective, &ctx)
            .map_err(Failure::runtime)?;
        let Value::Array(items) = items else {
            return Err(Failure::runtime(format!(
                "ItemsPath {} selected {}, not an array",
                map.items_path.as_str(),
                kind_of(&items)
            )));
        };
        let inputs = items
            .iter()
            .enumerate()
            .map(|(i, item)| match &map.item_selector {
                None => Ok(item.clone()),
                Some(selector) => selector.apply(&effective, &self.context(id, None, Some((i, item)))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let max_concurrency = amount(Some(&map.max_concurrency), &effective, &ctx)?.unwrap_or(0);
        let tolerated_count = amount(map.tolerated_failure_count.as_ref(), &effective, &ctx)?;
        let tolerated_percentage = match &map.tolerated_failure_percentage {
            None => None,
            Some(Amount::Fixed(p)) => Some(*p),
            Some(Amount::Path(path)) => {
                let value = path.select(&effective, &ctx).map_err(Failure::runtime)?;
                Some(value.as_f64().filter(|p| (0.0..=100.0).contains(p)).ok_or_else(|| {
                    Failure::runtime(format!(
                        "ToleratedFailurePercentagePath {} selected {value}, not a number from 0 to 100",
                        path.as_str()
                    ))
                })?)
            }
            Some(Amount::Expr(_)) => return Err(Failure::runtime("a JSONata limit in a JSONPath state")),
        };
        Ok(self.map_planned(id, inputs, max_concurrency, tolerated_count, tolerated_percentage))
    }

    /// The event that plans a Map state's iterations.
    fn map_planned(
        &self,
        id: &str,
        inputs: Vec<Value>,
        max_concurrency: u64,
        tolerated_count: Option<u64>,
        tolerated_percentage: Option<f64>,
    ) -> Event {
        Event::IterationsPlanned {
            frame: id.to_owned(),
            map: true,
            inputs,
            max_concurrency,
            tolerated_count,
            tolerated_percentage,
            at: self.now,
        }
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

    /// The state's work ended with `result`: its output, or Retry and
    /// Catch.
    fn conclude(&mut self, id: &str, state: &'d State, result: Result<Value, Failure>) {
        match result {
            Ok(raw) if state.jsonata.is_some() => {
                let result = (!matches!(state.kind, Kind::Wait(_))).then_some(raw);
                if let Some(io) = &state.jsonata {
                    self.leave_jsonata(id, state, io, result);
                }
            }
            Ok(raw) => {
                let input = self.input_of(id);
                let ctx = self.context(id, None, None);
                let output = match &state.kind {
                    Kind::Wait(_) => state
                        .io
                        .effective_input(&input, &ctx)
                        .and_then(|effective| state.io.select_output(&effective, &ctx)),
                    _ => state.io.output(&input, raw, &ctx),
                };
                self.proceed(id, state, output);
            }
            Err(failure) => self.recover(id, state, failure),
        }
    }

    fn proceed(&mut self, id: &str, state: &'d State, output: Result<Value, Failure>) {
        match output {
            Ok(output) => self.exit(id, state, output, next_of(state), None),
            Err(failure) => self.state_failed(id, failure),
        }
    }

    fn recover(&mut self, id: &str, state: &'d State, failure: Failure) {
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
                let output = match &catcher.result_path {
                    None => Ok(input),
                    Some(path) => path.set(input, failure.to_json()).map_err(Failure::runtime),
                };
                match output {
                    Ok(output) => self.exit(id, state, output, Some(&catcher.next), None),
                    Err(failure) => self.end_frame(id, Err(failure)),
                }
            }
            Recovery::Fail => self.end_frame(id, Err(failure)),
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

fn next_of(state: &State) -> Option<&str> {
    match &state.transition {
        Some(Transition::Next(next)) => Some(next),
        _ => None,
    }
}

/// A state type's name, as the definition writes it.
pub(crate) fn type_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Pass { .. } => "Pass",
        Kind::Task(_) => "Task",
        Kind::Choice { .. } => "Choice",
        Kind::Wait(_) => "Wait",
        Kind::Succeed => "Succeed",
        Kind::Fail { .. } => "Fail",
        Kind::Parallel { .. } => "Parallel",
        Kind::Map(_) => "Map",
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `States.DataLimitExceeded` when `value` is larger than Step Functions
/// allows.
fn check_size(value: &Value, what: &str) -> Result<(), Failure> {
    let size = serde_json::to_vec(value).map_or(0, |v| v.len());
    if size > MAX_PAYLOAD {
        return Err(Failure::new(
            errors::DATA_LIMIT_EXCEEDED,
            format!("{what} is {size} bytes, more than the limit of {MAX_PAYLOAD}"),
        ));
    }
    Ok(())
}

/// A whole number of seconds (or items) written out or read from the
/// effective input.
fn amount(amount: Option<&Amount<u64>>, effective: &Value, ctx: &Value) -> Result<Option<u64>, Failure> {
    match amount {
        None => Ok(None),
        Some(Amount::Fixed(n)) => Ok(Some(*n)),
        Some(Amount::Path(path)) => {
            let value = path.select(effective, ctx).map_err(Failure::runtime)?;
            value.as_u64().map(Some).ok_or_else(|| {
                Failure::runtime(format!(
                    "{} selected {value}, not a whole number of at least 0",
                    path.as_str()
                ))
            })
        }
        Some(Amount::Expr(e)) => Err(Failure::runtime(format!(
            "the expression {} belongs to a JSONata state",
            e.source()
        ))),
    }
}

fn wait_until(
    wait: &Wait,
    effective: &Value,
    ctx: &Value,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, Failure> {
    let timestamp = |text: &str| {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| Failure::runtime(format!("{text:?} is not an RFC 3339 timestamp: {e}")))
    };
    match wait {
        Wait::Seconds(s) => Ok(after(now, *s)),
        Wait::Timestamp(t) => Ok(*t),
        Wait::SecondsPath(path) => {
            amount(Some(&Amount::Path(path.clone())), effective, ctx).map(|s| after(now, s.unwrap_or(0)))
        }
        Wait::TimestampPath(path) => {
            let value = path.select(effective, ctx).map_err(Failure::runtime)?;
            match value.as_str() {
                Some(text) => timestamp(text),
                None => Err(Failure::runtime(format!(
                    "TimestampPath {} selected {value}, not a timestamp",
                    path.as_str()
                ))),
            }
        }
        Wait::SecondsExpr(e) | Wait::TimestampExpr(e) => Err(Failure::runtime(format!(
            "the expression {} belongs to a JSONata state",
            e.source()
        ))),
    }
}
