//! Matching compiled patterns against events.

use super::{AnythingBut, Cmp, Field, Matcher, Obj};
use serde_json::Value;
use std::net::IpAddr;

impl Obj {
    /// Whether the nodes `at` (one level of the event, arrays flattened)
    /// satisfy every field and one alternative of each `$or` group.
    pub(crate) fn matches(&self, at: &[&Value]) -> bool {
        self.fields.iter().all(|(key, field)| match field {
            Field::Leaf(matchers) => leaf(matchers, at, key),
            Field::Nested(obj) => {
                let mut children = Vec::new();
                for node in at {
                    if let Some(v) = node.as_object().and_then(|o| o.get(key)) {
                        flatten(v, &mut children);
                    }
                }
                obj.matches(&children)
            }
        }) && self
            .ors
            .iter()
            .all(|group| group.iter().any(|alt| alt.matches(at)))
    }
}

/// Arrays are flattened into their elements, at any depth.
fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        other => out.push(other),
    }
}

/// Whether any leaf value (not an object; arrays flattened) under `v`
/// satisfies `f`. Allocation-free: this is the hot path of matching.
fn any_leaf(v: &Value, f: &mut impl FnMut(&Value) -> bool) -> bool {
    match v {
        Value::Array(items) => items.iter().any(|i| any_leaf(i, f)),
        Value::Object(_) => false,
        other => f(other),
    }
}

/// Whether the field `key` of the nodes `at` satisfies one of `matchers`.
fn leaf(matchers: &[Matcher], at: &[&Value], key: &str) -> bool {
    let values = at
        .iter()
        .filter_map(|node| node.as_object().and_then(|o| o.get(key)));
    matchers.iter().any(|m| match m {
        // exists: true wants a value, exists: false wants none.
        Matcher::Exists(present) => {
            let any = values.clone().any(|v| any_leaf(v, &mut |_| true));
            *present == any
        }
        _ => values.clone().any(|v| any_leaf(v, &mut |x| one(m, x))),
    })
}

fn as_number(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => as_number(a) == as_number(b),
        _ => a == b,
    }
}

fn one(m: &Matcher, v: &Value) -> bool {
    let s = v.as_str();
    match m {
        Matcher::Exact(want) => equal(want, v),
        Matcher::Prefix(p, false) => s.is_some_and(|s| s.starts_with(p.as_str())),
        Matcher::Prefix(p, true) => s.is_some_and(|s| s.to_lowercase().starts_with(p.as_str())),
        Matcher::Suffix(p, false) => s.is_some_and(|s| s.ends_with(p.as_str())),
        Matcher::Suffix(p, true) => s.is_some_and(|s| s.to_lowercase().ends_with(p.as_str())),
        Matcher::EqualsIgnoreCase(p) => s.is_some_and(|s| s.to_lowercase() == *p),
        Matcher::AnythingBut(but) => anything_but(but, v),
        Matcher::Numeric(cmps) => as_number(v).is_some_and(|n| {
            cmps.iter().all(|(c, x)| match c {
                Cmp::Eq => n == *x,
                Cmp::Lt => n < *x,
                Cmp::Le => n <= *x,
                Cmp::Gt => n > *x,
                Cmp::Ge => n >= *x,
            })
        }),
        Matcher::Exists(_) => true,
        Matcher::Cidr(c) => s
            .and_then(|s| s.parse::<IpAddr>().ok())
            .is_some_and(|ip| c.contains(ip)),
        Matcher::Wildcard(w) => s.is_some_and(|s| w.matches(s)),
    }
}

fn anything_but(but: &AnythingBut, v: &Value) -> bool {
    let s = v.as_str();
    match but {
        AnythingBut::Values(values) => !values.iter().any(|x| equal(x, v)),
        AnythingBut::Prefixes(ps) => s.is_some_and(|s| !ps.iter().any(|p| s.starts_with(p.as_str()))),
        AnythingBut::Suffixes(ps) => s.is_some_and(|s| !ps.iter().any(|p| s.ends_with(p.as_str()))),
        AnythingBut::IgnoreCase(ps) => s.is_some_and(|s| {
            let lower = s.to_lowercase();
            !ps.contains(&lower)
        }),
        AnythingBut::Wildcards(ws) => s.is_some_and(|s| !ws.iter().any(|w| w.matches(s))),
    }
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone)]
pub(crate) struct Cidr {
    network: IpAddr,
    bits: u8,
}

impl Cidr {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (addr, bits) = text.split_once('/')?;
        let network: IpAddr = addr.parse().ok()?;
        let bits: u8 = bits.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        (bits <= max).then_some(Self { network, bits })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, width) = match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (u128::from(u32::from(n)), u128::from(u32::from(i)), 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            _ => return false,
        };
        if self.bits == 0 {
            return true;
        }
        let shift = width - u32::from(self.bits);
        (net >> shift) == (ip >> shift)
    }
}

/// A wildcard pattern: literal pieces between `*`s.
#[derive(Debug, Clone)]
pub(crate) struct Wildcard {
    pieces: Vec<String>,
}

impl Wildcard {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = vec![String::new()];
        let mut chars = text.chars();
        let mut last_star = false;
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    if last_star {
                        return Err("consecutive * are not allowed in a wildcard".into());
                    }
                    pieces.push(String::new());
                    last_star = true;
                    continue;
                }
                '\\' => match chars.next() {
                    Some(e @ ('*' | '\\')) => pieces.last_mut().map(|p| p.push(e)).unwrap_or_default(),
                    _ => return Err("in a wildcard, \\ escapes only * and \\".into()),
                },
                c => pieces.last_mut().map(|p| p.push(c)).unwrap_or_default(),
            }
            last_star = false;
        }
        Ok(Self { pieces })
    }

    /// Greedy matching of the pieces: the first must start the text, the
    /// last must end it, the others are found left to right (linear).
    pub(crate) fn matches(&self, s: &str) -> bool {
        let [first, middle @ .., last] = self.pieces.as_slice() else {
            // No star: one literal piece.
            return self.pieces.first().is_some_and(|p| p == s);
        };
        let Some(mut rest) = s.strip_prefix(first.as_str()) else {
            return false;
        };
        for piece in middle {
            match rest.find(piece.as_str()) {
                Some(i) => rest = &rest[i + piece.len()..],
                None => return false,
            }
        }
        rest.len() >= last.len() && rest.ends_with(last.as_str())
    }
}
