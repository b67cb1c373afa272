//! The reading of `Choices`: every problem of a rule reported at the
//! JSON path of the field that has it, and the rules that read well.

use super::*;
use serde_json::json;

const AT: &str = "$.States.Check.Choices";

/// The paths of the problems `choices` has, sorted, and the number of
/// choices parsed.
fn problems_of(choices: Value) -> (Vec<String>, usize, Vec<Problem>) {
    let mut problems = Vec::new();
    let parsed = parse_choices(&choices, AT, &mut problems);
    let mut paths: Vec<String> = problems.iter().map(|p| p.path.clone()).collect();
    paths.sort();
    (paths, parsed.len(), problems)
}

#[test]
fn choices_parse_in_order_with_their_next() {
    let mut problems = Vec::new();
    let choices = parse_choices(
        &json!([
            {"Variable": "$.n", "NumericEquals": 1, "Next": "One", "Comment": "the first"},
            {"Not": {"Variable": "$.s", "IsNull": true, "Comment": "nested"}, "Next": "Other"},
            {"And": [{"Variable": "$.a", "StringEqualsPath": "$$.Execution.Id"}], "Next": "Third"},
        ]),
        AT,
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:?}");
    let path = |text: &str| Path::parse(text).expect("a path");
    assert_eq!(
        choices,
        vec![
            Choice {
                condition: Condition::Compare {
                    variable: path("$.n"),
                    kind: Kind::Numeric,
                    relation: Relation::Equals,
                    operand: Operand::Value(json!(1)),
                },
                next: "One".to_owned(),
                output: None,
                assign: None,
            },
            Choice {
                condition: Condition::Not(Box::new(Condition::Test {
                    variable: path("$.s"),
                    test: TypeTest::IsNull,
                    expected: true,
                })),
                next: "Other".to_owned(),
                output: None,
                assign: None,
            },
            Choice {
                condition: Condition::And(vec![Condition::Compare {
                    variable: path("$.a"),
                    kind: Kind::String,
                    relation: Relation::Equals,
                    operand: Operand::Path(path("$$.Execution.Id")),
                }]),
                next: "Third".to_owned(),
                output: None,
                assign: None,
            },
        ]
    );
}

#[test]
fn every_problem_is_reported_at_its_path() {
    let ok = json!({"Variable": "$.a", "IsNull": true});
    let c0 = |rest: &str| format!("{AT}[0]{rest}");
    let cases: Vec<(Value, Vec<String>)> = vec![
        (json!({}), vec![AT.to_owned()]),
        (json!([]), vec![AT.to_owned()]),
        (json!("rules"), vec![AT.to_owned()]),
        (json!([1]), vec![c0("")]),
        (json!([{"Variable": "$.a", "IsNull": true}]), vec![c0("")]),
        (
            json!([{"Variable": "$.a", "IsNull": true, "Next": 1}]),
            vec![c0(".Next")],
        ),
        (
            json!([{"And": [{"Variable": "$.a", "IsNull": true, "Next": "X"}], "Next": "A"}]),
            vec![c0(".And[0].Next")],
        ),
        (
            json!([{"Not": {"Variable": "$.a", "IsNull": true, "Next": "X"}, "Next": "A"}]),
            vec![c0(".Not.Next")],
        ),
        (json!([{"Variable": "$.a", "Next": "A"}]), vec![c0("")]),
        (json!([{"Next": "A"}]), vec![c0("")]),
        (
            json!([{"Variable": "$.a", "IsNull": true, "IsString": true, "Next": "A"}]),
            vec![c0("")],
        ),
        (
            json!([{"Variable": "$.a", "IsNull": true, "Next": "A", "Foo": 1}]),
            vec![c0(".Foo")],
        ),
        (
            json!([{"Variable": "$.a", "IsNull": true, "Next": "A", "Foo Bar": 1}]),
            vec![c0("['Foo Bar']")],
        ),
        (
            json!([{"Variable": "$.a", "StringMatchesPath": "$.b", "Next": "A"}]),
            vec![c0(".StringMatchesPath")],
        ),
        (
            json!([{"Variable": "$.a", "BooleanLessThan": true, "Next": "A"}]),
            vec![c0(".BooleanLessThan")],
        ),
        (
            json!([{"Variable": "$.a", "NumericMatches": 1, "Next": "A"}]),
            vec![c0(".NumericMatches")],
        ),
        (json!([{"NumericEquals": 1, "Next": "A"}]), vec![c0("")]),
        (
            json!([{"Variable": 1, "NumericEquals": 1, "Next": "A"}]),
            vec![c0(".Variable")],
        ),
        (
            json!([{"Variable": "a.b", "NumericEquals": 1, "Next": "A"}]),
            vec![c0(".Variable")],
        ),
        (
            json!([{"Variable": "$.a[*]", "NumericEquals": 1, "Next": "A"}]),
            vec![c0(".Variable")],
        ),
        (
            json!([{"Variable": "$..a", "NumericEquals": 1, "Next": "A"}]),
            vec![c0(".Variable")],
        ),
        (
            json!([{"Variable": "$.a", "And": [ok], "Next": "A"}]),
            vec![c0(".Variable")],
        ),
        (
            json!([{"Variable": "$.a", "NumericEquals": "1", "Next": "A"}]),
            vec![c0(".NumericEquals")],
        ),
        (
            json!([{"Variable": "$.a", "NumericLessThan": null, "Next": "A"}]),
            vec![c0(".NumericLessThan")],
        ),
        (
            json!([{"Variable": "$.a", "StringEquals": 1, "Next": "A"}]),
            vec![c0(".StringEquals")],
        ),
        (
            json!([{"Variable": "$.a", "StringMatches": ["*"], "Next": "A"}]),
            vec![c0(".StringMatches")],
        ),
        (
            json!([{"Variable": "$.a", "BooleanEquals": "true", "Next": "A"}]),
            vec![c0(".BooleanEquals")],
        ),
        (
            json!([{"Variable": "$.a", "TimestampEquals": "2020-01-01", "Next": "A"}]),
            vec![c0(".TimestampEquals")],
        ),
        (
            json!([{"Variable": "$.a", "TimestampEquals": "2020-01-01t00:00:00z", "Next": "A"}]),
            vec![c0(".TimestampEquals")],
        ),
        (
            json!([{"Variable": "$.a", "TimestampLessThan": 1577836800, "Next": "A"}]),
            vec![c0(".TimestampLessThan")],
        ),
        (
            json!([{"Variable": "$.a", "IsNull": "yes", "Next": "A"}]),
            vec![c0(".IsNull")],
        ),
        (
            json!([{"Variable": "$.a", "IsPresent": 1, "Next": "A"}]),
            vec![c0(".IsPresent")],
        ),
        (
            json!([{"Variable": "$.a", "NumericEqualsPath": "nope", "Next": "A"}]),
            vec![c0(".NumericEqualsPath")],
        ),
        (
            json!([{"Variable": "$.a", "NumericEqualsPath": 3, "Next": "A"}]),
            vec![c0(".NumericEqualsPath")],
        ),
        (
            json!([{"Variable": "$.a", "StringEqualsPath": "$.b[?(@.c)]", "Next": "A"}]),
            vec![c0(".StringEqualsPath")],
        ),
        (json!([{"And": [], "Next": "A"}]), vec![c0(".And")]),
        (
            json!([{"Or": {"Variable": "$.a", "IsNull": true}, "Next": "A"}]),
            vec![c0(".Or")],
        ),
        (json!([{"Or": [ok, 2], "Next": "A"}]), vec![c0(".Or[1]")]),
        (json!([{"Not": [ok], "Next": "A"}]), vec![c0(".Not")]),
        (json!([{"Not": {}, "Next": "A"}]), vec![c0(".Not")]),
        (
            json!([{"Variable": "$.a", "IsNull": true, "Comment": 5, "Next": "A"}]),
            vec![c0(".Comment")],
        ),
        (
            json!([{"And": [ok, {"Not": {"Variable": "$.a", "NumericEquals": "x"}}], "Next": "A"}]),
            vec![c0(".And[1].Not.NumericEquals")],
        ),
        (
            json!([{"Or": [{"Variable": "$.a"}, {"And": [ok, {"Variable": "$.b", "StringEquals": 1, "Next": "B"}]}], "Next": "A"}]),
            vec![
                c0(".Or[0]"),
                c0(".Or[1].And[1].Next"),
                c0(".Or[1].And[1].StringEquals"),
            ],
        ),
        (
            json!([{"Variable": "$[", "NumericEquals": "1", "Bogus": true}]),
            vec![c0(""), c0(".Bogus"), c0(".NumericEquals"), c0(".Variable")],
        ),
        (
            json!([{"Variable": "$.a", "Bogus": true, "Next": "A"}]),
            vec![c0(".Bogus")],
        ),
    ];
    for (choices, expected) in cases {
        let (paths, parsed, problems) = problems_of(choices.clone());
        let mut expected = expected;
        expected.sort();
        assert_eq!(paths, expected, "{choices}: {problems:?}");
        assert_eq!(parsed, 0, "{choices}");
        assert!(problems.iter().all(|p| p.message.len() > 15), "{problems:?}");
    }
}

