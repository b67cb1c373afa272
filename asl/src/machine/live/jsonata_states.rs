//! JSONata Choice, Wait and Map states: conditions and their rules'
//! `Output` and `Assign`, computed waits, and a Map's `Items`,
//! `ItemSelector` and limits.

use super::Planned;
use super::jsonata::Data;
use super::{Live, kind_of};
use crate::definition::{Amount, JsonataIo, MapState, State, Wait};
use crate::errors::{self, Failure};
use crate::jsonata::Template;
use crate::machine::events::Event;
use crate::machine::frames::after;
use crate::paths::Bindings;
use crate::variables::Assign;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

impl<'d> Live<'_, 'd> {
    pub(super) fn choose(
        &mut self,
        id: &str,
        state: &'d State,
        io: &'d JsonataIo,
        choices: &'d [crate::choice::Choice],
        default: Option<&str>,
        data: Data<'_>,
    ) -> Result<(), Failure> {
        for choice in choices {
            let crate::choice::Condition::Jsonata(condition) = &choice.condition else {
                continue;
            };
            match self.evaluate(id, condition, "Condition", data)? {
                Value::Bool(true) => {
                    // The rule's own Output and Assign, never the state's:
                    // those belong to Default (as in the JSONPath Choice).
                    let output = choice.output.as_ref();
                    let assigns: Vec<&Template> = choice.assign.iter().filter_map(Assign::jsonata).collect();
                    let (output, assigned) =
                        self.leave_with(id, output, &assigns, data.input.clone(), data)?;
                    self.exit(id, state, output, Some(&choice.next), assigned);
                    return Ok(());
                }
                Value::Bool(false) => {}
                other => {
                    return Err(Failure::new(
                        errors::QUERY_EVALUATION_ERROR,
                        format!(
                            "the Condition {} gave {}, not a boolean",
                            condition.source(),
                            kind_of(&other)
                        ),
                    ));
                }
            }
        }
        let next = default.ok_or_else(|| {
            Failure::new(
                errors::NO_CHOICE_MATCHED,
                "no choice rule matched and there is no Default",
            )
        })?;
        let assigns: Vec<&Template> = io.assign.iter().collect();
        let (output, assigned) =
            self.leave_with(id, io.output.as_ref(), &assigns, data.input.clone(), data)?;
        self.exit(id, state, output, Some(next), assigned);
        Ok(())
    }

    pub(super) fn wait(
        &mut self,
        id: &str,
        state: &'d State,
        io: &'d JsonataIo,
        wait: &Wait,
        data: Data<'_>,
    ) -> Result<(), Failure> {
        let until = match wait {
            Wait::SecondsExpr(e) => {
                let value = self.evaluate(id, e, "Seconds", data)?;
                after(self.now, whole(&value, "Seconds")?)
            }
            Wait::TimestampExpr(e) => {
                let value = self.evaluate(id, e, "Timestamp", data)?;
                timestamp(&value)?
            }
            // Written out: a JSONata state has no `...Path` fields.
            other => super::wait_until(
                other,
                data.input,
                &Bindings::new(data.context, &Map::new()),
                self.now,
            )?,
        };
        if until <= self.now {
            return self.leave(id, state, io, None, data);
        }
        self.emit(Event::WaitStarted {
            frame: id.to_owned(),
            until,
            at: self.now,
        });
        self.schedule(id, None);
        Ok(())
    }

    /// A JSONata Map's iterations: `Items` (the input by default), each
    /// item's input through `ItemSelector`, the concurrency and what it
    /// tolerates.
    pub(super) fn plan_items(&mut self, id: &str, map: &MapState, data: Data<'_>) -> Result<Event, Failure> {
        let items = match &map.items {
            Some(t) => self.apply(id, t, "Items", data)?,
            None => data.input.clone(),
        };
        let Value::Array(items) = items else {
            return Err(Failure::new(
                errors::QUERY_EVALUATION_ERROR,
                format!("the Map state's Items is {}, not an array", kind_of(&items)),
            ));
        };
        let mut inputs = Vec::with_capacity(items.len());
        let mut planned = Planned::default();
        for (i, item) in items.iter().enumerate() {
            let input = match &map.item_template {
                None => item.clone(),
                Some(t) => {
                    let ctx = self.context(id, None, Some((i, item)));
                    self.apply(
                        id,
                        t,
                        "ItemSelector",
                        Data {
                            context: &ctx,
                            ..data
                        },
                    )?
                }
            };
            planned.add(&input)?;
            inputs.push(input);
        }
        let max_concurrency = self
            .amount(id, Some(&map.max_concurrency), "MaxConcurrency", data)?
            .unwrap_or(0);
        let tolerated_count = self.amount(
            id,
            map.tolerated_failure_count.as_ref(),
            "ToleratedFailureCount",
            data,
        )?;
        let tolerated_percentage = match &map.tolerated_failure_percentage {
            None => None,
            Some(Amount::Fixed(p)) => Some(*p),
            Some(Amount::Expr(e)) => {
                let value = self.evaluate(id, e, "ToleratedFailurePercentage", data)?;
                Some(
                    value
                        .as_f64()
                        .filter(|p| (0.0..=100.0).contains(p))
                        .ok_or_else(|| {
                            Failure::new(
                                errors::QUERY_EVALUATION_ERROR,
                                format!(
                                    "ToleratedFailurePercentage gave {value}, not a number from 0 to 100"
                                ),
                            )
                        })?,
                )
            }
            Some(Amount::Path(_)) => None,
        };
        Ok(self.map_planned(id, inputs, max_concurrency, tolerated_count, tolerated_percentage))
    }
}

/// A whole number of at least 0 that `field`'s expression gave.
pub(super) fn whole(value: &Value, field: &str) -> Result<u64, Failure> {
    value
        .as_u64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        })
        .ok_or_else(|| {
            Failure::new(
                errors::QUERY_EVALUATION_ERROR,
                format!("{field} gave {value}, not a whole number of at least 0"),
            )
        })
}

/// The instant an expression gave, an RFC 3339 string.
fn timestamp(value: &Value) -> Result<DateTime<Utc>, Failure> {
    value
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            Failure::new(
                errors::QUERY_EVALUATION_ERROR,
                format!("Timestamp gave {value}, not an RFC 3339 timestamp"),
            )
        })
}
