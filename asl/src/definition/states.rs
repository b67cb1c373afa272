//! Each state type's fields: which it allows, which it needs, and what
//! they must hold.

use super::fields::Fields;
use super::parts::{branches, processor, recovery, task, transition, unknown_type};
use super::{Amount, Io, Kind, MAX_STATE_NAME, MapState, State, Text, Wait};
use crate::choice::parse_choices;
use crate::errors::Problem;
use crate::payload::Payload;
use serde_json::Value;

const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];
const FLOW: &[&str] = &["Next", "End"];
const IO: &[&str] = &["InputPath", "OutputPath"];
/// Every state type but Succeed and Fail, which end their machine, may
/// set variables.
const ASSIGN: &[&str] = &["Assign"];
const RESULT: &[&str] = &["Parameters", "ResultSelector", "ResultPath"];
const ERRORS: &[&str] = &["Retry", "Catch"];
/// A distributed Map's fields: refused with their own message.
const DISTRIBUTED: &[&str] = &["ItemReader", "ItemBatcher", "ResultWriter"];

/// Parses the state `name` at `at`, in a state machine whose query
/// language is JSONata when `jsonata` (a state may choose JSONata for
/// itself in a JSONPath machine, not the other way round).
pub(super) fn parse_state(
    name: &str,
    value: &Value,
    at: &str,
    jsonata: bool,
    problems: &mut Vec<Problem>,
) -> Option<State> {
    if name.is_empty() || name.chars().count() > MAX_STATE_NAME {
        problems.push(Problem::new(
            at,
            format!("a state name has 1 to {MAX_STATE_NAME} characters"),
        ));
    }
    let mut f = Fields::of(value, at.to_owned(), "a state", problems)?;
    let kind = f.required_str("Type", "a state")?;
    match f.str("QueryLanguage") {
        None => {}
        Some("JSONata") => return super::jsonata::state(name, kind, f, jsonata),
        Some("JSONPath") if jsonata => f.problem(
            "QueryLanguage",
            "a state of a JSONata state machine cannot use JSONPath",
        ),
        Some("JSONPath") => {}
        Some(other) => f.problem(
            "QueryLanguage",
            format!("QueryLanguage is JSONPath or JSONata, not {other:?}"),
        ),
    }
    if jsonata {
        return super::jsonata::state(name, kind, f, jsonata);
    }
    let what = format!("a {kind} state");
    let allowed: Vec<&str> = match kind {
        "Pass" => [COMMON, FLOW, IO, ASSIGN, &["Parameters", "ResultPath", "Result"]].concat(),
        "Task" => [
            COMMON,
            FLOW,
            IO,
            ASSIGN,
            RESULT,
            ERRORS,
            &[
                "Resource",
                "TimeoutSeconds",
                "TimeoutSecondsPath",
                "HeartbeatSeconds",
                "HeartbeatSecondsPath",
            ],
        ]
        .concat(),
        "Choice" => [COMMON, IO, ASSIGN, &["Choices", "Default"]].concat(),
        "Wait" => [
            COMMON,
            FLOW,
            IO,
            ASSIGN,
            &["Seconds", "Timestamp", "SecondsPath", "TimestampPath"],
        ]
        .concat(),
        "Succeed" => [COMMON, IO].concat(),
        "Fail" => [COMMON, &["Error", "Cause", "ErrorPath", "CausePath"]].concat(),
        "Parallel" => [COMMON, FLOW, IO, ASSIGN, RESULT, ERRORS, &["Branches"]].concat(),
        "Map" => [
            COMMON,
            FLOW,
            IO,
            ASSIGN,
            RESULT,
            ERRORS,
            &[
                "ItemProcessor",
                "Iterator",
                "ItemsPath",
                "ItemSelector",
                "MaxConcurrency",
                "MaxConcurrencyPath",
                "ToleratedFailurePercentage",
                "ToleratedFailurePercentagePath",
                "ToleratedFailureCount",
                "ToleratedFailureCountPath",
                "Label",
            ],
            DISTRIBUTED,
        ]
        .concat(),
        other => return unknown_type(&mut f, other),
    };
    for distributed in DISTRIBUTED.iter().filter(|_| kind == "Map") {
        if f.has(distributed) {
            f.problem(
                distributed,
                "distributed Map states are not supported; use an inline Map",
            );
        }
    }
    f.only(&allowed, &what);
    let io = parse_io(&mut f, kind);
    // Choice, Succeed and Fail say themselves where they go.
    let flows = !matches!(kind, "Choice" | "Succeed" | "Fail");
    let transition = if flows { transition(&mut f, &what) } else { None };
    let kind = match kind {
        "Pass" => Kind::Pass {
            result: f.value("Result").cloned(),
        },
        "Task" => Kind::Task(task(&mut f, false)),
        "Choice" => choice(&mut f),
        "Wait" => Kind::Wait(wait(&mut f)?),
        "Succeed" => Kind::Succeed,
        "Fail" => fail(&mut f),
        "Parallel" => parallel(&mut f),
        _ => Kind::Map(Box::new(map(&mut f)?)),
    };
    if flows && transition.is_none() {
        return None;
    }
    Some(State {
        name: name.to_owned(),
        kind,
        io,
        transition,
        jsonata: None,
    })
}

