//! [`ReferencePath`]: a definite path naming one node of the input, where
//! `ResultPath` writes a result (and the event rules' input transformer
//! reads a value). It never names the context object or a variable: a
//! result goes into the state's input.

use super::{PathError, Result, Step, definite_steps, variable_name, walk};
use serde_json::{Map, Value};

/// A path that names one node of the input, where a result is written or a
/// value read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferencePath {
    text: String,
    steps: Vec<Step>,
}

impl ReferencePath {
    /// Parses `text`: `$`, then `.name`, `['name']` or `[n]` steps.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason: &str| PathError::Invalid {
            path: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text.starts_with("$$") {
            return Err(invalid(
                "a reference path names a node of the input, not of the context object ($$)",
            ));
        }
        let rest = text
            .strip_prefix('$')
            .ok_or_else(|| invalid("a reference path starts with $"))?;
        if let Some(name) = variable_name(rest) {
            return Err(invalid(&format!(
                "a reference path names a node of the input, not a variable (${name}): variables are set with Assign"
            )));
        }
        let steps = definite_steps(rest).map_err(|reason| {
            invalid(&format!(
                "a reference path names one node with .name, ['name'] and [n] steps: {reason}"
            ))
        })?;
        Ok(Self {
            text: text.to_owned(),
            steps,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at the path.
    pub fn get<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        walk(doc, &self.steps)
    }

    /// `doc` with `value` written at the path: `$` replaces the whole,
    /// missing objects on the way are created, and an existing value that
    /// is in the way and cannot hold the step is an error.
    pub fn set(&self, mut doc: Value, value: Value) -> Result<Value> {
        let Some((last, parents)) = self.steps.split_last() else {
            return Ok(value);
        };
        let cannot = |reason: String| PathError::CannotWrite {
            path: self.text.clone(),
            reason,
        };
        let mut node = &mut doc;
        for step in parents {
            node = match step {
                Step::Field(name) => {
                    let Value::Object(map) = node else {
                        return Err(cannot(format!("the node before {name:?} is not an object")));
                    };
                    map.entry(name.clone())
                        .or_insert_with(|| Value::Object(Map::new()))
                }
                Step::Index(i) => match node {
                    Value::Array(items) if *i < items.len() => &mut items[*i],
                    _ => return Err(cannot(format!("there is no array element [{i}]"))),
                },
            };
        }
        match last {
            Step::Field(name) => match node {
                Value::Object(map) => {
                    map.insert(name.clone(), value);
                }
                _ => return Err(cannot(format!("the node before {name:?} is not an object"))),
            },
            Step::Index(i) => match node {
                Value::Array(items) if *i < items.len() => items[*i] = value,
                _ => return Err(cannot(format!("there is no array element [{i}]"))),
            },
        }
        Ok(doc)
    }
}
