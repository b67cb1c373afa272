//! Event patterns with EventBridge's semantics, compiled once and matched
//! against many events without re-parsing.
//!
//! A pattern is a JSON object shaped like the events it selects. Fields are
//! ANDed; a leaf is an array of matchers, ORed; `$or` (an array of at least
//! two patterns) may appear at any level. An event's arrays are flattened:
//! a leaf matches when any value at its path matches, even across array
//! elements. Matchers: exact strings, numbers (compared as numbers), booleans
//! and `null` (which an empty string does not match); `prefix`, `suffix`
//! (each optionally `{"equals-ignore-case": ...}`), `equals-ignore-case`,
//! `anything-but` (a value, a list of values, or `prefix`, `suffix`,
//! `equals-ignore-case` or `wildcard` with a string or a list), `numeric`
//! (`=`, `<`, `<=`, `>`, `>=`, up to a lower and an upper bound), `exists`,
//! `cidr` (IPv4 and IPv6) and `wildcard` (`*` any run of characters, `\*` a
//! star, `\\` a backslash; `**` is refused).
//!
//! Choices where the documentation is quiet: `anything-but` needs the field
//! to be present (a missing field matches only `exists: false`); an empty
//! array in an event counts as no value; `exists: true` matches any present
//! leaf, `null` included; the string matchers never match numbers.

mod matching;
mod parse;

pub use parse::MAX_PATTERN_BYTES;
use serde_json::Value;

/// Why a pattern was refused, with the JSON path of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PatternError {
    /// Where, as `$.detail.size[0].numeric`.
    pub path: String,
    /// What is wrong, for a person.
    pub message: String,
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    root: Obj,
}

/// The matchers of one object level: fields ANDed, then each `$or` group
/// needing one matching alternative.
#[derive(Debug, Clone, Default)]
pub(crate) struct Obj {
    pub(crate) fields: Vec<(String, Field)>,
    pub(crate) ors: Vec<Vec<Obj>>,
}

#[derive(Debug, Clone)]
pub(crate) enum Field {
    Leaf(Vec<Matcher>),
    Nested(Obj),
}

#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Exact(Value),
    Prefix(String, bool),
    Suffix(String, bool),
    EqualsIgnoreCase(String),
    AnythingBut(AnythingBut),
    Numeric(Vec<(Cmp, f64)>),
    Exists(bool),
    Cidr(matching::Cidr),
    Wildcard(matching::Wildcard),
}

#[derive(Debug, Clone)]
pub(crate) enum AnythingBut {
    Values(Vec<Value>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    IgnoreCase(Vec<String>),
    Wildcards(Vec<matching::Wildcard>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Pattern {
    /// Compiles a pattern from its JSON text.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        parse::parse_text(text)
    }

    /// Compiles a pattern from a JSON value.
    pub fn from_value(value: &Value) -> Result<Self, PatternError> {
        parse::parse_value(value)
    }

    /// Whether `event` matches.
    pub fn matches(&self, event: &Value) -> bool {
        self.root.matches(&[event])
    }
}

#[cfg(test)]
mod tests;
