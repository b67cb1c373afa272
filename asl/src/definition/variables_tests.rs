//! The validator on workflow variables in JSONPath states: where `Assign`
//! may stand and what it holds, where `$name` may be read, and the scope
//! rule of branches and item processors (AWS's developer guide, "Passing
//! data between states with variables").

use super::*;
use serde_json::json;

/// The sorted paths of the problems of a machine of `states` starting at
/// `start`.
fn problems(start: &str, states: Value) -> Vec<String> {
    let definition = json!({"StartAt": start, "States": states});
    let mut paths: Vec<String> = match Definition::parse(&definition) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.into_iter().map(|p| p.path).collect(),
    };
    paths.sort();
    paths
}

/// A Map whose item processor is the one state `inner`.
fn map_of(inner: Value) -> Value {
    json!({"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "I", "States": {"I": inner}}})
}

#[test]
fn assign_is_allowed_where_step_functions_allows_it() {
    let states = json!({
        "P": {"Type": "Pass", "Assign": {"a": 1, "b.$": "$.b", "c": {"d.$": "$$.Execution.Id", "e": [1]}}, "Next": "T"},
        "T": {"Type": "Task", "Resource": "f", "Assign": {"t.$": "$.Payload", "n.$": "States.ArrayLength($.items)"},
              "Catch": [{"ErrorEquals": ["States.ALL"], "Assign": {"err.$": "$.Cause"}, "ResultPath": "$.e", "Next": "C"}],
              "Next": "C"},
        "C": {"Type": "Choice", "Assign": {"fallback": true},
              "Choices": [{"Variable": "$a", "NumericEquals": 1, "Assign": {"one": true}, "Next": "W"}],
              "Default": "W"},
        "W": {"Type": "Wait", "Seconds": 1, "Assign": {"waited": true}, "Next": "Par"},
        "Par": {"Type": "Parallel", "Assign": {"both.$": "$"}, "Next": "M", "Branches": [
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "Assign": {"inBranch": 1}, "End": true}}}
        ]},
        "M": {"Type": "Map", "Assign": {"all.$": "$"}, "Next": "S",
              "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}},
        "S": {"Type": "Succeed"}
    });
    assert_eq!(problems("P", states), Vec::<String>::new());
}

