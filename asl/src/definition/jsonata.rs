//! JSONata states: the fields a state has when its query language is
//! JSONata (`"QueryLanguage": "JSONata"` on the definition or the state).
//! `Arguments`, `Output` and `Assign` replace the JSONPath fields, and the
//! numbers, times, items and texts a state reads may be `{% %}`
//! expressions.

use super::fields::Fields;
use super::parts::{branches, processor, recovery, task, transition, unknown_type};
use super::{Amount, Io, JsonataIo, Kind, MapState, State, Text, Wait};
use crate::choice::{Choice, Condition};
use crate::errors::Problem;
use crate::jsonata::Expression;
use crate::variables::Assign;
use serde_json::Value;

const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];
const FLOW: &[&str] = &["Next", "End"];
const OUT: &[&str] = &["Output", "Assign"];

/// JSONPath fields, and what a JSONata state writes instead.
const JSONPATH_FIELDS: &[(&str, &str)] = &[
    ("InputPath", "Arguments (or $states.input in an expression)"),
    ("Parameters", "Arguments"),
    ("ResultSelector", "Output"),
    ("ResultPath", "Output or Assign"),
    ("OutputPath", "Output"),
    ("Result", "Output"),
    ("ItemsPath", "Items"),
    ("SecondsPath", "Seconds with an expression"),
    ("TimestampPath", "Timestamp with an expression"),
    ("TimeoutSecondsPath", "TimeoutSeconds with an expression"),
    ("HeartbeatSecondsPath", "HeartbeatSeconds with an expression"),
    ("MaxConcurrencyPath", "MaxConcurrency with an expression"),
    (
        "ToleratedFailureCountPath",
        "ToleratedFailureCount with an expression",
    ),
    (
        "ToleratedFailurePercentagePath",
        "ToleratedFailurePercentage with an expression",
    ),
    ("ErrorPath", "Error with an expression"),
    ("CausePath", "Cause with an expression"),
];

/// Parses a JSONata state of type `kind`; `jsonata` is the query language
/// its branches and item processor default to.
pub(super) fn state(name: &str, kind: &str, mut f: Fields<'_>, jsonata: bool) -> Option<State> {
    let what = format!("a JSONata {kind} state");
    let own: &[&str] = match kind {
        "Pass" => &[],
        "Task" => &[
            "Resource",
            "Arguments",
            "TimeoutSeconds",
            "HeartbeatSeconds",
            "Retry",
            "Catch",
        ],
        "Choice" => &["Choices", "Default"],
        "Wait" => &["Seconds", "Timestamp"],
        "Succeed" | "Fail" => &[],
        "Parallel" => &["Branches", "Arguments", "Retry", "Catch"],
        "Map" => &[
            "ItemProcessor",
            "Iterator",
            "Items",
            "ItemSelector",
            "MaxConcurrency",
            "ToleratedFailurePercentage",
            "ToleratedFailureCount",
            "Label",
            "Retry",
            "Catch",
        ],
        other => return unknown_type(&mut f, other),
    };
    let shape: &[&[&str]] = match kind {
        "Succeed" => &[COMMON, &["Output"]],
        "Fail" => &[COMMON, &["Error", "Cause"]],
        "Choice" => &[COMMON, OUT],
        _ => &[COMMON, FLOW, OUT],
    };
    let mut allowed = shape.concat();
    allowed.extend_from_slice(own);
    for (field, instead) in JSONPATH_FIELDS {
        if f.has(field) {
            f.problem(
                field,
                format!("{field} is a JSONPath field; a JSONata state uses {instead}"),
            );
            allowed.push(field);
        }
    }
    f.only(&allowed, &what);
    let io = JsonataIo {
        arguments: f.template("Arguments"),
        output: f.template("Output"),
        assign: f.assign(false).and_then(Assign::into_jsonata),
    };
    let flows = !matches!(kind, "Choice" | "Succeed" | "Fail");
    let transition = if flows { transition(&mut f, &what) } else { None };
    let kind = match kind {
        "Pass" => Kind::Pass { result: None },
        "Task" => Kind::Task(task(&mut f, true)),
        "Choice" => Kind::Choice {
            choices: choices(&mut f),
            default: f.str("Default").map(str::to_owned),
        },
        "Wait" => Kind::Wait(wait(&mut f)?),
        "Succeed" => Kind::Succeed,
        "Fail" => Kind::Fail {
            error: f.template("Error").map(Text::Jsonata),
            cause: f.template("Cause").map(Text::Jsonata),
        },
        "Parallel" => {
            let branches = branches(&mut f, jsonata);
            let (retry, catch) = recovery(&mut f, true);
            Kind::Parallel {
                branches,
                retry,
                catch,
            }
        }
        _ => Kind::Map(Box::new(map(&mut f, jsonata)?)),
    };
    if flows && transition.is_none() {
        return None;
    }
    Some(State {
        name: name.to_owned(),
        kind,
        io: Io::default(),
        transition,
        jsonata: Some(Box::new(io)),
    })
}

