//! Reading a definition's JSON objects field by field, every problem
//! pushed with its JSON path: a field of the wrong type, a required one
//! missing, one the object does not allow.

use crate::errors::{Problem, field_path};
use crate::jsonata::Template;
use crate::paths::{Path, ReferencePath};
use crate::payload::Payload;
use crate::variables::{Assign, parse_assign};
use serde_json::{Map, Value};

/// One JSON object of the definition (the definition itself, a state, a
/// retrier, a catcher) at JSON path `at`.
pub(crate) struct Fields<'a> {
    pub(crate) map: &'a Map<String, Value>,
    pub(crate) at: String,
    pub(crate) problems: &'a mut Vec<Problem>,
}

impl<'a> Fields<'a> {
    /// The object `value` at `at`, or `None` (with a problem) when it is
    /// not an object.
    pub(crate) fn of(
        value: &'a Value,
        at: String,
        what: &str,
        problems: &'a mut Vec<Problem>,
    ) -> Option<Self> {
        match value.as_object() {
            Some(map) => Some(Self { map, at, problems }),
            None => {
                problems.push(Problem::new(at, format!("{what} must be a JSON object")));
                None
            }
        }
    }

    /// The path of field `name`.
    pub(crate) fn path(&self, name: &str) -> String {
        field_path(&self.at, name)
    }

    /// Pushes a problem at field `name`.
    pub(crate) fn problem(&mut self, name: &str, message: impl Into<String>) {
        let at = self.path(name);
        self.problems.push(Problem::new(at, message));
    }

    /// Pushes a problem for every field not in `allowed`.
    pub(crate) fn only(&mut self, allowed: &[&str], what: &str) {
        let unknown: Vec<String> = self
            .map
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            self.problem(&key, format!("{what} has no field {key:?}"));
        }
    }

    /// Whether field `name` is there (even as null).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Field `name` as it is.
    pub(crate) fn value(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name)
    }

    /// A string field.
    pub(crate) fn str(&mut self, name: &str) -> Option<&'a str> {
        match self.map.get(name)? {
            Value::String(s) => Some(s),
            _ => {
                self.problem(name, format!("{name} must be a string"));
                None
            }
        }
    }

    /// A string field that must be there.
    pub(crate) fn required_str(&mut self, name: &str, what: &str) -> Option<&'a str> {
        if !self.has(name) {
            let at = self.at.clone();
            self.problems
                .push(Problem::new(at, format!("{what} needs the field {name}")));
            return None;
        }
        self.str(name)
    }

    /// A whole number field of at least `min`.
    pub(crate) fn uint(&mut self, name: &str, min: u64) -> Option<u64> {
        let v = self.map.get(name)?;
        match v.as_u64() {
            Some(n) if n >= min => Some(n),
            _ => {
                self.problem(name, format!("{name} must be a whole number of at least {min}"));
                None
            }
        }
    }

    /// A number field within `min..=max`.
    pub(crate) fn number(&mut self, name: &str, min: f64, max: f64) -> Option<f64> {
        let v = self.map.get(name)?;
        match v.as_f64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.problem(name, format!("{name} must be a number from {min} to {max}"));
                None
            }
        }
    }

    /// A boolean field.
    pub(crate) fn bool(&mut self, name: &str) -> Option<bool> {
        match self.map.get(name)? {
            Value::Bool(b) => Some(*b),
            _ => {
                self.problem(name, format!("{name} must be true or false"));
                None
            }
        }
    }

    /// A path field (`InputPath`, `OutputPath`, `ItemsPath`, ...): `None`
    /// when absent, `Some(None)` when null (where null is allowed).
    pub(crate) fn path_field(&mut self, name: &str, nullable: bool) -> Option<Option<Path>> {
        match self.map.get(name)? {
            Value::Null if nullable => Some(None),
            Value::String(s) => match Path::parse(s) {
                Ok(p) => Some(Some(p)),
                Err(e) => {
                    self.problem(name, e.to_string());
                    None
                }
            },
            _ => {
                let also = if nullable { " or null" } else { "" };
                self.problem(
                    name,
                    format!("{name} must be a path (a string starting with $){also}"),
                );
                None
            }
        }
    }

    /// A reference path field (`ResultPath`), null allowed.
    pub(crate) fn reference_path(&mut self, name: &str) -> Option<Option<ReferencePath>> {
        match self.map.get(name)? {
            Value::Null => Some(None),
            Value::String(s) => match ReferencePath::parse(s) {
                Ok(p) => Some(Some(p)),
                Err(e) => {
                    self.problem(name, e.to_string());
                    None
                }
            },
            _ => {
                self.problem(
                    name,
                    format!("{name} must be a reference path (like $.result) or null"),
                );
                None
            }
        }
    }

    /// A payload template field (`Parameters`, `ResultSelector`, ...).
    pub(crate) fn payload(&mut self, name: &str) -> Option<Payload> {
        let value = self.map.get(name)?;
        let at = self.path(name);
        Some(Payload::parse(value, &at, self.problems))
    }

    /// A JSONata template field (`Arguments`, `Output`, `Items`, ...): any
    /// JSON, whose `{% %}` strings are expressions.
    pub(crate) fn template(&mut self, name: &str) -> Option<Template> {
        let value = self.map.get(name)?;
        let at = self.path(name);
        Some(Template::parse(value, &at, self.problems))
    }

    /// `Assign`: an object of variables, payload templates in a JSONPath
    /// state (`jsonpath`), JSONata templates in a JSONata one (see
    /// [`crate::variables`]).
    pub(crate) fn assign(&mut self, jsonpath: bool) -> Option<Assign> {
        let value = self.map.get("Assign")?;
        let at = self.path("Assign");
        parse_assign(value, &at, jsonpath, self.problems)
    }
}
