//! Workflow variables in JSONPath states, run by the interpreter as AWS's
//! developer guide ("Passing data between states with variables")
//! describes them: `Assign` beside `ResultSelector` on a state's result,
//! values from the state's entry, Choice rules that read and assign,
//! scopes in a Map, a catcher's `Assign`, and a variable no state set.

use super::simulate::Simulation;
use super::tests::{failure_of, info, run_states, start};
use super::*;
use crate::errors;
use serde_json::json;

/// Runs a JSONPath machine whose tasks answer `answer(resource, input)`.
fn run(
    states: Value,
    start_at: &str,
    input: Value,
    answer: fn(&str, &Value) -> Result<Value, Failure>,
) -> Simulation {
    run_states(None, states, start_at, input, answer)
}

fn output(s: &Simulation) -> Value {
    assert_eq!(
        s.execution.status(),
        Status::Succeeded,
        "{:?}",
        s.execution.failure()
    );
    s.execution.output().cloned().unwrap_or_default()
}

/// `price` answers `{"Payload": {"price": n * 10}, "StatusCode": 200}`.
fn price(_: &str, input: &Value) -> Result<Value, Failure> {
    let n = input["n"].as_i64().unwrap_or(0);
    Ok(json!({"Payload": {"price": n * 10}, "StatusCode": 200}))
}

/// The variables each `StateExited` of `state` assigned.
fn assigned(s: &Simulation, state: &str) -> Option<Value> {
    s.journal.iter().find_map(|e| match e {
        Event::StateExited {
            state: name,
            assigned: Some(map),
            ..
        } if name == state => Some(Value::Object(map.clone())),
        _ => None,
    })
}

#[test]
fn assign_reads_the_raw_result_and_later_states_read_the_variables() {
    let states = json!({
        "Remember": {"Type": "Pass", "Parameters": {"n.$": "$.n"},
                     "Assign": {"n.$": "$.n", "who.$": "$$.Execution.Name", "fixed": {"tag": "t", "copy.$": "$.n"}},
                     "Next": "Price"},
        "Price": {
            "Type": "Task", "Resource": "price",
            "Parameters": {"n.$": "$n"},
            // Assign's `$` is the raw result, beside ResultSelector.
            "ResultSelector": {"p.$": "$.Payload.price"},
            "Assign": {"price.$": "$.Payload.price", "code.$": "$.StatusCode", "was.$": "$n"},
            "ResultPath": "$.priced",
            "Next": "Show"
        },
        "Show": {"Type": "Pass",
                 "Parameters": {"price.$": "$price", "code.$": "$code", "was.$": "$was",
                                "line.$": "States.Format('{} costs {}', $who, $price)",
                                "fixed.$": "$fixed", "priced.$": "$.priced"},
                 "End": true}
    });
    let s = run(states, "Remember", json!({"n": 4}), price);
    assert_eq!(
        output(&s),
        json!({"price": 40, "code": 200, "was": 4, "line": "e1 costs 40",
               "fixed": {"tag": "t", "copy": 4}, "priced": {"p": 40}})
    );
    let scheduled = s.journal.iter().find_map(|e| match e {
        Event::TaskScheduled { input, .. } => Some(input.clone()),
        _ => None,
    });
    assert_eq!(scheduled, Some(json!({"n": 4})));
    // Replays to the same execution, evaluating nothing.
    let mut replayed = Execution::new(info(json!({"n": 4})));
    for event in &s.journal {
        replayed.apply(event);
    }
    assert_eq!(replayed, s.execution);
}

#[test]
fn assign_evaluates_every_value_with_the_values_from_the_state_entry() {
    // The guide's example: starting with $x=3 and $a=6, {"x": $a,
    // "nextX": $x} ends with $x=6 and $nextX=3; and the new values are
    // seen from the next state on, OutputPath included.
    let states = json!({
        "Start": {"Type": "Pass", "Assign": {"x": 3, "a": 6}, "Next": "Swap"},
        "Swap": {"Type": "Pass", "Result": {}, "Assign": {"x.$": "$a", "nextX.$": "$x"},
                 "ResultPath": "$.seen", "Parameters": {"x.$": "$x"}, "Next": "End"},
        "End": {"Type": "Pass", "Parameters": {"x.$": "$x", "nextX.$": "$nextX", "seen.$": "$.seen"}, "End": true}
    });
    let s = run(states, "Start", json!({}), price);
    assert_eq!(output(&s), json!({"x": 6, "nextX": 3, "seen": {}}));
    assert_eq!(assigned(&s, "Swap"), Some(json!({"x": 6, "nextX": 3})));
}

#[test]
fn choice_rules_read_variables_and_assign_instead_of_the_state() {
    let states = json!({
        "Count": {"Type": "Pass", "Assign": {"count.$": "$.count", "limit": 10}, "Next": "Route"},
        "Route": {"Type": "Choice",
            "InputPath": "$.order",
            "Assign": {"route": "default", "id.$": "$.id"},
            "Choices": [
                {"Variable": "$count", "NumericGreaterThanPath": "$limit", "Next": "Big",
                 "Assign": {"route": "big", "id.$": "$.id"}},
                {"Variable": "$count", "NumericGreaterThan": 5, "Next": "Medium"}
            ],
            "Default": "Show"},
        "Big": {"Type": "Pass", "Next": "Show"},
        "Medium": {"Type": "Pass", "Next": "Show"},
        "Show": {"Type": "Pass",
                 "Parameters": {"route.$": "$route", "id.$": "$id"},
                 "End": true}
    });
    let big = run(
        states.clone(),
        "Count",
        json!({"count": 50, "order": {"id": 7}}),
        price,
    );
    assert_eq!(output(&big), json!({"route": "big", "id": 7}));
    // A rule without Assign: neither it nor the state's Assign sets any.
    let medium = run(
        states.clone(),
        "Count",
        json!({"count": 6, "order": {"id": 7}}),
        price,
    );
    assert_eq!(
        medium.execution.failure().map(|f| f.error.as_str()),
        Some(errors::RUNTIME)
    );
    assert!(
        medium
            .execution
            .failure()
            .is_some_and(|f| f.cause.contains("$route")),
        "{:?}",
        medium.execution.failure()
    );
    let default = run(states, "Count", json!({"count": 1, "order": {"id": 8}}), price);
    assert_eq!(output(&default), json!({"route": "default", "id": 8}));
}

