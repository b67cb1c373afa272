//! Payload templates: `Parameters`, `ResultSelector`, `ItemSelector` and a
//! JSONPath state's `Assign`. A template is JSON whose object keys ending
//! in `.$` take their value from a path (`"id.$": "$.order.id"`,
//! `"run.$": "$$.Execution.Id"`, `"total.$": "$order.total"`) or an
//! intrinsic call (`"msg.$": "States.Format('Hi {}', $.name)"`); the key
//! loses its `.$`. Everything else is copied as written.

use crate::budget::Budget;
use crate::errors::{Failure, Problem, field_path};
use crate::intrinsics::{self, Call};
use crate::paths::{Bindings, Path};
use serde_json::{Map, Value};

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Copied as written.
    Literal(Value),
    /// An object, some of whose fields are computed.
    Object(Vec<(String, Payload)>),
    /// An array, some of whose elements hold computed fields.
    Array(Vec<Payload>),
    /// The value at a path.
    Path(Path),
    /// The result of an intrinsic call.
    Call(Box<Call>),
}

impl Payload {
    /// Compiles `template` found at JSON path `at`, pushing every problem
    /// (a `.$` value that is not a string, a bad path or call).
    pub fn parse(template: &Value, at: &str, problems: &mut Vec<Problem>) -> Self {
        match template {
            Value::Object(map) => {
                let mut fields = Vec::with_capacity(map.len());
                let mut computed = false;
                for (key, value) in map {
                    let here = field_path(at, key);
                    match key.strip_suffix(".$") {
                        Some(name) => {
                            computed = true;
                            fields.push((name.to_owned(), Self::path_or_call(value, &here, problems)));
                        }
                        None => {
                            let payload = Self::parse(value, &here, problems);
                            computed |= !matches!(payload, Self::Literal(_));
                            fields.push((key.clone(), payload));
                        }
                    }
                }
                if computed {
                    Self::Object(fields)
                } else {
                    Self::Literal(template.clone())
                }
            }
            Value::Array(items) => {
                let elements: Vec<Self> = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Self::parse(v, &format!("{at}[{i}]"), problems))
                    .collect();
                if elements.iter().all(|e| matches!(e, Self::Literal(_))) {
                    Self::Literal(template.clone())
                } else {
                    Self::Array(elements)
                }
            }
            other => Self::Literal(other.clone()),
        }
    }

    /// The value of a `.$` key (or of `ErrorPath` and `CausePath`): a path
    /// or an intrinsic call.
    pub(crate) fn path_or_call(value: &Value, at: &str, problems: &mut Vec<Problem>) -> Self {
        let Some(text) = value.as_str() else {
            problems.push(Problem::new(
                at,
                "a field whose name ends in .$ takes a path or an intrinsic function, as a string",
            ));
            return Self::Literal(Value::Null);
        };
        let parsed = if intrinsics::is_call(text) {
            Call::parse(text)
                .map(|c| Self::Call(Box::new(c)))
                .map_err(|e| e.to_string())
        } else {
            Path::parse(text).map(Self::Path).map_err(|e| e.to_string())
        };
        parsed.unwrap_or_else(|message| {
            problems.push(Problem::new(at, message));
            Self::Literal(Value::Null)
        })
    }

    /// The template applied to `input`, the context object and the
    /// variables. A path that matches nothing (or reads a variable no state
    /// assigned), or a failed call, fails the state.
    /// What the paths and calls select may weigh no more, together, than
    /// a state's output may (`States.DataLimitExceeded`), checked as they
    /// are copied.
    pub fn apply(&self, input: &Value, bindings: &Bindings<'_>) -> Result<Value, Failure> {
        self.apply_within(input, bindings, &mut Budget::payload())
    }

    /// The template applied, its copies taken from `budget`.
    fn apply_within(
        &self,
        input: &Value,
        bindings: &Bindings<'_>,
        budget: &mut Budget,
    ) -> Result<Value, Failure> {
        Ok(match self {
            Self::Literal(v) => v.clone(),
            Self::Object(fields) => {
                let mut map = Map::with_capacity(fields.len());
                for (name, payload) in fields {
                    map.insert(name.clone(), payload.apply_within(input, bindings, budget)?);
                }
                Value::Object(map)
            }
            Self::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|p| p.apply_within(input, bindings, budget))
                    .collect::<Result<_, _>>()?,
            ),
            Self::Path(path) => {
                let value = path.select(input, bindings).map_err(Failure::runtime)?;
                budget.take(&value)?;
                value
            }
            Self::Call(call) => call.eval_within(input, bindings, budget)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(template: Value) -> Payload {
        let mut problems = Vec::new();
        let p = Payload::parse(&template, "$.Parameters", &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        p
    }

    #[test]
    fn computed_fields_lose_their_suffix() {
        let p = compile(json!({
            "static": {"a": [1, 2]},
            "id.$": "$.order.id",
            "run.$": "$$.Execution.Id",
            "nested": {"items.$": "$.order.items[*].sku", "keep": true},
            "list": [{"first.$": "$.order.items[0].sku"}, 7],
            "saved.$": "$customer.name",
            "deep": {"limit.$": "$limit"}
        }));
        let input = json!({"order": {"id": 42, "items": [{"sku": "a"}, {"sku": "b"}]}});
        let context = json!({"Execution": {"Id": "exec-1"}});
        let variables = json!({"customer": {"name": "ada"}, "limit": 3});
        let variables = variables.as_object().cloned().unwrap_or_default();
        assert_eq!(
            p.apply(&input, &Bindings::new(&context, &variables)),
            Ok(json!({
                "static": {"a": [1, 2]},
                "id": 42,
                "run": "exec-1",
                "nested": {"items": ["a", "b"], "keep": true},
                "list": [{"first": "a"}, 7],
                "saved": "ada",
                "deep": {"limit": 3}
            }))
        );
    }

    /// A template that copies one large value many times fails as soon as
    /// its copies weigh more than a state's output may, not after it has
    /// built them all; so does an intrinsic call given it many times.
    #[test]
    fn copies_are_weighed_as_they_are_made() {
        let (context, none) = (json!({}), Map::new());
        let bindings = Bindings::new(&context, &none);
        let input = json!({"big": "x".repeat(100 * 1024)});
        let fields: Map<String, Value> = (0..10_000).map(|i| (format!("k{i}.$"), json!("$.big"))).collect();
        let failure = compile(Value::Object(fields))
            .apply(&input, &bindings)
            .expect_err("2 copies are as much as a state may pass on");
        assert_eq!(failure.error, crate::errors::DATA_LIMIT_EXCEEDED, "{failure}");
        let call = format!("States.Array({})", vec!["$.big"; 1000].join(", "));
        let failure = compile(json!({ "a.$": call }))
            .apply(&input, &bindings)
            .expect_err("so are an intrinsic's arguments");
        assert_eq!(failure.error, crate::errors::DATA_LIMIT_EXCEEDED, "{failure}");
        let fine = compile(json!({"a.$": "$.big", "b.$": "States.Array($.big)"}));
        assert!(fine.apply(&input, &bindings).is_ok());
    }

    #[test]
    fn a_template_without_paths_is_copied() {
        let template = json!({"a": {"b": [1, {"c": null}]}});
        assert_eq!(compile(template.clone()), Payload::Literal(template));
    }

    #[test]
    fn a_path_to_nothing_fails_the_state() {
        let (context, none) = (json!({}), Map::new());
        let bindings = Bindings::new(&context, &none);
        let p = compile(json!({"x.$": "$.missing"}));
        let failure = p.apply(&json!({}), &bindings).expect_err("nothing is there");
        assert_eq!(failure.error, crate::errors::RUNTIME);
        assert!(failure.cause.contains("$.missing"), "{failure}");
        let p = compile(json!({"x.$": "$unassigned.a"}));
        let failure = p.apply(&json!({}), &bindings).expect_err("no such variable");
        assert_eq!(failure.error, crate::errors::RUNTIME);
        assert!(failure.cause.contains("$unassigned"), "{failure}");
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let mut problems = Vec::new();
        Payload::parse(
            &json!({"a.$": 5, "b": {"c.$": "no-dollar"}, "d.$": "$.ok"}),
            "$.States.S.Parameters",
            &mut problems,
        );
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["$.States.S.Parameters['a.$']", "$.States.S.Parameters.b['c.$']"]
        );
    }
}