/// A whole number written out (at least `min`) or a `{% %}` expression.
pub(super) fn amount(f: &mut Fields<'_>, name: &str, min: u64) -> Option<Amount<u64>> {
    match f.value(name)? {
        Value::String(text) => expression(f, name, text).map(Amount::Expr),
        _ => f.uint(name, min).map(Amount::Fixed),
    }
}

/// The expression `text` of field `name`; a problem when it is not one.
fn expression(f: &mut Fields<'_>, name: &str, text: &str) -> Option<Expression> {
    match Expression::parse(text) {
        Ok(e) => Some(e),
        Err(e) => {
            f.problem(name, e.to_string());
            None
        }
    }
}

/// JSONata Choice rules: `Condition`, `Next`, and the rule's own `Output`
/// and `Assign`.
fn choices(f: &mut Fields<'_>) -> Vec<Choice> {
    let at = f.path("Choices");
    let rules = match f.value("Choices") {
        Some(Value::Array(rules)) if !rules.is_empty() => rules,
        Some(_) => {
            f.problem("Choices", "Choices must be a non-empty array of rules");
            return Vec::new();
        }
        None => {
            f.problem("Choices", "a Choice state needs Choices");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let Some(mut r) = Fields::of(rule, format!("{at}[{i}]"), "a Choice rule", f.problems) else {
            continue;
        };
        r.only(
            &["Condition", "Next", "Output", "Assign", "Comment"],
            "a JSONata Choice rule",
        );
        let condition = match r.value("Condition") {
            Some(Value::String(text)) => expression(&mut r, "Condition", text),
            Some(_) => {
                r.problem(
                    "Condition",
                    "Condition is a {% %} expression that gives a boolean",
                );
                None
            }
            None => {
                let here = r.at.clone();
                r.problems
                    .push(Problem::new(here, "a JSONata Choice rule needs a Condition"));
                None
            }
        };
        let next = r.required_str("Next", "a Choice rule").map(str::to_owned);
        let (output, assign) = (r.template("Output"), r.assign(false));
        if let (Some(condition), Some(next)) = (condition, next) {
            out.push(Choice {
                condition: Condition::Jsonata(condition),
                next,
                output,
                assign,
            });
        }
    }
    out
}

fn wait(f: &mut Fields<'_>) -> Option<Wait> {
    match (f.value("Seconds"), f.value("Timestamp")) {
        (Some(Value::String(text)), None) => expression(f, "Seconds", text).map(Wait::SecondsExpr),
        (Some(_), None) => f.uint("Seconds", 0).map(Wait::Seconds),
        (None, Some(Value::String(text))) => match crate::jsonata::expression_text(text) {
            Ok(Some(_)) => expression(f, "Timestamp", text).map(Wait::TimestampExpr),
            _ => match chrono::DateTime::parse_from_rfc3339(text) {
                Ok(t) => Some(Wait::Timestamp(t.with_timezone(&chrono::Utc))),
                Err(_) => {
                    f.problem(
                        "Timestamp",
                        "Timestamp must be an RFC 3339 time such as 2026-01-01T00:00:00Z, or an expression",
                    );
                    None
                }
            },
        },
        _ => {
            let at = f.at.clone();
            f.problems.push(Problem::new(
                at,
                "a JSONata Wait state needs exactly one of Seconds and Timestamp",
            ));
            None
        }
    }
}

fn map(f: &mut Fields<'_>, jsonata: bool) -> Option<MapState> {
    let items = f.template("Items");
    let item_template = f.template("ItemSelector");
    let max_concurrency = amount(f, "MaxConcurrency", 0).unwrap_or(Amount::Fixed(0));
    let tolerated_failure_percentage = match f.value("ToleratedFailurePercentage") {
        Some(Value::String(text)) => expression(f, "ToleratedFailurePercentage", text).map(Amount::Expr),
        _ => f
            .number("ToleratedFailurePercentage", 0.0, 100.0)
            .map(Amount::Fixed),
    };
    let tolerated_failure_count = amount(f, "ToleratedFailureCount", 0);
    let (retry, catch) = recovery(f, true);
    let processor = processor(f, jsonata)?;
    Some(MapState {
        processor,
        items_path: crate::paths::Path::parse("$").ok()?,
        items,
        item_selector: None,
        item_template,
        max_concurrency,
        tolerated_failure_percentage,
        tolerated_failure_count,
        retry,
        catch,
    })
}