#[test]
fn variables_are_read_by_every_path_but_result_path() {
    let states = json!({
        "P": {"Type": "Pass", "InputPath": "$order", "OutputPath": "$order.items",
              "Parameters": {"a.$": "$x", "b.$": "States.Format('{}', $x.name)"}, "Next": "T"},
        "T": {"Type": "Task", "Resource": "f", "TimeoutSecondsPath": "$limits.timeout",
              "HeartbeatSecondsPath": "$limits.heartbeat", "ResultSelector": {"r.$": "$x"}, "Next": "C"},
        "C": {"Type": "Choice", "Choices": [
            {"Variable": "$x.count", "NumericLessThanPath": "$limits.count", "Next": "W"},
            {"And": [{"Variable": "$x", "IsPresent": true}, {"Variable": "$x.name", "StringEqualsPath": "$.name"}], "Next": "W2"}
        ], "Default": "W"},
        "W": {"Type": "Wait", "SecondsPath": "$limits.wait", "Next": "M"},
        "W2": {"Type": "Wait", "TimestampPath": "$when", "Next": "M"},
        "M": {"Type": "Map", "ItemsPath": "$order.items", "MaxConcurrencyPath": "$limits.maps",
              "ToleratedFailureCountPath": "$limits.failures",
              "ItemSelector": {"item.$": "$$.Map.Item.Value", "x.$": "$x"}, "Next": "F",
              "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}},
        "F": {"Type": "Fail", "ErrorPath": "$error.name", "CausePath": "States.Format('{}', $error.cause)"}
    });
    assert_eq!(problems("P", states), Vec::<String>::new());
    let states = json!({
        "T": {"Type": "Task", "Resource": "f", "ResultPath": "$result", "End": true,
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$failure", "Next": "E"}]},
        "E": {"Type": "Succeed"}
    });
    assert_eq!(
        problems("T", states),
        ["$.States.T.Catch[0].ResultPath", "$.States.T.ResultPath"]
    );
}

#[test]
fn wrong_assigns_and_references_are_named_at_their_paths() {
    let long = format!("$.States.S.Assign.{}", "v".repeat(81));
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "Succeed and Fail assign nothing",
            json!({"S": {"Type": "Pass", "Next": "F"},
                   "F": {"Type": "Fail", "Error": "E", "Assign": {"a": 1}},
                   "G": {"Type": "Succeed", "Assign": {"a": 1}}}),
            vec!["$.States.F.Assign", "$.States.G", "$.States.G.Assign"],
        ),
        (
            "Assign is an object",
            json!({"S": {"Type": "Pass", "Assign": ["a"], "End": true}}),
            vec!["$.States.S.Assign"],
        ),
        (
            "names that are not names, reserved or too long",
            json!({"S": {"Type": "Pass", "End": true, "Assign": {
                "1st": 1, "x.y": 2, "states": 3, "a-b.$": "$", &"v".repeat(81): 4}}}),
            vec![
                "$.States.S.Assign['1st']",
                "$.States.S.Assign.states",
                "$.States.S.Assign['a-b.$']",
                "$.States.S.Assign['x.y']",
                &long,
            ],
        ),
        (
            "a variable given twice",
            json!({"S": {"Type": "Pass", "End": true, "Assign": {"a": 1, "a.$": "$.a"}}}),
            vec!["$.States.S.Assign['a.$']"],
        ),
        (
            "a computed value that is no path or call",
            json!({"S": {"Type": "Pass", "End": true, "Assign": {"a.$": "a", "b": {"c.$": 5}, "d.$": "States.Nope()"}}}),
            vec![
                "$.States.S.Assign['a.$']",
                "$.States.S.Assign['d.$']",
                "$.States.S.Assign.b['c.$']",
            ],
        ),
        (
            "Assign only in a top-level Choice rule",
            json!({"C": {"Type": "Choice", "Default": "E", "Choices": [
                {"And": [{"Variable": "$.a", "IsNull": true, "Assign": {"x": 1}}], "Next": "E"}]},
                "E": {"Type": "Succeed"}}),
            vec!["$.States.C.Choices[0].And[0].Assign"],
        ),
        (
            "a rule's Assign is checked",
            json!({"C": {"Type": "Choice", "Default": "E", "Choices": [
                {"Variable": "$.a", "IsNull": true, "Assign": {"2x": 1}, "Next": "E"}]},
                "E": {"Type": "Succeed"}}),
            vec!["$.States.C.Choices[0].Assign['2x']"],
        ),
        (
            "a catcher's Assign is checked",
            json!({"T": {"Type": "Task", "Resource": "f", "End": true,
                   "Catch": [{"ErrorEquals": ["States.ALL"], "Assign": {"ok.$": "Cause"}, "Next": "E"}]},
                   "E": {"Type": "Succeed"}}),
            vec!["$.States.T.Catch[0].Assign['ok.$']"],
        ),
        (
            "bad variable references",
            json!({"S": {"Type": "Pass", "End": true, "InputPath": "$9lives",
                   "Parameters": {"a.$": "$states.input", "b.$": "States.Format('{}', $x-y)"}}}),
            vec![
                "$.States.S.InputPath",
                "$.States.S.Parameters['a.$']",
                "$.States.S.Parameters['b.$']",
            ],
        ),
    ];
    for (name, states, expected) in cases {
        let start = states
            .as_object()
            .and_then(|m| m.keys().next().cloned())
            .unwrap_or_default();
        let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(problems(&start, states), want, "{name}");
    }
}

