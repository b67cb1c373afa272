//! The validator: definitions that are right parse; each wrong one names
//! every problem at its path.

use super::*;
use serde_json::json;

fn problems(definition: Value) -> Vec<String> {
    match Definition::parse(&definition) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.into_iter().map(|p| p.path).collect(),
    }
}

#[test]
fn a_definition_with_every_state_type_parses() {
    let d = Definition::parse(&json!({
        "Comment": "all types",
        "StartAt": "P",
        "TimeoutSeconds": 60,
        "States": {
            "P": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.p", "Next": "T"},
            "T": {"Type": "Task", "Resource": "charge.waitForTaskToken", "TimeoutSeconds": 30,
                  "HeartbeatSeconds": 10, "Parameters": {"token.$": "$$.Task.Token"},
                  "Retry": [{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 0}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "F"}],
                  "Next": "C"},
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.p.x", "NumericEquals": 1, "Next": "W"}],
                  "Default": "F"},
            "W": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "Par"},
            "Par": {"Type": "Parallel", "Next": "M", "Branches": [
                {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": "check", "End": true}}}
            ]},
            "M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
                  "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value"},
                  "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Task", "Resource": "mrn:functions:acme:shop:function/item", "End": true}}},
                  "Next": "S"},
            "S": {"Type": "Succeed"},
            "F": {"Type": "Fail", "Error": "Payment.Failed", "CausePath": "$.error.Cause"}
        }
    }))
    .expect("valid");
    assert_eq!(
        d.resources(),
        ["charge", "check", "mrn:functions:acme:shop:function/item"]
    );
    let Kind::Task(t) = &d.states["T"].kind else {
        panic!("T is a task")
    };
    assert!(t.wait_for_token);
    assert_eq!(d.timeout_seconds, Some(60));
}

#[test]
fn the_deprecated_map_forms_parse() {
    let d = Definition::parse(&json!({
        "StartAt": "M",
        "States": {"M": {"Type": "Map", "Parameters": {"v.$": "$$.Map.Item.Value"},
            "Iterator": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}, "End": true}}
    }))
    .expect("valid");
    let Kind::Map(m) = &d.states["M"].kind else {
        panic!("M is a map")
    };
    assert!(m.item_selector.is_some());
    assert!(
        d.states["M"].io.parameters.is_none(),
        "a Map's Parameters select items"
    );
}

#[test]
fn wrong_definitions_name_every_problem() {
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("not an object", json!([]), vec!["$"]),
        ("no StartAt or States", json!({}), vec!["$", "$.States"]),
        (
            "unknown top-level field",
            json!({"StartAt": "A", "Extra": 1, "States": {"A": {"Type": "Succeed"}}}),
            vec!["$.Extra"],
        ),
        (
            "StartAt names no state",
            json!({"StartAt": "B", "States": {"A": {"Type": "Succeed"}}}),
            vec!["$.StartAt", "$.States.A"],
        ),
        (
            "unknown state type",
            json!({"StartAt": "A", "States": {"A": {"Type": "Sleep", "End": true}}}),
            vec!["$.States.A.Type"],
        ),
        (
            "unknown state field",
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Resource": "f"}}}),
            vec!["$.States.A.Resource"],
        ),
        (
            "missing Next and End",
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}),
            vec!["$.States.A"],
        ),
        (
            "Next and End",
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A", "End": true}}}),
            vec!["$.States.A.End"],
        ),
        (
            "Next names no state",
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}),
            vec!["$.States.A.Next"],
        ),
        (
            "unreachable state",
            json!({"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "Lost state": {"Type": "Succeed"}}}),
            vec!["$.States['Lost state']"],
        ),
        (
            "never ends",
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}}),
            vec!["$.States"],
        ),
        (
            "bad paths",
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "InputPath": "x", "OutputPath": 3, "ResultPath": "$.a[*]", "End": true}}}),
            vec![
                "$.States.A.InputPath",
                "$.States.A.OutputPath",
                "$.States.A.ResultPath",
            ],
        ),
        (
            "bad parameter path",
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"x.$": "nope"}, "End": true}}}),
            vec!["$.States.A.Parameters['x.$']"],
        ),
        (
            "task without a resource",
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "End": true}}}),
            vec!["$.States.A"],
        ),
        (
            "heartbeat not under timeout",
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "f", "TimeoutSeconds": 5, "HeartbeatSeconds": 5, "End": true}}}),
            vec!["$.States.A.HeartbeatSeconds"],
        ),
        (
            "catch to nowhere",
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "f", "End": true,
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Gone"}]}}}),
            vec!["$.States.A.Catch[0].Next"],
        ),
        (
            "wait with two durations",
            json!({"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": true}}}),
            vec!["$.States.A"],
        ),
        (
            "wait with a bad timestamp",
            json!({"StartAt": "A", "States": {"A": {"Type": "Wait", "Timestamp": "tomorrow", "End": true}}}),
            vec!["$.States.A.Timestamp"],
        ),
        (
            "fail with Error and ErrorPath",
            json!({"StartAt": "A", "States": {"A": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}}}),
            vec!["$.States.A.ErrorPath"],
        ),
        (
            "choice default to nowhere",
            json!({"StartAt": "A", "States": {"A": {"Type": "Choice",
            "Choices": [{"Variable": "$.x", "BooleanEquals": true, "Next": "B"}], "Default": "Z"}, "B": {"Type": "Succeed"}}}),
            vec!["$.States.A.Default"],
        ),
        (
            "parallel without branches",
            json!({"StartAt": "A", "States": {"A": {"Type": "Parallel", "Branches": [], "End": true}}}),
            vec!["$.States.A.Branches"],
        ),
        (
            "problems inside a branch",
            json!({"StartAt": "A", "States": {"A": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Y"}}}]}}}),
            vec!["$.States.A.Branches[0].States.X.Next"],
        ),
        (
            "a branch cannot reach the outer states",
            json!({"StartAt": "A", "States": {"A": {"Type": "Parallel", "Next": "Done", "Branches": [
            {"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Done"}}}]}, "Done": {"Type": "Succeed"}}}),
            vec!["$.States.A.Branches[0].States.X.Next"],
        ),
        (
            "map without a processor",
            json!({"StartAt": "A", "States": {"A": {"Type": "Map", "End": true}}}),
            vec!["$.States.A"],
        ),
        (
            "distributed map",
            json!({"StartAt": "A", "States": {"A": {"Type": "Map", "ItemReader": {}, "End": true,
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}),
            vec!["$.States.A.ItemReader"],
        ),
        (
            "tolerated percentage out of range",
            json!({"StartAt": "A", "States": {"A": {"Type": "Map", "ToleratedFailurePercentage": 101, "End": true,
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}),
            vec!["$.States.A.ToleratedFailurePercentage"],
        ),
        (
            "an unknown query language",
            json!({"QueryLanguage": "JMESPath", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}}),
            vec!["$.QueryLanguage"],
        ),
        (
            "several problems at once",
            json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Next": "Nowhere"},
            "B": {"Type": "Teleport"},
            "C": {"Type": "Task", "Resource": "f", "TimeoutSeconds": 0, "End": true}}}),
            vec!["$.States.A.Next", "$.States.B.Type", "$.States.C.TimeoutSeconds"],
        ),
    ];
    for (name, definition, expected) in cases {
        let mut got = problems(definition.clone());
        got.sort();
        let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{name}: {:?}", Definition::parse(&definition).err());
    }
}
