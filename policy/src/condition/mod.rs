//! The `Condition` element: operators, their typed values, and AWS's rules
//! for missing keys, `...IfExists`, and the `ForAnyValue:`/`ForAllValues:`
//! set qualifiers.
//!
//! Values are parsed when the policy is (a `NumericLessThan` with a value
//! that is not a number is refused then), so evaluation never fails: a
//! context value that cannot be read as the operator's type matches
//! nothing.
//!
//! - `parse`: the operator names and their values read into a test, for
//!   every family.
//! - `numeric`: the comparisons of the Numeric and Date families, and dates
//!   read as epoch seconds.
//! - `ip`: the networks of `IpAddress` and `NotIpAddress`.
//! - `tests`: every operator family, missing keys and the set qualifiers.

mod ip;
mod numeric;
mod parse;
#[cfg(test)]
mod tests;

use crate::context::Context;
use crate::template::Template;
use base64::Engine as _;
use ip::Net;
use numeric::Cmp;
pub(crate) use numeric::parse_date;
use parse::{parse_bool, parse_test, scalars};
use serde_json::Value;
use std::net::IpAddr;

/// One operator applied to one key, such as
/// `"ForAllValues:StringLike": {"mc:TagKeys": ["team-*"]}`.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    key: String,
    qualifier: Option<Qualifier>,
    if_exists: bool,
    test: Test,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qualifier {
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrOp {
    Equals,
    EqualsIgnoreCase,
    Like,
}

/// The operator family with its parsed values. `negated` is the `Not`
/// form: the value must match none of the policy's values (a NOR).
#[derive(Debug, Clone)]
enum Test {
    Str {
        op: StrOp,
        negated: bool,
        values: Vec<Template>,
    },
    Numeric {
        cmp: Cmp,
        negated: bool,
        values: Vec<f64>,
    },
    Date {
        cmp: Cmp,
        negated: bool,
        values: Vec<f64>,
    },
    Bool(Vec<bool>),
    Binary(Vec<Vec<u8>>),
    Ip {
        negated: bool,
        nets: Vec<Net>,
    },
    Arn {
        negated: bool,
        values: Vec<Template>,
    },
    Null {
        absent: bool,
    },
}

impl Test {
    fn negated(&self) -> bool {
        match self {
            Test::Str { negated, .. }
            | Test::Numeric { negated, .. }
            | Test::Date { negated, .. }
            | Test::Ip { negated, .. }
            | Test::Arn { negated, .. } => *negated,
            Test::Bool(_) | Test::Binary(_) | Test::Null { .. } => false,
        }
    }

    /// Whether one context value satisfies the operator, negation included.
    fn value_holds(&self, value: &str, ctx: &Context) -> bool {
        let any = match self {
            Test::Str { op, values, .. } => match op {
                StrOp::Equals => values.iter().any(|t| t.expand(ctx).is_some_and(|e| e == value)),
                StrOp::EqualsIgnoreCase => values.iter().any(|t| {
                    t.expand(ctx)
                        .is_some_and(|e| e.to_lowercase() == value.to_lowercase())
                }),
                StrOp::Like => values.iter().any(|t| t.matches(value, ctx, false)),
            },
            Test::Numeric { cmp, values, .. } => {
                let Ok(actual) = value.trim().parse::<f64>() else {
                    return false;
                };
                values.iter().any(|v| cmp.holds(actual, *v))
            }
            Test::Date { cmp, values, .. } => {
                let Some(actual) = parse_date(value) else {
                    return false;
                };
                values.iter().any(|v| cmp.holds(actual, *v))
            }
            Test::Bool(values) => {
                let Some(actual) = parse_bool(value) else {
                    return false;
                };
                values.contains(&actual)
            }
            Test::Binary(values) => {
                let Ok(actual) = base64::engine::general_purpose::STANDARD.decode(value.trim()) else {
                    return false;
                };
                values.contains(&actual)
            }
            Test::Ip { nets, .. } => {
                let Ok(ip) = value.trim().parse::<IpAddr>() else {
                    return false;
                };
                nets.iter().any(|n| n.contains(ip))
            }
            Test::Arn { values, .. } => values.iter().any(|t| t.matches(value, ctx, false)),
            // Decided on presence alone, in `Condition::holds`.
            Test::Null { .. } => false,
        };
        any != self.negated()
    }
}

impl Condition {
    /// Whether the condition holds for the request.
    pub(crate) fn holds(&self, ctx: &Context) -> bool {
        let values = ctx.values(&self.key);
        if let Test::Null { absent } = self.test {
            return values.is_none() == absent;
        }
        let Some(values) = values else {
            // AWS: a missing key fails the test, except that it satisfies
            // a negated operator, an ...IfExists operator and ForAllValues.
            return match self.qualifier {
                Some(Qualifier::ForAllValues) => true,
                Some(Qualifier::ForAnyValue) => false,
                None => self.if_exists || self.test.negated(),
            };
        };
        match self.qualifier {
            Some(Qualifier::ForAllValues) => values.iter().all(|v| self.test.value_holds(v, ctx)),
            Some(Qualifier::ForAnyValue) => values.iter().any(|v| self.test.value_holds(v, ctx)),
            // Without a qualifier, a positive operator needs one matching
            // value; a negated one needs every value to match none.
            None if self.test.negated() => values.iter().all(|v| self.test.value_holds(v, ctx)),
            None => values.iter().any(|v| self.test.value_holds(v, ctx)),
        }
    }

    /// Parses every condition of one operator entry, such as
    /// `"StringEquals": {"mc:username": "alice", "mc:project": ["a", "b"]}`.
    pub(crate) fn parse(operator: &str, keys: &Value, variables: bool) -> Result<Vec<Self>, String> {
        let (qualifier, rest) = if let Some(rest) = operator.strip_prefix("ForAnyValue:") {
            (Some(Qualifier::ForAnyValue), rest)
        } else if let Some(rest) = operator.strip_prefix("ForAllValues:") {
            (Some(Qualifier::ForAllValues), rest)
        } else {
            (None, operator)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        if base == "Null" && (if_exists || qualifier.is_some()) {
            return Err(format!(
                "`{operator}`: Null takes neither IfExists nor a set qualifier"
            ));
        }
        let Value::Object(keys) = keys else {
            return Err(format!(
                "`{operator}` must map condition keys to values, as in {{\"mc:username\": \"alice\"}}"
            ));
        };
        if keys.is_empty() {
            return Err(format!("`{operator}` names no condition key"));
        }
        keys.iter()
            .map(|(key, raw)| {
                if key.trim().is_empty() {
                    return Err(format!("`{operator}` has an empty condition key"));
                }
                let values = scalars(raw).map_err(|e| format!("`{operator}` / `{key}`: {e}"))?;
                let test = parse_test(base, &values, variables)
                    .map_err(|e| format!("`{operator}` / `{key}`: {e}"))?;
                Ok(Self {
                    key: key.to_ascii_lowercase(),
                    qualifier,
                    if_exists,
                    test,
                })
            })
            .collect()
    }
}
