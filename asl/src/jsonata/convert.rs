//! A result turned into JSON, as `JSON.stringify` would write it for AWS:
//! whole numbers as integers, non-finite numbers as the strings JavaScript
//! names them by, undefined left out of objects and null in arrays.

use jsonata_core::value::JValue;
use serde_json::{Map, Number, Value};

use super::MAX_RESULT_DEPTH;

/// Why a result is not JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unrepresentable {
    /// A function (or a regex) somewhere in it.
    Function,
    /// Nested deeper than this many levels.
    TooDeep(usize),
    /// Larger than this many bytes of JSON, about.
    TooLarge(usize),
}

/// The most a result may weigh, about, in bytes of JSON: a payload's limit
/// with room to spare. The engine shares values, so a small expression can
/// name a huge result (`[1..999999].$big`); it is refused before copying.
pub(super) const MAX_RESULT_BYTES: usize = 1024 * 1024;

/// The JSON of `value`, or `None` when it is undefined.
pub(super) fn to_json(value: &JValue) -> Result<Option<Value>, Unrepresentable> {
    let mut budget = MAX_RESULT_BYTES;
    convert(value, 0, &mut budget)
}

/// Takes `bytes` from `budget`, or fails when it does not have them.
fn spend(budget: &mut usize, bytes: usize) -> Result<(), Unrepresentable> {
    *budget = budget
        .checked_sub(bytes)
        .ok_or(Unrepresentable::TooLarge(MAX_RESULT_BYTES))?;
    Ok(())
}

/// `value` at nesting level `depth`; the depth check comes before the
/// recursion, so a deep value cannot overflow the stack here.
fn convert(value: &JValue, depth: usize, budget: &mut usize) -> Result<Option<Value>, Unrepresentable> {
    if depth > MAX_RESULT_DEPTH {
        return Err(Unrepresentable::TooDeep(MAX_RESULT_DEPTH));
    }
    spend(budget, 1)?;
    Ok(Some(match value {
        JValue::Undefined => return Ok(None),
        JValue::Null => Value::Null,
        JValue::Bool(b) => Value::Bool(*b),
        JValue::Number(n) => number(*n),
        JValue::String(s) => {
            spend(budget, s.len())?;
            Value::String(s.to_string())
        }
        JValue::Array(items) => {
            spend(budget, items.len())?;
            let mut array = Vec::with_capacity(items.len());
            for item in items.iter() {
                array.push(convert(item, depth + 1, budget)?.unwrap_or(Value::Null));
            }
            Value::Array(array)
        }
        JValue::Object(fields) => {
            let mut object = Map::new();
            for (key, field) in fields.iter() {
                spend(budget, key.len())?;
                if let Some(field) = convert(field, depth + 1, budget)? {
                    object.insert(key.clone(), field);
                }
            }
            Value::Object(object)
        }
        _ => return Err(Unrepresentable::Function),
    }))
}

/// A JSONata number (an f64) as JSON: an integer when it is a whole number
/// an f64 holds exactly, `"Infinity"`, `"-Infinity"` or `"NaN"` when it is
/// not finite (AWS writes them so).
fn number(n: f64) -> Value {
    const MAX_EXACT: f64 = 9_007_199_254_740_992.0;
    if n.is_nan() {
        Value::String("NaN".into())
    } else if n.is_infinite() {
        Value::String(if n > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else if n.fract() == 0.0 && n.abs() <= MAX_EXACT {
        // A whole number of at most 2^53 in magnitude is an exact i64.
        Value::from(n as i64)
    } else {
        Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}
