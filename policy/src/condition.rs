//! The `Condition` element: operators, their typed values, and AWS's rules
//! for missing keys, `...IfExists`, and the `ForAnyValue:`/`ForAllValues:`
//! set qualifiers.
//!
//! Values are parsed when the policy is (a `NumericLessThan` with a value
//! that is not a number is refused then), so evaluation never fails: a
//! context value that cannot be read as the operator's type matches
//! nothing.

use crate::context::Context;
use crate::glob::Colons;
use crate::template::Template;
use base64::Engine as _;
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
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds(self, actual: f64, expected: f64) -> bool {
        match self {
            Cmp::Eq => actual == expected,
            Cmp::Lt => actual < expected,
            Cmp::Le => actual <= expected,
            Cmp::Gt => actual > expected,
            Cmp::Ge => actual >= expected,
        }
    }
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

/// A condition's values as text: a string, number or boolean, or a
/// non-empty list of them.
fn scalars(raw: &Value) -> Result<Vec<String>, String> {
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

fn parse_test(base: &str, values: &[String], variables: bool) -> Result<Test, String> {
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

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Seconds since the epoch, from ISO 8601 (with or without an offset or a
/// time) or from epoch seconds.
pub(crate) fn parse_date(v: &str) -> Option<f64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return Some(secs);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.timestamp_millis() as f64 / 1000.0);
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, format) {
            return Some(t.and_utc().timestamp_millis() as f64 / 1000.0);
        }
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp() as f64)
}

