use super::ip::Net;
use super::numeric::{Cmp, parse_date};
use super::{StrOp, Test};
use crate::glob::Colons;
use crate::template::Template;
use base64::Engine as _;
use serde_json::Value;

/// A condition's values as text: a string, number or boolean, or a
/// non-empty list of them.
pub(super) fn scalars(raw: &Value) -> Result<Vec<String>, String> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!(
            "a condition value must be a string, number or boolean, not {other}"
        )),
    };
    match raw {
        Value::Array(items) if items.is_empty() => Err("the list of values is empty".into()),
        Value::Array(items) => items.iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

pub(super) fn parse_test(base: &str, values: &[String], variables: bool) -> Result<Test, String> {
    let templates = |colons| {
        values
            .iter()
            .map(|v| Template::parse(v, variables, colons).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()
    };
    let numbers = || {
        values
            .iter()
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("{v:?} is not a number"))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let dates = || {
        values
            .iter()
            .map(|v| {
                parse_date(v).ok_or_else(|| {
                    format!("{v:?} is not a date (ISO 8601, such as 2026-01-31T12:00:00Z, or epoch seconds)")
                })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let str_test = |op, negated| -> Result<Test, String> {
        Ok(Test::Str {
            op,
            negated,
            values: templates(Colons::Free)?,
        })
    };
    let num = |cmp, negated| -> Result<Test, String> {
        Ok(Test::Numeric {
            cmp,
            negated,
            values: numbers()?,
        })
    };
    let date = |cmp, negated| -> Result<Test, String> {
        Ok(Test::Date {
            cmp,
            negated,
            values: dates()?,
        })
    };
    let arn = |negated| -> Result<Test, String> {
        Ok(Test::Arn {
            negated,
            values: templates(Colons::Segment)?,
        })
    };
    let ip = |negated| -> Result<Test, String> {
        let nets = values
            .iter()
            .map(|v| Net::parse(v))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Test::Ip { negated, nets })
    };
    match base {
        "StringEquals" => str_test(StrOp::Equals, false),
        "StringNotEquals" => str_test(StrOp::Equals, true),
        "StringEqualsIgnoreCase" => str_test(StrOp::EqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => str_test(StrOp::EqualsIgnoreCase, true),
        "StringLike" => str_test(StrOp::Like, false),
        "StringNotLike" => str_test(StrOp::Like, true),
        "NumericEquals" => num(Cmp::Eq, false),
        "NumericNotEquals" => num(Cmp::Eq, true),
        "NumericLessThan" => num(Cmp::Lt, false),
        "NumericLessThanEquals" => num(Cmp::Le, false),
        "NumericGreaterThan" => num(Cmp::Gt, false),
        "NumericGreaterThanEquals" => num(Cmp::Ge, false),
        "DateEquals" => date(Cmp::Eq, false),
        "DateNotEquals" => date(Cmp::Eq, true),
        "DateLessThan" => date(Cmp::Lt, false),
        "DateLessThanEquals" => date(Cmp::Le, false),
        "DateGreaterThan" => date(Cmp::Gt, false),
        "DateGreaterThanEquals" => date(Cmp::Ge, false),
        "Bool" => values
            .iter()
            .map(|v| parse_bool(v).ok_or_else(|| format!("{v:?} is not true or false")))
            .collect::<Result<_, _>>()
            .map(Test::Bool),
        "BinaryEquals" => values
            .iter()
            .map(|v| {
                base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .map_err(|_| format!("{v:?} is not base64"))
            })
            .collect::<Result<_, _>>()
            .map(Test::Binary),
        "IpAddress" => ip(false),
        "NotIpAddress" => ip(true),
        "ArnEquals" | "ArnLike" => arn(false),
        "ArnNotEquals" | "ArnNotLike" => arn(true),
        "Null" => match values {
            [one] => parse_bool(one)
                .map(|absent| Test::Null { absent })
                .ok_or_else(|| format!("Null takes true (key absent) or false (key present), not {one:?}")),
            _ => Err("Null takes one value: true or false".into()),
        },
        other => Err(format!(
            "unknown condition operator `{other}` (see the String, Numeric, Date, Bool, BinaryEquals, \
             IpAddress, Arn and Null families)"
        )),
    }
}

pub(super) fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}
