//! From JSON to a compiled pattern, refusing anything EventBridge would,
//! with the JSON path of the problem.

use super::matching::{Cidr, Wildcard};
use super::{AnythingBut, Cmp, Field, Matcher, Obj, Pattern, PatternError};
use serde_json::{Map, Value};

/// The largest pattern accepted, bytes of JSON.
pub const MAX_PATTERN_BYTES: usize = 8 * 1024;

fn err(path: &str, message: impl Into<String>) -> PatternError {
    PatternError {
        path: path.to_owned(),
        message: message.into(),
    }
}

pub(super) fn parse_text(text: &str) -> Result<Pattern, PatternError> {
    if text.len() > MAX_PATTERN_BYTES {
        return Err(err(
            "$",
            format!("a pattern may be at most {MAX_PATTERN_BYTES} bytes"),
        ));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| err("$", format!("not JSON: {e}")))?;
    Ok(Pattern {
        root: object(&value, "$")?,
    })
}

/// A pattern given as a value: the same size limit as text, measured as
/// its compact JSON.
pub(super) fn parse_value(value: &Value) -> Result<Pattern, PatternError> {
    if value.to_string().len() > MAX_PATTERN_BYTES {
        return Err(err(
            "$",
            format!("a pattern may be at most {MAX_PATTERN_BYTES} bytes"),
        ));
    }
    Ok(Pattern {
        root: object(value, "$")?,
    })
}

fn key_path(path: &str, key: &str) -> String {
    if key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') && !key.is_empty() {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", Value::String(key.to_owned()))
    }
}

/// An object level of a pattern.
pub(super) fn object(value: &Value, path: &str) -> Result<Obj, PatternError> {
    let Value::Object(map) = value else {
        return Err(err(path, "a pattern must be a JSON object"));
    };
    if map.is_empty() {
        return Err(err(
            path,
            "an empty object matches nothing; name at least one field",
        ));
    }
    let mut obj = Obj::default();
    for (key, v) in map {
        let here = key_path(path, key);
        if key == "$or" {
            obj.ors.push(or_group(v, &here)?);
            continue;
        }
        let field = match v {
            Value::Object(_) => Field::Nested(object(v, &here)?),
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(err(
                        &here,
                        "an empty list matches nothing; give at least one value",
                    ));
                }
                let matchers = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| matcher(item, &format!("{here}[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                Field::Leaf(matchers)
            }
            _ => {
                return Err(err(
                    &here,
                    "a leaf must be a list of values or matchers, such as [\"a\"] or [{\"prefix\": \"a\"}]",
                ));
            }
        };
        obj.fields.push((key.clone(), field));
    }
    Ok(obj)
}

fn or_group(v: &Value, path: &str) -> Result<Vec<Obj>, PatternError> {
    let Value::Array(items) = v else {
        return Err(err(path, "$or takes a list of patterns"));
    };
    if items.len() < 2 {
        return Err(err(path, "$or needs at least two patterns"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| object(item, &format!("{path}[{i}]")))
        .collect()
}

fn matcher(item: &Value, path: &str) -> Result<Matcher, PatternError> {
    match item {
        Value::String(_) | Value::Bool(_) | Value::Null => Ok(Matcher::Exact(item.clone())),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() => Ok(Matcher::Exact(item.clone())),
            _ => Err(err(path, "numbers must be finite")),
        },
        Value::Array(_) => Err(err(path, "lists do not nest: put the values in one list")),
        Value::Object(map) => operator(map, path),
    }
}

fn one_entry<'a>(map: &'a Map<String, Value>, path: &str) -> Result<(&'a str, &'a Value), PatternError> {
    let mut entries = map.iter();
    match (entries.next(), entries.next()) {
        (Some((k, v)), None) => Ok((k.as_str(), v)),
        _ => Err(err(
            path,
            "a matcher object has exactly one operator, such as {\"prefix\": \"a\"}",
        )),
    }
}

fn string<'a>(v: &'a Value, path: &str, what: &str) -> Result<&'a str, PatternError> {
    v.as_str()
        .ok_or_else(|| err(path, format!("{what} takes a string")))
}

/// A string, or `{"equals-ignore-case": string}`: (text, ignore case).
fn affix(v: &Value, path: &str, what: &str) -> Result<(String, bool), PatternError> {
    match v {
        Value::String(s) => Ok((s.clone(), false)),
        Value::Object(map) => {
            let (k, inner) = one_entry(map, path)?;
            if k != "equals-ignore-case" {
                return Err(err(
                    path,
                    format!("{what} takes a string or {{\"equals-ignore-case\": string}}"),
                ));
            }
            let s = string(inner, &key_path(path, k), "equals-ignore-case")?;
            Ok((s.to_lowercase(), true))
        }
        _ => Err(err(
            path,
            format!("{what} takes a string or {{\"equals-ignore-case\": string}}"),
        )),
    }
}

/// A string or a non-empty list of strings.
fn strings(v: &Value, path: &str, what: &str) -> Result<Vec<String>, PatternError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, x)| string(x, &format!("{path}[{i}]"), what).map(str::to_owned))
            .collect(),
        _ => Err(err(
            path,
            format!("{what} takes a string or a non-empty list of strings"),
        )),
    }
}

