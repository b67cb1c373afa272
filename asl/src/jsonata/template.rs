//! Templates: the JSON of `Arguments`, `Output`, `Assign`, `Items`,
//! `ItemSelector` and the other fields of a JSONata state, in which any
//! string may be a `{% %}` expression, at any depth. Objects and arrays are
//! walked and each expression replaced by its result; everything else is
//! copied as written.

use serde_json::{Map, Value};

use super::session::Session;
use super::{Env, Expression, expression_text};
use crate::errors::{Failure, Problem, field_path};

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// Copied as written: no expression inside.
    Literal(Value),
    /// An object, some of whose fields are computed.
    Object(Vec<(String, Template)>),
    /// An array, some of whose elements are computed.
    Array(Vec<Template>),
    /// An expression, and where it sits under the field (`/a/b[0]`, or
    /// empty for the field itself), which failures name.
    Expression {
        /// The parsed expression.
        expression: Expression,
        /// The path below the field, in AWS's notation.
        at: String,
    },
}

impl Template {
    /// Compiles `template`, found at JSON path `at` of the definition,
    /// pushing a problem for every string that is a malformed expression.
    pub fn parse(template: &Value, at: &str, problems: &mut Vec<Problem>) -> Self {
        Self::parse_under(template, at, "", problems)
    }

    /// Compiles `template`; `below` is its place under the field.
    fn parse_under(template: &Value, at: &str, below: &str, problems: &mut Vec<Problem>) -> Self {
        match template {
            Value::String(text) => Self::parse_string(template, text, at, below, problems),
            Value::Object(map) => {
                let fields: Vec<(String, Self)> = map
                    .iter()
                    .map(|(key, value)| {
                        let here = format!("{below}/{key}");
                        (
                            key.clone(),
                            Self::parse_under(value, &field_path(at, key), &here, problems),
                        )
                    })
                    .collect();
                if fields.iter().all(|(_, field)| field.is_literal()) {
                    Self::Literal(template.clone())
                } else {
                    Self::Object(fields)
                }
            }
            Value::Array(items) => {
                let elements: Vec<Self> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        Self::parse_under(item, &format!("{at}[{i}]"), &format!("{below}[{i}]"), problems)
                    })
                    .collect();
                if elements.iter().all(Self::is_literal) {
                    Self::Literal(template.clone())
                } else {
                    Self::Array(elements)
                }
            }
            other => Self::Literal(other.clone()),
        }
    }

    /// A string: an expression, a literal, or a problem.
    fn parse_string(
        template: &Value,
        text: &str,
        at: &str,
        below: &str,
        problems: &mut Vec<Problem>,
    ) -> Self {
        let parsed = expression_text(text).and_then(|inner| inner.map(Expression::parse_text).transpose());
        match parsed {
            Ok(Some(expression)) => Self::Expression {
                expression,
                at: below.to_owned(),
            },
            Ok(None) => Self::Literal(template.clone()),
            Err(e) => {
                problems.push(Problem::new(at, e.0));
                Self::Literal(Value::Null)
            }
        }
    }

    /// Whether the template holds no expression.
    pub fn is_literal(&self) -> bool {
        matches!(self, Self::Literal(_))
    }

    /// The template applied in `env` for the ASL field `field` (`Output`,
    /// `Arguments`, `Assign/total`, ...). The first expression that fails
    /// or returns nothing fails the whole template with
    /// `States.QueryEvaluationError`, naming its place (`Output/a/b[0]`).
    pub fn apply(&self, env: &Env<'_>, field: &str) -> Result<Value, Failure> {
        match self {
            Self::Literal(value) => Ok(value.clone()),
            _ => self.apply_in(&mut Session::new(env)?, field),
        }
    }

    /// The template applied with an evaluator already set up.
    fn apply_in(&self, session: &mut Session, field: &str) -> Result<Value, Failure> {
        Ok(match self {
            Self::Literal(value) => value.clone(),
            Self::Object(fields) => {
                let mut map = Map::with_capacity(fields.len());
                for (name, template) in fields {
                    map.insert(name.clone(), template.apply_in(session, field)?);
                }
                Value::Object(map)
            }
            Self::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|template| template.apply_in(session, field))
                    .collect::<Result<_, _>>()?,
            ),
            Self::Expression { expression, at } => session.evaluate(expression, &format!("{field}{at}"))?,
        })
    }
}

/// A template is written out as written: JSON whose computed strings are
/// `{% %}` expressions again (as a worker process receives it).
impl serde::Serialize for Template {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Self::Literal(value) => value.serialize(serializer),
            Self::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (name, template) in fields {
                    map.serialize_entry(name, template)?;
                }
                map.end()
            }
            Self::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for template in items {
                    seq.serialize_element(template)?;
                }
                seq.end()
            }
            Self::Expression { expression, .. } => {
                serializer.serialize_str(&format!("{{% {} %}}", expression.source()))
            }
        }
    }
}

/// A template is read back by parsing it again; one whose expressions no
/// longer parse (they were checked when the definition was read) does not
/// read.
impl<'de> serde::Deserialize<'de> for Template {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let written = Value::deserialize(deserializer)?;
        let mut problems = Vec::new();
        let template = Self::parse(&written, "$", &mut problems);
        match problems.first() {
            None => Ok(template),
            Some(problem) => Err(serde::de::Error::custom(format!(
                "the template does not parse at {}: {}",
                problem.path, problem.message
            ))),
        }
    }
}