/// `InputPath`, `Parameters`, `ResultSelector`, `ResultPath`, `OutputPath`
/// and `Assign` (a Map's deprecated `Parameters` is its item selector,
/// read there).
fn parse_io(f: &mut Fields<'_>, kind: &str) -> Io {
    let mut io = Io::default();
    if let Some(p) = f.path_field("InputPath", true) {
        io.input_path = p;
    }
    if let Some(p) = f.path_field("OutputPath", true) {
        io.output_path = p;
    }
    if kind != "Map" {
        io.parameters = f.payload("Parameters");
    }
    io.result_selector = f.payload("ResultSelector");
    if let Some(p) = f.reference_path("ResultPath") {
        io.result_path = p;
    }
    io.assign = f.assign(true).and_then(crate::variables::Assign::into_payload);
    io
}

/// A number written out, or read from `<name>Path`.
pub(super) fn seconds(f: &mut Fields<'_>, name: &str, min: u64) -> Option<Amount<u64>> {
    let path_name = format!("{name}Path");
    if f.has(name) && f.has(&path_name) {
        f.problem(&path_name, format!("{name} and {path_name} cannot both be given"));
    }
    if let Some(n) = f.uint(name, min) {
        return Some(Amount::Fixed(n));
    }
    f.path_field(&path_name, false).flatten().map(Amount::Path)
}

fn choice(f: &mut Fields<'_>) -> Kind {
    let choices = match f.value("Choices") {
        Some(v) => parse_choices(v, &f.path("Choices"), f.problems),
        None => {
            f.problem("Choices", "a Choice state needs Choices");
            Vec::new()
        }
    };
    Kind::Choice {
        choices,
        default: f.str("Default").map(str::to_owned),
    }
}

fn wait(f: &mut Fields<'_>) -> Option<Wait> {
    let given: Vec<&str> = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"]
        .into_iter()
        .filter(|k| f.has(k))
        .collect();
    if given.len() != 1 {
        let at = f.at.clone();
        f.problems.push(Problem::new(
            at,
            "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath and TimestampPath",
        ));
        return None;
    }
    match given[0] {
        "Seconds" => f.uint("Seconds", 0).map(Wait::Seconds),
        "Timestamp" => {
            let text = f.str("Timestamp")?;
            match chrono::DateTime::parse_from_rfc3339(text) {
                Ok(t) => Some(Wait::Timestamp(t.with_timezone(&chrono::Utc))),
                Err(_) => {
                    f.problem(
                        "Timestamp",
                        "Timestamp must be an RFC 3339 time such as 2026-01-01T00:00:00Z",
                    );
                    None
                }
            }
        }
        "SecondsPath" => f
            .path_field("SecondsPath", false)
            .flatten()
            .map(Wait::SecondsPath),
        _ => f
            .path_field("TimestampPath", false)
            .flatten()
            .map(Wait::TimestampPath),
    }
}

fn fail(f: &mut Fields<'_>) -> Kind {
    let text = |f: &mut Fields<'_>, name: &str| -> Option<Payload> {
        let path_name = format!("{name}Path");
        if f.has(name) && f.has(&path_name) {
            f.problem(&path_name, format!("{name} and {path_name} cannot both be given"));
        }
        if let Some(s) = f.str(name) {
            return Some(Payload::Literal(Value::String(s.to_owned())));
        }
        let value = f.value(&path_name)?;
        let at = f.path(&path_name);
        Some(Payload::path_or_call(value, &at, f.problems))
    };
    let text = |f: &mut Fields<'_>, name: &str| text(f, name).map(Text::Payload);
    let error = text(f, "Error");
    let cause = text(f, "Cause");
    Kind::Fail { error, cause }
}

fn parallel(f: &mut Fields<'_>) -> Kind {
    let branches = branches(f, false);
    let (retry, catch) = recovery(f, false);
    Kind::Parallel {
        branches,
        retry,
        catch,
    }
}

fn map(f: &mut Fields<'_>) -> Option<MapState> {
    let selector_field = match (f.has("ItemSelector"), f.has("Parameters")) {
        (true, true) => {
            f.problem(
                "Parameters",
                "give ItemSelector or the older Parameters, not both",
            );
            "ItemSelector"
        }
        (false, true) => "Parameters",
        _ => "ItemSelector",
    };
    let item_selector = f.payload(selector_field);
    let items_path = match f.path_field("ItemsPath", false).flatten() {
        Some(p) => p,
        None => crate::paths::Path::parse("$").ok()?,
    };
    let max_concurrency = seconds(f, "MaxConcurrency", 0).unwrap_or(Amount::Fixed(0));
    let tolerated_failure_percentage = match f.number("ToleratedFailurePercentage", 0.0, 100.0) {
        Some(p) => Some(Amount::Fixed(p)),
        None => f
            .path_field("ToleratedFailurePercentagePath", false)
            .flatten()
            .map(Amount::Path),
    };
    let tolerated_failure_count = seconds(f, "ToleratedFailureCount", 0);
    let (retry, catch) = recovery(f, false);
    let processor = processor(f, false)?;
    Some(MapState {
        processor,
        items_path,
        items: None,
        item_template: None,
        item_selector,
        max_concurrency,
        tolerated_failure_percentage,
        tolerated_failure_count,
        retry,
        catch,
    })
}