#[test]
fn an_inner_scope_reads_but_never_assigns_an_outer_variable() {
    // Assigned at the top and again in an item processor, a branch, and
    // a nested Map's processor (by a `.$` key and by a catcher).
    let states = json!({
        "Set": {"Type": "Pass", "Assign": {"x": 1, "y": 2}, "Next": "Each"},
        "Each": {"Type": "Map", "Next": "Both", "Assign": {"z": 3},
                 "ItemProcessor": {"StartAt": "I", "States": {
                     "I": {"Type": "Pass", "Assign": {"x": 10, "mine": 1, "readsY.$": "$y"}, "Next": "Deeper"},
                     "Deeper": map_of(json!({"Type": "Task", "Resource": "f", "End": true,
                         "Assign": {"mine.$": "$", "z": 0},
                         "Catch": [{"ErrorEquals": ["States.ALL"], "Assign": {"y": 0}, "Next": "Gone"}]}))
                 }}},
        "Both": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Assign": {"y.$": "$", "own": 1}, "End": true}}},
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "Assign": {"own": 2}, "End": true}}}
        ]}
    });
    let mut states = states;
    states["Each"]["ItemProcessor"]["States"]["Deeper"]["ItemProcessor"]["States"]["Gone"] =
        json!({"Type": "Succeed"});
    let deeper = "$.States.Each.ItemProcessor.States.Deeper.ItemProcessor.States.I";
    assert_eq!(
        problems("Set", states),
        [
            "$.States.Both.Branches[0].States.A.Assign['y.$']".to_owned(),
            format!("{deeper}.Assign.z"),
            format!("{deeper}.Assign['mine.$']"),
            format!("{deeper}.Catch[0].Assign.y"),
            "$.States.Each.ItemProcessor.States.I.Assign.x".to_owned(),
        ]
    );
}

#[test]
fn the_scope_rule_holds_in_jsonata_states_too() {
    let definition = json!({"QueryLanguage": "JSONata", "StartAt": "Set", "States": {
        "Set": {"Type": "Pass", "Assign": {"x": 1}, "Next": "Each"},
        "Each": map_of(json!({"Type": "Pass", "Assign": {"x": "{% $x + 1 %}"}, "End": true}))
    }});
    let problems = Definition::parse(&definition).expect_err("x assigned inside");
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["$.States.Each.ItemProcessor.States.I.Assign.x"]);
    assert!(problems[0].message.contains("outer scope"), "{problems:?}");
}

#[test]
fn a_stored_definition_that_broke_only_later_rules_still_loads() {
    // Engine 1 took a JSONata name of any length, and an iteration that
    // assigns a variable of the machine around it.
    let long = "v".repeat(crate::variables::MAX_NAME + 1);
    let stored = json!({"QueryLanguage": "JSONata", "StartAt": "Set", "States": {
        "Set": {"Type": "Pass", "Assign": {"total": 0, long.clone(): 1}, "Next": "Each"},
        "Each": {"Type": "Map", "Items": [1, 2], "End": true, "ItemProcessor": {"StartAt": "Add", "States": {
            "Add": {"Type": "Pass", "Assign": {"total": "{% $states.input %}"}, "End": true}}}}
    }});
    let problems = Definition::parse(&stored).expect_err("written now, it is refused");
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems.iter().all(|p| p.since == Some(2)), "{problems:?}");
    let loaded = Definition::load(&stored.to_string()).expect("stored, it loads");
    assert!(loaded.uses_jsonata());
    // A problem of a rule engine 1 had is not forgiven: a long name with a
    // character engine 1 refused too, or a broken transition.
    let mut dashed = stored.clone();
    dashed["States"]["Set"]["Assign"] = json!({format!("{long}-x"): 1});
    assert!(Definition::load(&dashed.to_string()).is_err());
    let mut broken = stored.clone();
    broken["States"]["Each"]["Next"] = json!("Nowhere");
    assert!(Definition::load(&broken.to_string()).is_err());
}
