//! Variables by scope. The states of the definition share one scope; each
//! Parallel branch and each Map item processor has its own, which reads
//! the variables of the scopes around it but may not assign them: AWS's
//! page "Passing data between states with variables" (Variable scope)
//! says a variable assigned in an inner scope cannot have the name of one
//! assigned in an outer scope. A catcher's `Assign` belongs to the scope
//! of the state it catches for, as its `Next` does.
//!
//! Read from the definition's JSON, like the transitions in `graph`, so
//! that every assignment is found with its path even in a state that has
//! problems of its own.

use crate::errors::{Problem, field_path};
use crate::variables::assigned;
use serde_json::Value;
use std::collections::BTreeMap;

/// Checks the state machine `machine` at `at`, whose outer scopes assign
/// `outer` (each name with the path of its first assignment).
pub(super) fn check(
    machine: &Value,
    at: &str,
    outer: &BTreeMap<String, String>,
    problems: &mut Vec<Problem>,
) {
    let Some(states) = machine.get("States").and_then(Value::as_object) else {
        return;
    };
    let states_at = field_path(at, "States");
    let mut scope = outer.clone();
    for (name, state) in states {
        for (assign, assign_at) in assigns(state, &field_path(&states_at, name)) {
            for (key, variable) in assigned(assign) {
                let here = field_path(&assign_at, key);
                match outer.get(variable) {
                    // Engine 2 added the rule, for JSONata states too.
                    Some(there) => problems.push(Problem::since(
                        2,
                        here,
                        format!(
                            "the variable {variable} is assigned in an outer scope ({there}); a Parallel branch or \
                             Map iteration can read it but not assign it: give this variable another name"
                        ),
                    )),
                    None => {
                        scope.entry(variable.to_owned()).or_insert(here);
                    }
                }
            }
        }
    }
    for (name, state) in states {
        let state_at = field_path(&states_at, name);
        if let Some(Value::Array(branches)) = state.get("Branches") {
            for (i, branch) in branches.iter().enumerate() {
                let branch_at = format!("{}[{i}]", field_path(&state_at, "Branches"));
                check(branch, &branch_at, &scope, problems);
            }
        }
        for field in ["ItemProcessor", "Iterator"] {
            if let Some(processor) = state.get(field) {
                check(processor, &field_path(&state_at, field), &scope, problems);
            }
        }
    }
}

/// A state's `Assign` objects with their paths: its own, its Choice
/// rules' and its catchers'.
fn assigns<'v>(state: &'v Value, at: &str) -> Vec<(&'v Value, String)> {
    let mut out: Vec<(&Value, String)> = state
        .get("Assign")
        .map(|a| (a, field_path(at, "Assign")))
        .into_iter()
        .collect();
    for field in ["Choices", "Catch"] {
        let Some(Value::Array(items)) = state.get(field) else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            if let Some(assign) = item.get("Assign") {
                let item_at = format!("{}[{i}]", field_path(at, field));
                out.push((assign, field_path(&item_at, "Assign")));
            }
        }
    }
    out
}