/// An IPv4 or IPv6 network in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    fn parse(text: &str) -> Result<Self, String> {
        let bad =
            || format!("{text:?} is not an IP address or CIDR range such as 203.0.113.0/24 or 2001:db8::/32");
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, bits) = match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (u128::from(n.to_bits()), u128::from(i.to_bits()), 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => (n.to_bits(), i.to_bits(), 128),
            _ => return false,
        };
        if self.prefix == 0 {
            return true;
        }
        let shift = bits - u32::from(self.prefix);
        (net >> shift) == (ip >> shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Whether the whole operator entry holds (its keys AND'ed).
    fn holds(operator: &str, keys: Value, ctx: &Context) -> bool {
        Condition::parse(operator, &keys, true)
            .expect("valid condition")
            .iter()
            .all(|c| c.holds(ctx))
    }

    fn user(name: &str) -> Context {
        Context::new().with("mc:username", name)
    }

    #[test]
    fn string_operators() {
        let alice = user("alice");
        assert!(holds("StringEquals", json!({"mc:username": "alice"}), &alice));
        assert!(!holds("StringEquals", json!({"mc:username": "Alice"}), &alice));
        assert!(holds(
            "StringEquals",
            json!({"MC:UserName": ["bob", "alice"]}),
            &alice
        ));
        assert!(holds(
            "StringEqualsIgnoreCase",
            json!({"mc:username": "ALICE"}),
            &alice
        ));
        assert!(!holds(
            "StringNotEqualsIgnoreCase",
            json!({"mc:username": "ALICE"}),
            &alice
        ));
        assert!(holds("StringLike", json!({"mc:username": "a*e"}), &alice));
        assert!(holds("StringLike", json!({"mc:username": "?lice"}), &alice));
        // StringEquals does not treat * as a wildcard.
        assert!(!holds("StringEquals", json!({"mc:username": "a*"}), &alice));
        // Negated operators are a NOR over the listed values.
        assert!(holds(
            "StringNotEquals",
            json!({"mc:username": ["bob", "carol"]}),
            &alice
        ));
        assert!(!holds(
            "StringNotEquals",
            json!({"mc:username": ["bob", "alice"]}),
            &alice
        ));
        assert!(!holds(
            "StringNotLike",
            json!({"mc:username": ["x*", "al*"]}),
            &alice
        ));
        // Numbers and booleans in a policy are compared as their text.
        assert!(holds(
            "StringEquals",
            json!({"mc:count": 5}),
            &Context::new().with("mc:count", "5")
        ));
    }

    #[test]
    fn missing_keys_follow_aws() {
        let empty = Context::new();
        assert!(!holds("StringEquals", json!({"mc:username": "alice"}), &empty));
        assert!(!holds("StringLike", json!({"mc:username": "*"}), &empty));
        // Negated operators are true when the key is absent.
        assert!(holds("StringNotEquals", json!({"mc:username": "alice"}), &empty));
        assert!(holds("StringNotLike", json!({"mc:username": "a*"}), &empty));
        assert!(holds("ArnNotLike", json!({"mc:SourceArn": "mrn:*"}), &empty));
        assert!(holds(
            "NotIpAddress",
            json!({"mc:SourceIp": "10.0.0.0/8"}),
            &empty
        ));
        assert!(holds("NumericNotEquals", json!({"mc:n": 1}), &empty));
        assert!(!holds("NumericLessThan", json!({"mc:n": 1}), &empty));
        assert!(!holds("Bool", json!({"mc:SecureTransport": true}), &empty));
        // ...IfExists: true when absent, the plain test when present.
        assert!(holds(
            "StringEqualsIfExists",
            json!({"mc:username": "alice"}),
            &empty
        ));
        assert!(holds(
            "StringEqualsIfExists",
            json!({"mc:username": "alice"}),
            &user("alice")
        ));
        assert!(!holds(
            "StringEqualsIfExists",
            json!({"mc:username": "alice"}),
            &user("bob")
        ));
        assert!(holds("NumericLessThanIfExists", json!({"mc:n": 1}), &empty));
        assert!(holds(
            "BoolIfExists",
            json!({"mc:MultiFactorAuthPresent": "true"}),
            &empty
        ));
        assert!(!holds(
            "BoolIfExists",
            json!({"mc:MultiFactorAuthPresent": "true"}),
            &Context::new().with("mc:MultiFactorAuthPresent", "false")
        ));
    }

    #[test]
    fn null_checks_presence() {
        let alice = user("alice");
        assert!(holds("Null", json!({"mc:username": "false"}), &alice));
        assert!(!holds("Null", json!({"mc:username": "true"}), &alice));
        assert!(holds("Null", json!({"mc:userid": true}), &alice));
        // An empty multivalued key counts as absent.
        let none = Context::new().with_many("mc:TagKeys", Vec::<String>::new());
        assert!(holds("Null", json!({"mc:TagKeys": "true"}), &none));
        assert!(Condition::parse("NullIfExists", &json!({"k": "true"}), true).is_err());
        assert!(Condition::parse("ForAnyValue:Null", &json!({"k": "true"}), true).is_err());
    }

    #[test]
    fn set_qualifiers() {
        let tags = Context::new().with_many("mc:TagKeys", ["team", "cost-center"]);
        let empty = Context::new();
        let allowed = json!({"mc:TagKeys": ["team", "cost-center", "env"]});
        assert!(holds("ForAllValues:StringEquals", allowed.clone(), &tags));
        assert!(!holds(
            "ForAllValues:StringEquals",
            json!({"mc:TagKeys": ["team"]}),
            &tags
        ));
        // ForAllValues is vacuously true without the key; ForAnyValue false.
        assert!(holds("ForAllValues:StringEquals", allowed.clone(), &empty));
        assert!(!holds("ForAnyValue:StringEquals", allowed, &empty));
        assert!(holds(
            "ForAnyValue:StringEquals",
            json!({"mc:TagKeys": "team"}),
            &tags
        ));
        assert!(!holds(
            "ForAnyValue:StringEquals",
            json!({"mc:TagKeys": "env"}),
            &tags
        ));
        assert!(holds(
            "ForAnyValue:StringLike",
            json!({"mc:TagKeys": "cost-*"}),
            &tags
        ));
        // Negation applies per value: every key must match none of "key1*".
        let deny_like = json!({"mc:TagKeys": "key1*"});
        assert!(!holds(
            "ForAllValues:StringNotLike",
            deny_like.clone(),
            &Context::new().with_many("mc:TagKeys", ["key1:hr", "key1:legal"])
        ));
        assert!(holds(
            "ForAllValues:StringNotLike",
            deny_like.clone(),
            &Context::new().with_many("mc:TagKeys", ["key2:audit"])
        ));
        assert!(holds("ForAllValues:StringNotLike", deny_like.clone(), &empty));
        assert!(holds(
            "ForAnyValue:StringNotLike",
            deny_like,
            &Context::new().with_many("mc:TagKeys", ["key1:hr", "key2:audit"])
        ));
    }

    #[test]
    fn numeric_and_date_operators() {
        let n = Context::new().with("mc:n", "10");
        assert!(holds("NumericEquals", json!({"mc:n": "10.0"}), &n));
        assert!(holds("NumericLessThan", json!({"mc:n": 11}), &n));
        assert!(!holds("NumericLessThan", json!({"mc:n": 10}), &n));
        assert!(holds("NumericLessThanEquals", json!({"mc:n": 10}), &n));
        assert!(holds("NumericGreaterThan", json!({"mc:n": [100, 9.5]}), &n));
        assert!(holds("NumericGreaterThanEquals", json!({"mc:n": 10}), &n));
        assert!(!holds("NumericNotEquals", json!({"mc:n": [1, 10]}), &n));
        assert!(!holds(
            "NumericEquals",
            json!({"mc:n": 10}),
            &Context::new().with("mc:n", "ten")
        ));
        assert!(Condition::parse("NumericEquals", &json!({"mc:n": "ten"}), true).is_err());

        let now = Context::new().with("mc:CurrentTime", "2026-11-23T10:00:00Z");
        assert!(holds(
            "DateGreaterThan",
            json!({"mc:CurrentTime": "2026-01-01T00:00:00Z"}),
            &now
        ));
        assert!(holds(
            "DateLessThan",
            json!({"mc:CurrentTime": "2027-01-01"}),
            &now
        ));
        assert!(holds(
            "DateEquals",
            json!({"mc:CurrentTime": "2026-11-23T11:00:00+01:00"}),
            &now
        ));
        assert!(holds(
            "DateLessThanEquals",
            json!({"mc:CurrentTime": 1_795_428_000}),
            &now
        ));
        assert!(holds(
            "DateNotEquals",
            json!({"mc:CurrentTime": "2026-11-23"}),
            &now
        ));
        let epoch = Context::new().with("mc:EpochTime", "1795428000");
        assert!(holds(
            "DateEquals",
            json!({"mc:EpochTime": "2026-11-23T10:00:00Z"}),
            &epoch
        ));
        assert!(Condition::parse("DateLessThan", &json!({"k": "yesterday"}), true).is_err());
    }

    #[test]
    fn bool_and_binary_operators() {
        let tls = Context::new().with("mc:SecureTransport", "true");
        assert!(holds("Bool", json!({"mc:SecureTransport": true}), &tls));
        assert!(holds("Bool", json!({"mc:SecureTransport": "TRUE"}), &tls));
        assert!(!holds("Bool", json!({"mc:SecureTransport": "false"}), &tls));
        assert!(Condition::parse("Bool", &json!({"k": "yes"}), true).is_err());
        let bin = Context::new().with("mc:key", "QmluYXJ5VmFsdWU=");
        assert!(holds("BinaryEquals", json!({"mc:key": "QmluYXJ5VmFsdWU="}), &bin));
        assert!(!holds("BinaryEquals", json!({"mc:key": "QmluYXJ5"}), &bin));
        assert!(Condition::parse("BinaryEquals", &json!({"k": "***"}), true).is_err());
    }

    #[test]
    fn ip_operators_v4_and_v6() {
        let v4 = Context::new().with("mc:SourceIp", "203.0.113.7");
        assert!(holds("IpAddress", json!({"mc:SourceIp": "203.0.113.0/24"}), &v4));
        assert!(holds("IpAddress", json!({"mc:SourceIp": "203.0.113.7"}), &v4));
        assert!(!holds("IpAddress", json!({"mc:SourceIp": "203.0.114.0/24"}), &v4));
        assert!(holds(
            "IpAddress",
            json!({"mc:SourceIp": ["10.0.0.0/8", "0.0.0.0/0"]}),
            &v4
        ));
        assert!(holds("NotIpAddress", json!({"mc:SourceIp": "10.0.0.0/8"}), &v4));
        assert!(!holds(
            "NotIpAddress",
            json!({"mc:SourceIp": ["10.0.0.0/8", "203.0.0.0/8"]}),
            &v4
        ));
        let v6 = Context::new().with("mc:SourceIp", "2001:db8:1::5");
        assert!(holds("IpAddress", json!({"mc:SourceIp": "2001:db8::/32"}), &v6));
        assert!(!holds("IpAddress", json!({"mc:SourceIp": "2001:db9::/32"}), &v6));
        assert!(!holds("IpAddress", json!({"mc:SourceIp": "0.0.0.0/0"}), &v6));
        // An IPv4 client seen through an IPv6 socket still matches v4 ranges.
        let mapped = Context::new().with("mc:SourceIp", "::ffff:203.0.113.7");
        assert!(holds(
            "IpAddress",
            json!({"mc:SourceIp": "203.0.113.0/24"}),
            &mapped
        ));
        assert!(Condition::parse("IpAddress", &json!({"k": "10.0.0.0/33"}), true).is_err());
        assert!(Condition::parse("IpAddress", &json!({"k": "ten"}), true).is_err());
    }

    #[test]
    fn arn_operators_match_segment_by_segment() {
        let src = Context::new().with("mc:SourceArn", "mrn:functions:acme:web:function/hello");
        for op in ["ArnEquals", "ArnLike"] {
            assert!(holds(
                op,
                json!({"mc:SourceArn": "mrn:functions:acme:*:function/*"}),
                &src
            ));
            assert!(!holds(op, json!({"mc:SourceArn": "mrn:functions:*"}), &src));
        }
        assert!(holds(
            "ArnNotLike",
            json!({"mc:SourceArn": "mrn:storage:*:*:*"}),
            &src
        ));
    }

    #[test]
    fn variables_in_condition_values() {
        let ctx = Context::new()
            .with("mc:username", "alice")
            .with("mc:ResourceTag/owner", "alice");
        assert!(holds(
            "StringEquals",
            json!({"mc:ResourceTag/owner": "${mc:username}"}),
            &ctx
        ));
        assert!(!holds(
            "StringEquals",
            json!({"mc:ResourceTag/owner": "${mc:userid}"}),
            &ctx
        ));
        assert!(holds(
            "StringEquals",
            json!({"mc:ResourceTag/owner": "${mc:userid, 'alice'}"}),
            &ctx
        ));
    }

    /// Every operator, plain and `...IfExists`, against a present value
    /// and a missing key (AWS: a missing key fails the test except for
    /// negated operators and `...IfExists`).
    #[test]
    fn every_operator_and_its_if_exists_variant() {
        // (operator, policy value, context value, holds, negated)
        let cases = [
            ("StringEquals", json!("a"), "a", true, false),
            ("StringNotEquals", json!("a"), "b", true, true),
            ("StringEqualsIgnoreCase", json!("A"), "a", true, false),
            ("StringNotEqualsIgnoreCase", json!("A"), "a", false, true),
            ("StringLike", json!("a*"), "abc", true, false),
            ("StringNotLike", json!("a*"), "abc", false, true),
            ("NumericEquals", json!(3), "3", true, false),
            ("NumericNotEquals", json!(3), "4", true, true),
            ("NumericLessThan", json!(3), "2", true, false),
            ("NumericLessThanEquals", json!(3), "3", true, false),
            ("NumericGreaterThan", json!(3), "3", false, false),
            ("NumericGreaterThanEquals", json!(3), "3", true, false),
            (
                "DateEquals",
                json!("2026-01-01T00:00:00Z"),
                "1767225600",
                true,
                false,
            ),
            (
                "DateNotEquals",
                json!("2026-01-01T00:00:00Z"),
                "1767225601",
                true,
                true,
            ),
            (
                "DateLessThan",
                json!("2026-01-01T00:00:00Z"),
                "2025-12-31T23:59:59Z",
                true,
                false,
            ),
            (
                "DateLessThanEquals",
                json!("2026-01-01T00:00:00Z"),
                "2026-01-01T00:00:00Z",
                true,
                false,
            ),
            (
                "DateGreaterThan",
                json!("2026-01-01T00:00:00Z"),
                "2026-01-01T00:00:00Z",
                false,
                false,
            ),
            (
                "DateGreaterThanEquals",
                json!("2026-01-01T00:00:00Z"),
                "2026-01-01T00:00:00Z",
                true,
                false,
            ),
            ("Bool", json!("true"), "true", true, false),
            ("BinaryEquals", json!("AAE="), "AAE=", true, false),
            ("IpAddress", json!("10.0.0.0/8"), "10.1.1.1", true, false),
            ("NotIpAddress", json!("10.0.0.0/8"), "10.1.1.1", false, true),
            ("ArnEquals", json!("mrn:f:o:p:x/*"), "mrn:f:o:p:x/y", true, false),
            ("ArnLike", json!("mrn:f:o:?:x/*"), "mrn:f:o:p:x/y", true, false),
            (
                "ArnNotEquals",
                json!("mrn:f:o:p:x/*"),
                "mrn:f:o:p:x/y",
                false,
                true,
            ),
            ("ArnNotLike", json!("mrn:f:o:q:*"), "mrn:f:o:p:x/y", true, true),
        ];
        let present = |v: &str| Context::new().with("mc:k", v);
        for (op, policy_value, value, expected, negated) in cases {
            let keys = json!({ "mc:k": policy_value });
            assert_eq!(
                holds(op, keys.clone(), &present(value)),
                expected,
                "{op} on {value}"
            );
            assert_eq!(
                holds(op, keys.clone(), &Context::new()),
                negated,
                "{op} without the key"
            );
            let if_exists = format!("{op}IfExists");
            assert_eq!(
                holds(&if_exists, keys.clone(), &present(value)),
                expected,
                "{if_exists} on {value}"
            );
            assert!(
                holds(&if_exists, keys.clone(), &Context::new()),
                "{if_exists} without the key"
            );
            for qualifier in ["ForAnyValue:", "ForAllValues:"] {
                let qualified = format!("{qualifier}{op}");
                assert_eq!(
                    holds(&qualified, keys.clone(), &present(value)),
                    expected,
                    "{qualified}"
                );
            }
        }
    }

    #[test]
    fn malformed_entries_are_refused() {
        assert!(Condition::parse("StringEquals", &json!("alice"), true).is_err());
        assert!(Condition::parse("StringEquals", &json!({}), true).is_err());
        assert!(Condition::parse("StringEquals", &json!({"k": []}), true).is_err());
        assert!(Condition::parse("StringEquals", &json!({"k": {"a": 1}}), true).is_err());
        assert!(Condition::parse("StringMatches", &json!({"k": "a"}), true).is_err());
        assert!(Condition::parse("ForSomeValues:StringEquals", &json!({"k": "a"}), true).is_err());
    }
}
