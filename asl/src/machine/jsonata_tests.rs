//! JSONata states run by the interpreter: `Arguments`, `Output` and
//! `Assign` in Step Functions' order, variables in scopes, Choice
//! conditions, computed waits and items, catchers, and journals that
//! replay without evaluating anything again.

use super::simulate::Simulation;
use super::tests::{failure_of, info, run_states, start};
use super::*;
use crate::definition::Definition;
use crate::errors;
use serde_json::json;

/// Runs a JSONata machine whose tasks answer `answer(resource, input)`.
fn run(
    states: Value,
    start_at: &str,
    input: Value,
    answer: fn(&str, &Value) -> Result<Value, Failure>,
) -> Simulation {
    run_states(Some("JSONata"), states, start_at, input, answer)
}

fn succeeded(s: &Simulation) {
    assert_eq!(
        s.execution.status(),
        Status::Succeeded,
        "{:?}",
        s.execution.failure()
    );
}

/// What `pick` finds first in the journal.
fn first<T>(s: &Simulation, pick: impl Fn(&Event) -> Option<T>) -> Option<T> {
    s.journal.iter().find_map(pick)
}

fn double(_: &str, input: &Value) -> Result<Value, Failure> {
    Ok(json!({"doubled": input["n"].as_i64().unwrap_or(0) * 2}))
}

#[test]
fn arguments_output_and_assign_follow_step_functions_order() {
    let states = json!({
        "Remember": {"Type": "Pass", "Assign": {"base": "{% $states.input.n %}", "seen": []}, "Next": "Call"},
        "Call": {
            "Type": "Task", "Resource": "double",
            "Arguments": {"n": "{% $base + 1 %}"},
            // Assign and Output read the values from the state's entry:
            // $base is still the old one in Output.
            "Assign": {"base": "{% $states.result.doubled %}", "seen": "{% $append($seen, $base) %}"},
            "Output": {"result": "{% $states.result.doubled %}", "before": "{% $base %}"},
            "Next": "Show"
        },
        "Show": {"Type": "Succeed", "Output": {"base": "{% $base %}", "seen": "{% $seen %}", "in": "{% $states.input %}"}}
    });
    let s = run(states, "Remember", json!({"n": 20}), double);
    succeeded(&s);
    assert_eq!(
        s.execution.output(),
        Some(&json!({"base": 42, "seen": [20], "in": {"result": 42, "before": 20}}))
    );
    let scheduled = first(&s, |e| match e {
        Event::TaskScheduled { input, .. } => Some(input.clone()),
        _ => None,
    });
    assert_eq!(scheduled, Some(json!({"n": 21})));
}

#[test]
fn a_journal_replays_with_its_variables_and_no_evaluation() {
    let states = json!({
        "Pick": {"Type": "Pass", "Assign": {"r": "{% $random() %}", "id": "{% $uuid() %}"}, "Next": "Use"},
        "Use": {"Type": "Pass", "Output": {"r": "{% $r %}", "id": "{% $id %}"}, "End": true}
    });
    let s = run(states, "Pick", json!({}), double);
    let mut replayed = Execution::new(info(json!({})));
    for event in &s.journal {
        replayed.apply(event);
    }
    assert_eq!(replayed, s.execution);
    let text = serde_json::to_string(&s.journal).expect("JSON");
    let back: Vec<Event> = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, s.journal);
    let output = s.execution.output().cloned().unwrap_or_default();
    assert!(
        output["r"].is_number() && output["id"].as_str().is_some_and(|id| id.len() == 36),
        "{output}"
    );
}

#[test]
fn choice_conditions_rules_assign_and_default() {
    let states = json!({
        "Start": {"Type": "Pass", "Assign": {"routed": false}, "Next": "Route"},
        "Route": {"Type": "Choice",
            "Assign": {"routed": true},
            "Output": {"by": "default"},
            "Choices": [
                {"Condition": "{% $states.input.total > 100 %}", "Next": "Big",
                 "Assign": {"size": "big"}, "Output": {"total": "{% $states.input.total %}"}},
                {"Condition": "{% $states.input.total > 10 %}", "Next": "Small"}
            ],
            "Default": "Tiny"},
        "Big": {"Type": "Pass", "Output": {"size": "{% $size %}", "routed": "{% $routed %}", "in": "{% $states.input %}"}, "End": true},
        "Small": {"Type": "Pass", "Output": "small", "End": true},
        "Tiny": {"Type": "Pass", "Output": "{% 'tiny ' & $string($routed) & ' ' & $states.input.by %}", "End": true}
    });
    // A matched rule applies its own Output and Assign, never the state's.
    let big = run(states.clone(), "Start", json!({"total": 500, "x": 1}), double);
    assert_eq!(
        big.execution.output(),
        Some(&json!({"size": "big", "routed": false, "in": {"total": 500}}))
    );
    let small = run(states.clone(), "Start", json!({"total": 50}), double);
    assert_eq!(small.execution.output(), Some(&json!("small")));
    // Default applies the state's.
    let tiny = run(states.clone(), "Start", json!({"total": 1}), double);
    assert_eq!(tiny.execution.output(), Some(&json!("tiny true default")));
    // A condition that is not a boolean fails the state.
    let bad = run(
        json!({"C": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.total %}", "Next": "E"}]},
               "E": {"Type": "Succeed"}}),
        "C",
        json!({"total": 3}),
        double,
    );
    assert_eq!(
        bad.execution.failure().map(|f| f.error.as_str()),
        Some(errors::QUERY_EVALUATION_ERROR)
    );
}