#[test]
fn waits_read_and_assign_on_their_effective_input() {
    let states = json!({
        "Set": {"Type": "Pass", "Assign": {"delay": 3}, "Next": "Nap"},
        "Nap": {"Type": "Wait", "SecondsPath": "$delay", "InputPath": "$.inner",
                "Assign": {"slept.$": "$.label"}, "Next": "Show"},
        "Show": {"Type": "Pass", "Parameters": {"slept.$": "$slept", "in.$": "$"}, "End": true}
    });
    let s = run(states, "Set", json!({"inner": {"label": "short"}}), price);
    assert_eq!(output(&s), json!({"slept": "short", "in": {"label": "short"}}));
    let waited = s.journal.iter().find_map(|e| match e {
        Event::WaitStarted { until, .. } => Some(*until),
        _ => None,
    });
    assert_eq!(waited, Some(start() + chrono::TimeDelta::seconds(3)));
}

#[test]
fn iterations_read_outer_variables_and_keep_their_own() {
    let states = json!({
        "Set": {"Type": "Pass", "Assign": {"rate": 2}, "Next": "Each"},
        "Each": {
            "Type": "Map", "ItemsPath": "$.items",
            "ItemSelector": {"n.$": "$$.Map.Item.Value", "rate.$": "$rate"},
            "ItemProcessor": {"StartAt": "Mine", "States": {
                "Mine": {"Type": "Pass", "Assign": {"mine.$": "$.n"}, "Next": "Use"},
                "Use": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($mine, $rate)"}, "End": true}
            }},
            "Next": "After"
        },
        // What an iteration assigned is gone when the Map is done.
        "After": {"Type": "Choice", "Choices": [
            {"Variable": "$mine", "IsPresent": true, "Next": "Leaked"}
        ], "Default": "Done"},
        "Leaked": {"Type": "Fail", "Error": "Leaked"},
        "Done": {"Type": "Pass", "End": true}
    });
    let s = run(states, "Set", json!({"items": [1, 5]}), price);
    assert_eq!(output(&s), json!([{"v": 3}, {"v": 7}]));
}

#[test]
fn a_catcher_assigns_from_the_error_output_in_the_state_s_scope() {
    let states = json!({
        "Charge": {
            "Type": "Task", "Resource": "charge", "End": true,
            "Catch": [{"ErrorEquals": ["Payment.Declined"], "ResultPath": "$.error", "Next": "Sorry",
                       "Assign": {"reason.$": "$.Cause", "what.$": "$.Error"}}]
        },
        "Sorry": {"Type": "Pass",
                  "Parameters": {"message.$": "States.Format('{}: {}', $what, $reason)", "error.$": "$.error"},
                  "End": true}
    });
    let s = run(states, "Charge", json!({"order": 7}), |_, _| {
        Err(Failure::new("Payment.Declined", "card expired"))
    });
    assert_eq!(
        output(&s),
        json!({"message": "Payment.Declined: card expired",
               "error": {"Error": "Payment.Declined", "Cause": "card expired"}})
    );
}

#[test]
fn a_variable_no_state_assigned_fails_the_execution() {
    let states = json!({
        "Use": {"Type": "Pass", "Parameters": {"x.$": "$nobody.field"}, "End": true}
    });
    let s = run(states, "Use", json!({}), price);
    let failure = failure_of(&s);
    assert_eq!(failure.error, errors::RUNTIME);
    assert!(failure.cause.contains("$nobody"), "{failure:?}");
}

#[test]
fn an_assign_over_the_limit_fails_with_data_limit_exceeded() {
    let big = "x".repeat(MAX_PAYLOAD);
    let states = json!({
        "Big": {"Type": "Pass", "Result": big, "Assign": {"big.$": "$"}, "ResultPath": null, "End": true}
    });
    let s = run(states, "Big", json!({}), price);
    assert_eq!(
        s.execution.failure().map(|f| f.error.as_str()),
        Some(errors::DATA_LIMIT_EXCEEDED),
        "{:?}",
        s.execution.failure()
    );
}

/// A Map whose `ItemSelector` copies a variable into each of many items
/// fails with `States.DataLimitExceeded` once the items' inputs pass the
/// limit, as they are made.
#[test]
fn a_map_that_copies_a_variable_into_every_item_is_bounded() {
    let big = "x".repeat(200 * 1024);
    let states = json!({
        "Keep": {"Type": "Pass", "Assign": {"big": big}, "Next": "Spread"},
        "Spread": {"Type": "Map", "ItemsPath": "$.items", "ItemSelector": {"copy.$": "$big"},
            "ItemProcessor": {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}, "End": true}
    });
    let items: Vec<u32> = (0..1000).collect();
    let s = run(states, "Keep", json!({ "items": items }), price);
    assert_eq!(
        s.execution.failure().map(|f| f.error.as_str()),
        Some(errors::DATA_LIMIT_EXCEEDED),
        "{:?}",
        s.execution.failure()
    );
}
