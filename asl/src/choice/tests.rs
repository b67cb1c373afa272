//! The helpers the tests of `compare` use too, and the tests of
//! [`Condition::eval`].

use super::*;
use crate::choice::parse::parse_rule;
use crate::errors::RUNTIME;
use serde_json::json;

/// A nested rule, parsed without problems.
fn rule(value: Value) -> Condition {
    let mut problems = Vec::new();
    let condition = parse_rule(&value, "$", false, &mut problems);
    assert!(problems.is_empty(), "{value}: {problems:?}");
    condition.expect("a condition")
}

fn context() -> Value {
    json!({"Execution": {"Id": "exec-1"}, "State": {"RetryCount": 2}})
}

fn variables() -> serde_json::Map<String, Value> {
    let variables = json!({"limit": 10, "user": {"name": "ada", "admin": true}});
    variables.as_object().cloned().unwrap_or_default()
}

pub(super) fn eval(value: Value, input: &Value) -> Result<bool, Failure> {
    rule(value).eval(input, &Bindings::new(&context(), &variables()))
}

pub(super) fn sample() -> Value {
    json!({
        "s": "b", "n": 5, "f": 5.5, "big": u64::MAX, "neg": -3, "t": true,
        "ts": "2020-01-01T12:00:00Z", "file": "log-1.txt", "null": null,
        "obj": {"k": [10, 20]}, "arr": [1, 2]
    })
}

#[test]
fn type_tests() {
    let input = sample();
    // (test, variable, outcome)
    let cases = [
        ("IsNull", "$.null", true),
        ("IsNull", "$.s", false),
        ("IsNull", "$.obj", false),
        ("IsNumeric", "$.n", true),
        ("IsNumeric", "$.f", true),
        ("IsNumeric", "$.s", false),
        ("IsNumeric", "$.null", false),
        ("IsString", "$.s", true),
        ("IsString", "$.ts", true),
        ("IsString", "$.n", false),
        ("IsBoolean", "$.t", true),
        ("IsBoolean", "$.s", false),
        ("IsTimestamp", "$.ts", true),
        ("IsTimestamp", "$.s", false),
        ("IsTimestamp", "$.n", false),
        ("IsPresent", "$.null", true),
        ("IsPresent", "$.obj.k[1]", true),
        ("IsPresent", "$.obj.k[2]", false),
        ("IsPresent", "$.missing", false),
        ("IsPresent", "$.s.deeper", false),
    ];
    for (test, variable, outcome) in cases {
        for expected in [true, false] {
            let condition = json!({"Variable": variable, test: expected});
            assert_eq!(
                eval(condition, &input),
                Ok(outcome == expected),
                "{test} {variable} {expected}"
            );
        }
    }
}

#[test]
fn a_variable_or_operand_path_to_nothing_is_a_runtime_failure() {
    let input = sample();
    let cases = [
        json!({"Variable": "$.missing", "StringEquals": "b"}),
        json!({"Variable": "$.missing", "IsNull": false}),
        json!({"Variable": "$.missing", "IsTimestamp": true}),
        json!({"Variable": "$.s", "StringEqualsPath": "$.missing"}),
        json!({"Variable": "$.missing", "NumericEqualsPath": "$.n"}),
        json!({"Variable": "$.arr[5]", "NumericEquals": 1}),
        json!({"Variable": "$$.Execution.Missing", "StringEquals": "x"}),
        json!({"Not": {"Variable": "$.missing", "BooleanEquals": true}}),
        json!({"And": [{"Variable": "$.s", "IsString": true}, {"Variable": "$.missing", "IsNull": true}]}),
    ];
    for case in cases {
        let failure = eval(case.clone(), &input).expect_err("a failure");
        assert_eq!(failure.error, RUNTIME, "{case}");
        assert!(
            failure.cause.contains("$.missing")
                || failure.cause.contains("Missing")
                || failure.cause.contains("[5]"),
            "{case}: {failure}"
        );
    }
}

#[test]
fn the_context_object_can_be_read() {
    let input = sample();
    assert_eq!(
        eval(
            json!({"Variable": "$$.Execution.Id", "StringEquals": "exec-1"}),
            &input
        ),
        Ok(true)
    );
    let by_path = json!({"Variable": "$.n", "NumericGreaterThanPath": "$$.State.RetryCount"});
    assert_eq!(eval(by_path, &input), Ok(true));
    assert_eq!(
        eval(json!({"Variable": "$", "IsPresent": true}), &input),
        Ok(true)
    );
}

#[test]
fn variables_can_be_compared_and_compared_with() {
    let input = sample();
    let cases = [
        (json!({"Variable": "$limit", "NumericGreaterThan": 5}), true),
        (json!({"Variable": "$.n", "NumericLessThanPath": "$limit"}), true),
        (json!({"Variable": "$user.name", "StringEquals": "ada"}), true),
        (
            json!({"Variable": "$user.admin", "BooleanEqualsPath": "$.t"}),
            true,
        ),
        (json!({"Variable": "$user.missing", "IsPresent": true}), false),
        (json!({"Variable": "$nobody", "IsPresent": true}), false),
        (json!({"Variable": "$user", "IsPresent": true}), true),
    ];
    for (case, expected) in cases {
        assert_eq!(eval(case.clone(), &input), Ok(expected), "{case}");
    }
    let failure = eval(json!({"Variable": "$nobody", "StringEquals": "x"}), &input).expect_err("unassigned");
    assert_eq!(failure.error, RUNTIME);
    assert!(failure.cause.contains("$nobody"), "{failure}");
}

#[test]
fn and_or_not_nest_and_stop_early() {
    let input = sample();
    let yes = json!({"Variable": "$.s", "StringEquals": "b"});
    let no = json!({"Variable": "$.s", "StringEquals": "a"});
    let fails = json!({"Variable": "$.missing", "StringEquals": "a"});
    let cases = [
        (json!({"And": [yes, yes]}), true),
        (json!({"And": [yes, no]}), false),
        (json!({"And": [no, fails]}), false),
        (json!({"Or": [no, yes]}), true),
        (json!({"Or": [no, no]}), false),
        (json!({"Or": [yes, fails]}), true),
        (json!({"Not": yes}), false),
        (json!({"Not": {"Not": yes}}), true),
        (json!({"Not": {"Or": [no, {"And": [yes, {"Not": no}]}]}}), false),
        (
            json!({"And": [{"Variable": "$.maybe", "IsPresent": true}, {"Variable": "$.maybe", "StringEquals": "foo"}]}),
            false,
        ),
    ];
    for (case, expected) in cases {
        assert_eq!(eval(case.clone(), &input), Ok(expected), "{case}");
    }
    let guarded = json!({"And": [{"Variable": "$.maybe", "IsPresent": true}, {"Variable": "$.maybe", "StringEquals": "foo"}]});
    assert_eq!(eval(guarded, &json!({"maybe": "foo"})), Ok(true));
    assert!(eval(json!({"Or": [no, fails]}), &input).is_err());
}