#[test]
fn waits_items_and_limits_come_from_expressions() {
    let states = json!({
        "Nap": {"Type": "Wait", "Seconds": "{% $states.input.delay * 2 %}", "Next": "Each"},
        "Each": {
            "Type": "Map", "Items": "{% $states.input.orders %}", "MaxConcurrency": "{% 1 + 1 %}",
            "ItemSelector": {"n": "{% $states.context.Map.Item.Value %}", "i": "{% $states.context.Map.Item.Index %}"},
            "ItemProcessor": {"StartAt": "Double", "States": {
                "Double": {"Type": "Task", "Resource": "double", "Output": "{% $states.result.doubled + $states.input.i %}", "End": true}
            }},
            "Output": {"sum": "{% $sum($states.result) %}"},
            "End": true
        }
    });
    let s = run(states, "Nap", json!({"delay": 5, "orders": [1, 2, 3]}), double);
    succeeded(&s);
    // 2 + (4 + 1) + (6 + 2)
    assert_eq!(s.execution.output(), Some(&json!({"sum": 15})));
    let waited = first(&s, |e| match e {
        Event::WaitStarted { until, .. } => Some(*until),
        _ => None,
    });
    assert_eq!(waited, Some(start() + chrono::TimeDelta::seconds(10)));
    let planned = first(&s, |e| match e {
        Event::IterationsPlanned { max_concurrency, .. } => Some(*max_concurrency),
        _ => None,
    });
    assert_eq!(planned, Some(2));
}

#[test]
fn catchers_see_the_error_output_and_assign() {
    let states = json!({
        "Charge": {
            "Type": "Task", "Resource": "charge",
            "Catch": [{"ErrorEquals": ["Payment.Declined"], "Next": "Sorry",
                       "Assign": {"reason": "{% $states.errorOutput.Cause %}"},
                       "Output": {"error": "{% $states.errorOutput.Error %}", "order": "{% $states.input.order %}"}}],
            "End": true
        },
        "Sorry": {"Type": "Fail", "Error": "{% $states.input.error %}", "Cause": "{% 'because ' & $reason %}"}
    });
    let s = run(states, "Charge", json!({"order": 7}), |_, _| {
        Err(Failure::new("Payment.Declined", "card expired"))
    });
    assert_eq!(s.execution.status(), Status::Failed);
    assert_eq!(
        s.execution.failure(),
        Some(&Failure::new("Payment.Declined", "because card expired"))
    );
}

#[test]
fn branches_and_iterations_read_outer_variables_and_keep_their_own() {
    let states = json!({
        "Set": {"Type": "Pass", "Assign": {"k": 10}, "Next": "Both"},
        "Both": {"Type": "Parallel", "Arguments": {"x": "{% $k %}"}, "Branches": [
            {"StartAt": "A", "States": {
                "A": {"Type": "Pass", "Assign": {"inner": "{% $k + $states.input.x %}"}, "Next": "B"},
                "B": {"Type": "Pass", "Output": "{% $inner %}", "End": true}}},
            {"StartAt": "C", "States": {"C": {"Type": "Pass", "Output": "{% $k %}", "End": true}}}
        ], "Next": "After"},
        // A variable a branch set is not seen outside it.
        "After": {"Type": "Pass", "Output": {"branches": "{% $states.input %}", "inner": "{% $exists($inner) %}"}, "End": true}
    });
    let s = run(states, "Set", json!({}), double);
    succeeded(&s);
    assert_eq!(
        s.execution.output(),
        Some(&json!({"branches": [20, 10], "inner": false}))
    );
}

#[test]
fn an_undefined_result_is_a_query_evaluation_error() {
    let states = json!({"P": {"Type": "Pass", "Output": {"x": "{% $states.input.missing %}"}, "End": true}});
    let s = run(states, "P", json!({}), double);
    let failure = failure_of(&s);
    assert_eq!(failure.error, errors::QUERY_EVALUATION_ERROR);
    assert!(failure.cause.contains("Output/x"), "{failure:?}");
}

#[test]
fn jsonata_states_refuse_jsonpath_fields_and_bad_expressions() {
    let value = json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "ResultPath": "$.x", "Output": "{% $states.input. %}", "Next": "T"},
        "T": {"Type": "Task", "Resource": "f", "Parameters": {}, "Assign": {"1bad": 1}, "QueryLanguage": "JSONPath", "End": true}
    }});
    let problems = Definition::parse(&value).expect_err("invalid");
    let mut paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "$.States.P.Output",
            "$.States.P.ResultPath",
            "$.States.T.Assign['1bad']",
            "$.States.T.Parameters",
            "$.States.T.QueryLanguage"
        ],
        "{problems:?}"
    );
    // One JSONata state in a JSONPath machine.
    let mixed = json!({"StartAt": "P", "States": {
        "P": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $states.input.a %}", "Next": "Q"},
        "Q": {"Type": "Pass", "InputPath": "$", "End": true}
    }});
    assert!(Definition::parse(&mixed).is_ok());
}

#[test]
fn variables_are_limited_to_ten_mebibytes_an_execution() {
    // `laps` Pass states, each setting its own 240 KB variable.
    let chain = |laps: usize| {
        let mut states = serde_json::Map::new();
        for i in 0..laps {
            let mut state =
                json!({"Type": "Pass", "Assign": {format!("v{i}"): "{% $pad('', 240000, 'x') %}"}});
            if i + 1 == laps {
                state["End"] = json!(true);
            } else {
                state["Next"] = json!(format!("S{}", i + 1));
            }
            states.insert(format!("S{i}"), state);
        }
        Value::Object(states)
    };
    succeeded(&run(chain(40), "S0", json!({}), double));
    let s = run(chain(45), "S0", json!({}), double);
    assert_eq!(
        s.execution.failure().map(|f| f.error.as_str()),
        Some(errors::DATA_LIMIT_EXCEEDED),
        "{:?}",
        s.execution.failure()
    );
}
