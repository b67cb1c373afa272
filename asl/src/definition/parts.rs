//! Parts that JSONPath and JSONata states share: transitions, a Task's
//! resource and fields, `Retry` and `Catch`, a Parallel's branches and a
//! Map's item processor.

use super::fields::Fields;
use super::{Amount, Definition, Scope, Task, Transition, parse_machine};
use crate::errors::Problem;
use crate::retry::{parse_catch, parse_retry};
use serde_json::Value;

/// The suffix of a task resource that waits for its token.
const WAIT_FOR_TOKEN: &str = ".waitForTaskToken";

/// `Next` or `End: true`, exactly one; `None` after a problem.
pub(super) fn transition(f: &mut Fields<'_>, what: &str) -> Option<Transition> {
    let next = f.str("Next");
    let end = f.bool("End");
    match (next, end) {
        (Some(_), Some(true)) => {
            f.problem("End", format!("{what} has Next or End, not both"));
            None
        }
        (Some(next), _) => Some(Transition::Next(next.to_owned())),
        (None, Some(true)) => Some(Transition::End),
        (None, Some(false)) => {
            f.problem("End", "End must be true when there is no Next");
            None
        }
        (None, None) => {
            if !f.has("Next") && !f.has("End") {
                let at = f.at.clone();
                f.problems
                    .push(Problem::new(at, format!("{what} needs Next or \"End\": true")));
            }
            None
        }
    }
}

/// A Task's `Resource` without `.waitForTaskToken`, and whether it had it.
pub(super) fn resource(f: &mut Fields<'_>) -> (String, bool) {
    let resource = f.required_str("Resource", "a Task state").unwrap_or_default();
    let (resource, wait_for_token) = match resource.strip_suffix(WAIT_FOR_TOKEN) {
        Some(r) => (r, true),
        None => (resource, false),
    };
    if f.has("Resource") && resource.is_empty() {
        f.problem("Resource", "Resource names a function of the project");
    }
    (resource.to_owned(), wait_for_token)
}

/// A Task state's own fields; its numbers may be JSONata expressions in a
/// JSONata state, paths (`...Path`) in a JSONPath one.
pub(super) fn task(f: &mut Fields<'_>, jsonata: bool) -> Task {
    let (resource, wait_for_token) = resource(f);
    let amount = if jsonata {
        super::jsonata::amount
    } else {
        super::states::seconds
    };
    let timeout_seconds = amount(f, "TimeoutSeconds", 1);
    let heartbeat_seconds = amount(f, "HeartbeatSeconds", 1);
    if let (Some(Amount::Fixed(t)), Some(Amount::Fixed(h))) = (&timeout_seconds, &heartbeat_seconds)
        && h >= t
    {
        f.problem(
            "HeartbeatSeconds",
            "HeartbeatSeconds must be less than TimeoutSeconds",
        );
    }
    let (retry, catch) = recovery(f, jsonata);
    Task {
        resource,
        wait_for_token,
        timeout_seconds,
        heartbeat_seconds,
        retry,
        catch,
    }
}

/// `Retry` and `Catch` (a JSONata state's catchers have `Output` and
/// `Assign` instead of `ResultPath`).
pub(super) fn recovery(
    f: &mut Fields<'_>,
    jsonata: bool,
) -> (Vec<crate::retry::Retrier>, Vec<crate::retry::Catcher>) {
    let retry = match f.value("Retry") {
        Some(v) => parse_retry(v, &f.path("Retry"), f.problems),
        None => Vec::new(),
    };
    let catch = match f.value("Catch") {
        Some(v) => parse_catch(v, &f.path("Catch"), jsonata, f.problems),
        None => Vec::new(),
    };
    (retry, catch)
}

/// A Parallel state's `Branches`, in a machine whose states default to
/// JSONata when `jsonata`.
pub(super) fn branches(f: &mut Fields<'_>, jsonata: bool) -> Vec<Definition> {
    let at = f.path("Branches");
    match f.value("Branches") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .filter_map(|(i, b)| parse_machine(b, &format!("{at}[{i}]"), Scope::Branch, jsonata, f.problems))
            .collect(),
        Some(_) => {
            f.problem("Branches", "Branches must be a non-empty array of state machines");
            Vec::new()
        }
        None => {
            f.problem("Branches", "a Parallel state needs Branches");
            Vec::new()
        }
    }
}

/// A Map state's `ItemProcessor` (or the older `Iterator`).
pub(super) fn processor(f: &mut Fields<'_>, jsonata: bool) -> Option<Definition> {
    let processor_field = match (f.has("ItemProcessor"), f.has("Iterator")) {
        (true, true) => {
            f.problem("Iterator", "give ItemProcessor or the older Iterator, not both");
            "ItemProcessor"
        }
        (false, true) => "Iterator",
        (true, false) => "ItemProcessor",
        (false, false) => {
            let at = f.at.clone();
            f.problems
                .push(Problem::new(at, "a Map state needs ItemProcessor"));
            return None;
        }
    };
    let at = f.path(processor_field);
    parse_machine(
        f.value(processor_field)?,
        &at,
        Scope::Processor,
        jsonata,
        f.problems,
    )
}

/// A problem for a `Type` that names no state type.
pub(super) fn unknown_type<T>(f: &mut Fields<'_>, kind: &str) -> Option<T> {
    f.problem(
        "Type",
        format!("there is no state type {kind:?}: Pass, Task, Choice, Wait, Succeed, Fail, Parallel or Map"),
    );
    None
}
