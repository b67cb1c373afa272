//! What a JSONPath state does when entered: a Pass's or Choice's output
//! and assignments, a Wait's timer, a Task's scheduling, a Parallel's or
//! Map's iterations. Every path reads the variables as they were when the
//! state was entered.

use super::leave::Leaving;
use super::{Live, Planned, amount, check_size, kind_of, wait_until};
use crate::definition::{Amount, Kind, State};
use crate::errors::{self, Failure};
use crate::machine::events::Event;
use crate::machine::frames::after;
use crate::paths::Bindings;
use crate::variables::Assign;
use serde_json::Value;

impl<'d> Live<'_, 'd> {
    /// Starts the work of the state frame `id` just entered.
    pub(super) fn begin(&mut self, id: &str, state: &'d State) {
        if let Some(io) = &state.jsonata {
            return self.begin_jsonata(id, state, io);
        }
        let input = self.input_of(id);
        let io = &state.io;
        let token = match &state.kind {
            Kind::Task(task) if task.wait_for_token => Some(self.world.token()),
            _ => None,
        };
        let (ctx, variables) = (self.context(id, token.as_deref(), None), self.variables(id));
        let bindings = Bindings::new(&ctx, &variables);
        match &state.kind {
            Kind::Pass { result } => {
                // `Assign`'s `$` is the Pass's result: `Result`, or its
                // effective input.
                let leaving = io.effective_input(&input, &bindings).and_then(|effective| {
                    let result = result.clone().unwrap_or(effective);
                    let assigned = self.assign_jsonpath(id, io.assign.as_ref(), &result, &bindings)?;
                    Ok((io.place(&input, result, &bindings)?, assigned))
                });
                self.proceed(id, state, leaving);
            }
            Kind::Choice { choices, default } => {
                let chosen = io.effective_input(&input, &bindings).and_then(|effective| {
                    self.choose_jsonpath(id, io, choices, default.as_deref(), &effective, &bindings)
                });
                match chosen {
                    Ok((next, (output, assigned))) => self.exit(id, state, output, Some(next), assigned),
                    Err(failure) => self.state_failed(id, failure),
                }
            }
            Kind::Wait(wait) => {
                let until = io
                    .effective_input(&input, &bindings)
                    .and_then(|effective| wait_until(wait, &effective, &bindings, self.now));
                match until {
                    // Leaves as a Wait whose timer fired does.
                    Ok(until) if until <= self.now => self.conclude(id, state, Ok(Value::Null)),
                    Ok(until) => {
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
                let output = io
                    .effective_input(&input, &bindings)
                    .and_then(|effective| io.select_output(&effective, &bindings));
                match output {
                    Ok(output) => self.exit(id, state, output, None, None),
                    Err(failure) => self.state_failed(id, failure),
                }
            }
            Kind::Fail { error, cause } => {
                let text = |text: &Option<crate::definition::Text>| match text {
                    None => Ok(String::new()),
                    Some(crate::definition::Text::Payload(p)) => {
                        p.apply(&input, &bindings).map(|v| match v {
                            Value::String(s) => s,
                            other => other.to_string(),
                        })
                    }
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
                let scheduled = io.effective_input(&input, &bindings).and_then(|effective| {
                    check_size(&effective, "the task's input")?;
                    let timeout = amount(task.timeout_seconds.as_ref(), &effective, &bindings)?;
                    let heartbeat = amount(task.heartbeat_seconds.as_ref(), &effective, &bindings)?;
                    Ok((effective, timeout, heartbeat))
                });
                match scheduled {
                    Ok((effective, timeout, heartbeat_seconds)) => {
                        self.schedule_task(id, task, effective, token, timeout, heartbeat_seconds);
                    }
                    Err(failure) => self.state_failed(id, failure),
                }
            }
            Kind::Parallel { branches, .. } => match io.effective_input(&input, &bindings) {
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
            },
            Kind::Map(map) => match self.plan_map(id, state, map, &input, &bindings) {
                Ok(event) => {
                    self.emit(event);
                    self.queue.push_back(id.to_owned());
                }
                Err(failure) => self.state_failed(id, failure),
            },
        }
    }

    /// A JSONPath Choice's next state, output and assignments: the first
    /// rule that matches its effective input, and that rule's `Assign`;
    /// or its `Default` and the state's own `Assign` (the developer
    /// guide's "Choice workflow state": the two never both apply).
    fn choose_jsonpath(
        &self,
        id: &str,
        io: &crate::definition::Io,
        choices: &'d [crate::choice::Choice],
        default: Option<&'d str>,
        effective: &Value,
        bindings: &Bindings<'_>,
    ) -> Result<(&'d str, Leaving), Failure> {
        let mut chosen = None;
        for choice in choices {
            if choice.condition.eval(effective, bindings)? {
                chosen = Some((
                    choice.next.as_str(),
                    choice.assign.as_ref().and_then(Assign::payload),
                ));
                break;
            }
        }
        let (next, assign) = match chosen {
            Some(chosen) => chosen,
            None => {
                let next = default.ok_or_else(|| {
                    Failure::new(
                        errors::NO_CHOICE_MATCHED,
                        "no choice rule matched and there is no Default",
                    )
                })?;
                (next, io.assign.as_ref())
            }
        };
        let assigned = self.assign_jsonpath(id, assign, effective, bindings)?;
        Ok((next, (io.select_output(effective, bindings)?, assigned)))
    }

    /// Journals that frame `id`'s task runs now with `input` (and its
    /// token and limits), and schedules it.
    pub(super) fn schedule_task(
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
    pub(super) fn plan_map(
        &self,
        id: &str,
        state: &State,
        map: &crate::definition::MapState,
        input: &Value,
        bindings: &Bindings<'_>,
    ) -> Result<Event, Failure> {
        let effective = state.io.effective_input(input, bindings)?;
        let items = map
            .items_path
            .select(&effective, bindings)
            .map_err(Failure::runtime)?;
        let Value::Array(items) = items else {
            return Err(Failure::runtime(format!(
                "ItemsPath {} selected {}, not an array",
                map.items_path.as_str(),
                kind_of(&items)
            )));
        };
        let mut planned = Planned::default();
        let inputs = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let input = match &map.item_selector {
                    None => item.clone(),
                    Some(selector) => {
                        let ctx = self.context(id, None, Some((i, item)));
                        selector.apply(&effective, &Bindings::new(&ctx, bindings.variables))?
                    }
                };
                planned.add(&input)?;
                Ok(input)
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        let max_concurrency = amount(Some(&map.max_concurrency), &effective, bindings)?.unwrap_or(0);
        let tolerated_count = amount(map.tolerated_failure_count.as_ref(), &effective, bindings)?;
        let tolerated_percentage = match &map.tolerated_failure_percentage {
            None => None,
            Some(Amount::Fixed(p)) => Some(*p),
            Some(Amount::Path(path)) => {
                let value = path.select(&effective, bindings).map_err(Failure::runtime)?;
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
    pub(super) fn map_planned(
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
}
