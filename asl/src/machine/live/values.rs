//! Small reckonings of the decisions: a state's next, type name, sizes,
//! amounts and the instant a Wait ends.

use crate::definition::{Amount, Kind, State, Transition, Wait};
use crate::errors::{self, Failure};
use crate::machine::MAX_PAYLOAD;
use crate::machine::frames::{after, json_bytes};
use crate::paths::Bindings;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The state a state goes to next, unless it ends its machine.
pub(super) fn next_of(state: &State) -> Option<&str> {
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

pub(super) fn kind_of(value: &Value) -> &'static str {
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
pub(super) fn check_size(value: &Value, what: &str) -> Result<(), Failure> {
    let size = json_bytes(value);
    if size > MAX_PAYLOAD {
        return Err(Failure::new(
            errors::DATA_LIMIT_EXCEEDED,
            format!("{what} is {size} bytes, more than the limit of {MAX_PAYLOAD}"),
        ));
    }
    Ok(())
}

/// The most a Map's item inputs may weigh together: its items need not
/// come from its input (an `ItemSelector` may copy a variable into each),
/// so a payload's limit does not bound them.
const MAX_PLANNED_BYTES: usize = 16 * MAX_PAYLOAD;

/// What a Map's item inputs weigh so far, checked as each is made.
#[derive(Debug, Default)]
pub(super) struct Planned {
    bytes: usize,
}

impl Planned {
    /// Adds an item's input; `States.DataLimitExceeded` past the limit.
    pub(super) fn add(&mut self, input: &Value) -> Result<(), Failure> {
        self.bytes += json_bytes(input);
        if self.bytes > MAX_PLANNED_BYTES {
            return Err(Failure::new(
                errors::DATA_LIMIT_EXCEEDED,
                format!("the Map state's item inputs weigh more than the limit of {MAX_PLANNED_BYTES} bytes"),
            ));
        }
        Ok(())
    }
}

/// A whole number of seconds (or items) written out or read from the
/// effective input (or the context object, or a variable).
pub(super) fn amount(
    amount: Option<&Amount<u64>>,
    effective: &Value,
    bindings: &Bindings<'_>,
) -> Result<Option<u64>, Failure> {
    match amount {
        None => Ok(None),
        Some(Amount::Fixed(n)) => Ok(Some(*n)),
        Some(Amount::Path(path)) => {
            let value = path.select(effective, bindings).map_err(Failure::runtime)?;
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

pub(super) fn wait_until(
    wait: &Wait,
    effective: &Value,
    bindings: &Bindings<'_>,
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
            amount(Some(&Amount::Path(path.clone())), effective, bindings).map(|s| after(now, s.unwrap_or(0)))
        }
        Wait::TimestampPath(path) => {
            let value = path.select(effective, bindings).map_err(Failure::runtime)?;
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