fn operator(map: &Map<String, Value>, path: &str) -> Result<Matcher, PatternError> {
    let (op, v) = one_entry(map, path)?;
    let here = key_path(path, op);
    match op {
        "prefix" => {
            let (s, ci) = affix(v, &here, "prefix")?;
            Ok(Matcher::Prefix(s, ci))
        }
        "suffix" => {
            let (s, ci) = affix(v, &here, "suffix")?;
            Ok(Matcher::Suffix(s, ci))
        }
        "equals-ignore-case" => Ok(Matcher::EqualsIgnoreCase(
            string(v, &here, "equals-ignore-case")?.to_lowercase(),
        )),
        "anything-but" => anything_but(v, &here).map(Matcher::AnythingBut),
        "numeric" => numeric(v, &here).map(Matcher::Numeric),
        "exists" => match v {
            Value::Bool(b) => Ok(Matcher::Exists(*b)),
            _ => Err(err(&here, "exists takes true or false")),
        },
        "cidr" => {
            let s = string(v, &here, "cidr")?;
            Cidr::parse(s)
                .map(Matcher::Cidr)
                .ok_or_else(|| err(&here, format!("{s:?} is not a CIDR block such as 10.0.0.0/24")))
        }
        "wildcard" => {
            let s = string(v, &here, "wildcard")?;
            Wildcard::parse(s)
                .map(Matcher::Wildcard)
                .map_err(|m| err(&here, m))
        }
        other => Err(err(
            path,
            format!(
                "unknown operator {other:?}; use prefix, suffix, equals-ignore-case, anything-but, numeric, \
                 exists, cidr or wildcard"
            ),
        )),
    }
}

fn anything_but(v: &Value, path: &str) -> Result<AnythingBut, PatternError> {
    match v {
        Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => {
            Ok(AnythingBut::Values(vec![v.clone()]))
        }
        Value::Array(items) => {
            if items.is_empty() {
                return Err(err(path, "anything-but needs at least one value"));
            }
            let strings = items.iter().all(Value::is_string);
            let numbers = items.iter().all(Value::is_number);
            if !strings && !numbers {
                return Err(err(
                    path,
                    "an anything-but list holds only strings or only numbers",
                ));
            }
            Ok(AnythingBut::Values(items.clone()))
        }
        Value::Object(map) => {
            let (op, inner) = one_entry(map, path)?;
            let here = key_path(path, op);
            match op {
                "prefix" => Ok(AnythingBut::Prefixes(strings(inner, &here, "prefix")?)),
                "suffix" => Ok(AnythingBut::Suffixes(strings(inner, &here, "suffix")?)),
                "equals-ignore-case" => Ok(AnythingBut::IgnoreCase(
                    strings(inner, &here, "equals-ignore-case")?
                        .into_iter()
                        .map(|s| s.to_lowercase())
                        .collect(),
                )),
                "wildcard" => {
                    let patterns = strings(inner, &here, "wildcard")?;
                    patterns
                        .iter()
                        .map(|p| Wildcard::parse(p).map_err(|m| err(&here, m)))
                        .collect::<Result<Vec<_>, _>>()
                        .map(AnythingBut::Wildcards)
                }
                other => Err(err(
                    path,
                    format!(
                        "anything-but does not take {other:?}; use prefix, suffix, equals-ignore-case or wildcard"
                    ),
                )),
            }
        }
    }
}

fn numeric(v: &Value, path: &str) -> Result<Vec<(Cmp, f64)>, PatternError> {
    let Value::Array(items) = v else {
        return Err(err(path, "numeric takes a list such as [\">\", 0, \"<=\", 5]"));
    };
    if items.is_empty() || items.len() % 2 != 0 || items.len() > 4 {
        return Err(err(
            path,
            "numeric takes one or two comparisons: [\"op\", number, ...]",
        ));
    }
    let mut out = Vec::new();
    for (i, pair) in items.chunks(2).enumerate() {
        let op_path = format!("{path}[{}]", i * 2);
        let cmp = match pair[0].as_str() {
            Some("=") => Cmp::Eq,
            Some("<") => Cmp::Lt,
            Some("<=") => Cmp::Le,
            Some(">") => Cmp::Gt,
            Some(">=") => Cmp::Ge,
            _ => return Err(err(&op_path, "the operator must be one of =, <, <=, >, >=")),
        };
        let n = pair[1]
            .as_f64()
            .filter(|f| f.is_finite())
            .ok_or_else(|| err(&format!("{path}[{}]", i * 2 + 1), "a comparison needs a number"))?;
        out.push((cmp, n));
    }
    let lower = out.iter().filter(|(c, _)| matches!(c, Cmp::Gt | Cmp::Ge)).count();
    let upper = out.iter().filter(|(c, _)| matches!(c, Cmp::Lt | Cmp::Le)).count();
    let eq = out.iter().filter(|(c, _)| *c == Cmp::Eq).count();
    if lower > 1 || upper > 1 || (eq > 0 && out.len() > 1) {
        return Err(err(
            path,
            "numeric takes one equality, or at most one lower and one upper bound",
        ));
    }
    Ok(out)
}