#[test]
fn the_good_choices_are_kept_and_every_bad_one_reported() {
    let (paths, parsed, _) = problems_of(json!([
        {"Variable": "$.a", "NumericEquals": "1", "Next": "A"},
        {"Variable": "$.a", "NumericEquals": 1, "Next": "B"},
        {"Variable": "$.a", "IsNull": true},
        {"Variable": "$.a", "StringEquals": "x", "Next": "D"},
    ]));
    assert_eq!(paths, vec![format!("{AT}[0].NumericEquals"), format!("{AT}[2]")]);
    assert_eq!(parsed, 2);
}

#[test]
fn messages_say_what_to_do() {
    let message = |choices: Value| {
        problems_of(choices)
            .2
            .into_iter()
            .map(|p| p.message)
            .collect::<Vec<_>>()
    };
    let one = |choices: Value| message(choices).join(" | ");
    assert!(
        one(json!([{"Variable": "$.a", "stringEquals": "x", "Next": "A"}]))
            .contains("did you mean StringEquals?")
    );
    assert!(
        one(json!([{"Variable": "$.a", "numericequalspath": "$.b", "Next": "A"}]))
            .contains("did you mean NumericEqualsPath?")
    );
    assert!(one(json!([{"Variable": "$.a", "IsNull": true, "next": "A"}])).contains("did you mean Next?"));
    assert!(one(json!([{"Variable": "$.a", "NumericEquals": "1", "Next": "A"}])).contains("takes a number"));
    assert!(one(json!([{"Variable": "$.a", "TimestampEquals": "x", "Next": "A"}])).contains("RFC 3339"));
    assert!(
        one(json!([{"Variable": "$.a", "IsNull": true, "IsString": true, "Next": "A"}]))
            .contains("IsNull, IsString")
    );
    assert!(one(json!([{"NumericEquals": 1, "Next": "A"}])).contains("NumericEquals needs a Variable"));
    assert!(one(json!([{"Variable": "$.a[*]", "IsNull": true, "Next": "A"}])).contains("reference path"));
    assert!(
        one(json!([{"And": [{"Variable": "$.a", "IsNull": true, "Next": "A"}], "Next": "A"}]))
            .contains("top-level")
    );
}
