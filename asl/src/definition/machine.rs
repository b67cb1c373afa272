//! A state machine's own fields: the definition's (`StartAt`, `States`,
//! `TimeoutSeconds`, `QueryLanguage`, `Version`), a Parallel branch's or a
//! Map item processor's; each of its states parsed, and its graph checked.

use super::fields::Fields;
use super::{Definition, graph, states};
use crate::errors::Problem;
use serde_json::Value;
use std::collections::BTreeMap;

/// Where a state machine sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The definition itself.
    Top,
    /// A Parallel state's branch.
    Branch,
    /// A Map state's item processor.
    Processor,
}

/// Parses a state machine (the definition, a branch or a processor) at
/// `at`; its states use JSONata by default when `jsonata` (the
/// definition's `QueryLanguage` decides at the top).
pub(crate) fn parse_machine(
    value: &Value,
    at: &str,
    scope: Scope,
    mut jsonata: bool,
    problems: &mut Vec<Problem>,
) -> Option<Definition> {
    let what = match scope {
        Scope::Top => "the definition",
        Scope::Branch => "a branch",
        Scope::Processor => "an item processor",
    };
    let mut f = Fields::of(value, at.to_owned(), what, problems)?;
    match scope {
        Scope::Top => f.only(
            &[
                "StartAt",
                "States",
                "Comment",
                "Version",
                "TimeoutSeconds",
                "QueryLanguage",
            ],
            what,
        ),
        Scope::Branch => f.only(&["StartAt", "States", "Comment"], what),
        Scope::Processor => f.only(&["StartAt", "States", "Comment", "ProcessorConfig"], what),
    }
    if scope == Scope::Processor
        && let Some(config) = f.value("ProcessorConfig")
    {
        let mode = config.get("Mode").and_then(Value::as_str).unwrap_or("INLINE");
        if mode != "INLINE" {
            f.problem(
                "ProcessorConfig",
                "only inline Map states run here (ProcessorConfig.Mode INLINE); distributed mode is not supported",
            );
        }
    }
    match f.str("QueryLanguage") {
        None | Some("JSONPath") => {}
        Some("JSONata") => jsonata = true,
        Some(other) => f.problem(
            "QueryLanguage",
            format!("QueryLanguage is JSONPath or JSONata, not {other:?}"),
        ),
    }
    if let Some(version) = f.str("Version")
        && version != "1.0"
    {
        f.problem("Version", "the only States Language version is \"1.0\"");
    }
    let timeout_seconds = f.uint("TimeoutSeconds", 1);
    let start_at = f.required_str("StartAt", what).map(str::to_owned);
    let states_at = f.path("States");
    let states_value = value.get("States");
    if states_value.is_none() {
        f.problem("States", format!("{what} needs States"));
    }
    let states = match states_value {
        Some(Value::Object(map)) if !map.is_empty() => {
            let mut states = BTreeMap::new();
            for (name, state) in map {
                let here = crate::errors::field_path(&states_at, name);
                if let Some(s) = states::parse_state(name, state, &here, jsonata, problems) {
                    states.insert(name.clone(), s);
                }
            }
            states
        }
        Some(_) => {
            problems.push(Problem::new(
                states_at,
                "States must be an object of one or more states",
            ));
            BTreeMap::new()
        }
        None => BTreeMap::new(),
    };
    let start_at = start_at?;
    let definition = Definition {
        start_at,
        states,
        timeout_seconds,
    };
    graph::check(&definition, value, at, problems);
    Some(definition)
}
