//! The shape of a state machine: every transition names one of its states,
//! every state can be reached from `StartAt`, and some state ends it.

use super::{Definition, Kind, Transition};
use crate::errors::{Problem, field_path};
use serde_json::Value;
use std::collections::{BTreeSet, VecDeque};

/// Checks `definition`, parsed from `value` at `at`. Names come from the
/// JSON, so that a state with problems of its own is still a valid target;
/// reachability and an end are judged only when every state parsed and
/// every transition leads somewhere.
pub(super) fn check(definition: &Definition, value: &Value, at: &str, problems: &mut Vec<Problem>) {
    let names: BTreeSet<&str> = value
        .get("States")
        .and_then(Value::as_object)
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    if names.is_empty() {
        return;
    }
    let states_at = field_path(at, "States");
    if !names.contains(definition.start_at.as_str()) {
        problems.push(Problem::new(
            field_path(at, "StartAt"),
            format!(
                "StartAt names no state: there is no state {:?}",
                definition.start_at
            ),
        ));
    }
    let mut dangling = false;
    for state in definition.states.values() {
        let here = field_path(&states_at, &state.name);
        for (field, target) in edges(state) {
            if !names.contains(target) {
                dangling = true;
                problems.push(Problem::new(
                    format!("{here}{field}"),
                    format!("there is no state {target:?} to go to"),
                ));
            }
        }
    }
    if dangling || definition.states.len() != names.len() {
        return;
    }
    let reached = reachable(definition);
    for name in &names {
        if !reached.contains(*name) {
            problems.push(Problem::new(
                field_path(&states_at, name),
                format!("state {name:?} cannot be reached from StartAt"),
            ));
        }
    }
    let ends = definition.states.values().any(|s| {
        matches!(s.transition, Some(Transition::End)) || matches!(s.kind, Kind::Succeed | Kind::Fail { .. })
    });
    if !ends {
        problems.push(Problem::new(
            states_at,
            "no state ends the state machine: give one \"End\": true, or a Succeed or Fail state",
        ));
    }
}

/// A state's transitions: (the field's path after the state's, the target).
fn edges(state: &super::State) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    if let Some(Transition::Next(next)) = &state.transition {
        out.push((".Next".to_owned(), next.as_str()));
    }
    let catch = match &state.kind {
        Kind::Choice { choices, default } => {
            for (i, c) in choices.iter().enumerate() {
                out.push((format!(".Choices[{i}].Next"), c.next.as_str()));
            }
            if let Some(d) = default {
                out.push((".Default".to_owned(), d.as_str()));
            }
            &[][..]
        }
        Kind::Task(t) => &t.catch[..],
        Kind::Parallel { catch, .. } => &catch[..],
        Kind::Map(m) => &m.catch[..],
        _ => &[][..],
    };
    for (i, c) in catch.iter().enumerate() {
        out.push((format!(".Catch[{i}].Next"), c.next.as_str()));
    }
    out
}

fn reachable(definition: &Definition) -> BTreeSet<&str> {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([definition.start_at.as_str()]);
    while let Some(name) = queue.pop_front() {
        if !seen.insert(name) {
            continue;
        }
        if let Some(state) = definition.states.get(name) {
            queue.extend(edges(state).into_iter().map(|(_, t)| t));
        }
    }
    seen
}
