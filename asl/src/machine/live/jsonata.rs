//! The decisions of JSONata states: `Arguments` before the work,
//! `Output` and `Assign` after it (or after a catcher), `Condition`s,
//! computed waits, items and limits. Expressions see `$states` (the
//! state's input, its result or error output, the context object) and the
//! variables of the frame's scope and the scopes around it, as they were
//! when the state was entered: what a state assigns takes effect as it
//! leaves. Every value decided here goes into the events, so a replay
//! evaluates nothing again.

use super::jsonata_states::whole;
use super::{Live, check_size, kind_of, next_of};
use crate::definition::{Amount, JsonataIo, Kind, State, Text};
use crate::errors::{self, Failure};
use crate::jsonata::{DEFAULT_TIMEOUT, Entropy, Env, Expression, States, Template};
use crate::machine::events::Event;
use crate::paths::Bindings;
use crate::retry::Catcher;
use crate::variables::Assign;
use serde_json::{Map, Value};

/// What an expression of a state sees besides its variables.
#[derive(Clone, Copy)]
pub(super) struct Data<'v> {
    pub(super) input: &'v Value,
    pub(super) result: Option<&'v Value>,
    pub(super) error_output: Option<&'v Value>,
    pub(super) context: &'v Value,
}

impl<'d> Live<'_, 'd> {
    /// A seed for the randomness of one evaluation, from the world (and so
    /// recorded only through what the evaluation decides).
    pub(super) fn seed(&mut self) -> u64 {
        (self.world.random() * 9_007_199_254_740_992.0) as u64
    }

    pub(super) fn apply(
        &mut self,
        id: &str,
        template: &Template,
        field: &str,
        data: Data<'_>,
    ) -> Result<Value, Failure> {
        // A template with no expression needs no evaluator.
        if let Template::Literal(value) = template {
            return Ok(value.clone());
        }
        if self.jsonata_left.is_zero() {
            return Err(Failure::new(
                errors::QUERY_EVALUATION_ERROR,
                format!(
                    "this step's JSONata expressions ran for their {} ms; the {field} expression was not evaluated",
                    super::super::JSONATA_PER_DECISION.as_millis()
                ),
            ));
        }
        let variables = self.variables(id);
        let started = std::time::Instant::now();
        let env = Env {
            states: States {
                input: data.input,
                result: data.result,
                error_output: data.error_output,
                context: data.context,
            },
            variables: &variables,
            now: self.now,
            entropy: Entropy::Seeded(self.seed()),
            timeout: DEFAULT_TIMEOUT.min(self.jsonata_left),
        };
        let out = self.world.jsonata(template, &env, field);
        self.jsonata_left = self.jsonata_left.saturating_sub(started.elapsed());
        out
    }

    pub(super) fn evaluate(
        &mut self,
        id: &str,
        expression: &Expression,
        field: &str,
        data: Data<'_>,
    ) -> Result<Value, Failure> {
        self.apply(
            id,
            &Template::Expression {
                expression: expression.clone(),
                at: String::new(),
            },
            field,
            data,
        )
    }

    /// The output and the variables set by `output` and `assign`
    /// (`default` without an `Output`), both evaluated on the same data.
    pub(super) fn leave_with(
        &mut self,
        id: &str,
        output: Option<&Template>,
        assigns: &[&Template],
        default: Value,
        data: Data<'_>,
    ) -> Result<(Value, Option<Map<String, Value>>), Failure> {
        let out = match output {
            Some(t) => self.apply(id, t, "Output", data)?,
            None => default,
        };
        let mut assigned: Option<Map<String, Value>> = None;
        for template in assigns {
            match self.apply(id, template, "Assign", data)? {
                Value::Object(map) => assigned.get_or_insert_default().extend(map),
                other => {
                    return Err(Failure::new(
                        errors::QUERY_EVALUATION_ERROR,
                        format!("Assign gave {}, not an object of variables", kind_of(&other)),
                    ));
                }
            }
        }
        Ok((out, self.check_assigned(id, assigned)?))
    }

    /// Starts the work of JSONata state frame `id` just entered.
    pub(super) fn begin_jsonata(&mut self, id: &str, state: &'d State, io: &'d JsonataIo) {
        let input = self.input_of(id);
        let ctx = self.context(id, None, None);
        let data = Data {
            input: &input,
            result: None,
            error_output: None,
            context: &ctx,
        };
        let begun = match &state.kind {
            Kind::Pass { .. } | Kind::Succeed => self.leave(id, state, io, None, data),
            Kind::Choice { choices, default } => {
                self.choose(id, state, io, choices, default.as_deref(), data)
            }
            Kind::Wait(wait) => self.wait(id, state, io, wait, data),
            Kind::Fail { error, cause } => {
                let failure = self
                    .text(id, error.as_ref(), "Error", data)
                    .and_then(|e| Ok(Failure::new(e, self.text(id, cause.as_ref(), "Cause", data)?)));
                let failure = failure.unwrap_or_else(|f| f);
                // Step Functions' limits on an error's name and cause.
                let cut = |text: String, most: usize| text.chars().take(most).collect::<String>();
                let failure = Failure::new(cut(failure.error, 256), cut(failure.cause, 32_768));
                self.end_frame(id, Err(failure));
                Ok(())
            }
            Kind::Task(task) => {
                let token = task.wait_for_token.then(|| self.world.token());
                let ctx = self.context(id, token.as_deref(), None);
                let data = Data {
                    context: &ctx,
                    ..data
                };
                let scheduled = self.arguments(id, io, data).and_then(|args| {
                    check_size(&args, "the task's input")?;
                    let timeout = self.amount(id, task.timeout_seconds.as_ref(), "TimeoutSeconds", data)?;
                    let heartbeat =
                        self.amount(id, task.heartbeat_seconds.as_ref(), "HeartbeatSeconds", data)?;
                    if let (Some(t), Some(h)) = (timeout, heartbeat)
                        && h >= t
                    {
                        return Err(Failure::new(
                            errors::QUERY_EVALUATION_ERROR,
                            format!("HeartbeatSeconds ({h}) must be less than TimeoutSeconds ({t})"),
                        ));
                    }
                    Ok((args, timeout, heartbeat))
                });
                scheduled.map(|(args, timeout, heartbeat_seconds)| {
                    self.schedule_task(id, task, args, token, timeout, heartbeat_seconds);
                })
            }
            Kind::Parallel { branches, .. } => self
                .arguments(id, io, data)
                .and_then(|args| check_size(&args, "the branches' input").map(|()| args))
                .map(|args| {
                    self.emit(Event::IterationsPlanned {
                        frame: id.to_owned(),
                        map: false,
                        inputs: vec![args; branches.len()],
                        max_concurrency: 0,
                        tolerated_count: None,
                        tolerated_percentage: None,
                        at: self.now,
                    });
                    self.queue.push_back(id.to_owned());
                }),
            Kind::Map(map) => self.plan_items(id, map, data).map(|event| {
                self.emit(event);
                self.queue.push_back(id.to_owned());
            }),
        };
        if let Err(failure) = begun {
            self.state_failed(id, failure);
        }
    }

    /// JSONata state frame `id` leaves with its `Output` and `Assign`, on
    /// `result` (a task's, branches' or iterations'; none for the others,
    /// whose output is their input by default).
    pub(super) fn leave_jsonata(
        &mut self,
        id: &str,
        state: &'d State,
        io: &'d JsonataIo,
        result: Option<Value>,
    ) {
        let input = self.input_of(id);
        let ctx = self.context(id, None, None);
        let data = Data {
            input: &input,
            result: result.as_ref(),
            error_output: None,
            context: &ctx,
        };
        if let Err(failure) = self.leave(id, state, io, result.as_ref(), data) {
            self.state_failed(id, failure);
        }
    }

    pub(super) fn leave(
        &mut self,
        id: &str,
        state: &'d State,
        io: &'d JsonataIo,
        result: Option<&Value>,
        data: Data<'_>,
    ) -> Result<(), Failure> {
        let default = result.unwrap_or(data.input).clone();
        let assigns: Vec<&Template> = io.assign.iter().collect();
        let (output, assigned) = self.leave_with(id, io.output.as_ref(), &assigns, default, data)?;
        self.exit(id, state, output, next_of(state), assigned);
        Ok(())
    }

    /// A catcher of JSONata state frame `id` took `failure`: its `Output`
    /// (the error output by default) and `Assign`, then its `Next`.
    pub(super) fn catch_jsonata(&mut self, id: &str, state: &'d State, catcher: &Catcher, failure: &Failure) {
        let input = self.input_of(id);
        let ctx = self.context(id, None, None);
        let error_output = failure.to_json();
        let data = Data {
            input: &input,
            result: None,
            error_output: Some(&error_output),
            context: &ctx,
        };
        let assigns: Vec<&Template> = catcher.assign.iter().filter_map(Assign::jsonata).collect();
        match self.leave_with(id, catcher.output.as_ref(), &assigns, error_output.clone(), data) {
            Ok((output, assigned)) => self.exit(id, state, output, Some(&catcher.next), assigned),
            Err(failure) => self.end_frame(id, Err(failure)),
        }
    }

    pub(super) fn arguments(&mut self, id: &str, io: &JsonataIo, data: Data<'_>) -> Result<Value, Failure> {
        match &io.arguments {
            Some(t) => self.apply(id, t, "Arguments", data),
            None => Ok(data.input.clone()),
        }
    }

    pub(super) fn text(
        &mut self,
        id: &str,
        text: Option<&Text>,
        field: &str,
        data: Data<'_>,
    ) -> Result<String, Failure> {
        let value = match text {
            None => return Ok(String::new()),
            Some(Text::Jsonata(t)) => self.apply(id, t, field, data)?,
            Some(Text::Payload(p)) => {
                let variables = self.variables(id);
                p.apply(data.input, &Bindings::new(data.context, &variables))?
            }
        };
        Ok(match value {
            Value::String(s) => s,
            other => other.to_string(),
        })
    }

    pub(super) fn amount(
        &mut self,
        id: &str,
        amount: Option<&Amount<u64>>,
        field: &str,
        data: Data<'_>,
    ) -> Result<Option<u64>, Failure> {
        match amount {
            Some(Amount::Expr(e)) => {
                let value = self.evaluate(id, e, field, data)?;
                whole(&value, field).map(Some)
            }
            // Written out: a JSONata state has no `...Path` fields.
            other => super::amount(other, data.input, &Bindings::new(data.context, &Map::new())),
        }
    }
}
