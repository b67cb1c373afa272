//! The examples of AWS's "Transforming data with JSONata in Step
//! Functions" and "Passing data between states with variables", the
//! functions Step Functions adds, templates, and the guard rails.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::*;
use crate::errors::{Failure, Problem, QUERY_EVALUATION_ERROR};

/// A state's data: the input of the AWS examples, a result, a context
/// object and some variables.
struct Fixture {
    input: Value,
    result: Value,
    context: Value,
    variables: Map<String, Value>,
}

impl Fixture {
    fn new() -> Self {
        let product =
            |calories, flavour, name| json!({"calories": calories, "flavour": flavour, "name": name});
        let input = json!({
            "title": "Doctor",
            "customer": {"firstName": "Martha", "lastName": "Rivera"},
            "order": {"items": 7, "total": 27.91},
            "products": [
                product(140, "Cola", "Product-1"), product(0, "Cola", "Product-2"),
                product(160, "Orange", "Product-3"), product(100, "Orange", "Product-4"),
                product(0, "Lime", "Product-5"),
            ],
            "chunkSize": 2, "content": "input data", "seed": 42,
            "json_string": r#"{"a": [1, 2], "b": {"c": "d"}}"#,
            "empty": [], "nothing": null,
        });
        let variables = json!({"customerName": "María", "timeout": 30, "hashAlgorithmName": "SHA-256", "myList": [1, 2, 3], "two": 2, "states": "hidden"});
        Self {
            input,
            result: json!({"total": 82}),
            context: json!({"Execution": {"Id": "arn:aws:states:::execution:m:run-1", "Name": "run-1"}, "State": {"Name": "S"}}),
            variables: variables.as_object().cloned().unwrap_or_default(),
        }
    }

    /// An environment with a fixed clock and seed.
    fn env(&self) -> Env<'_> {
        Env {
            states: States {
                input: &self.input,
                result: Some(&self.result),
                error_output: None,
                context: &self.context,
            },
            variables: &self.variables,
            now: now(),
            entropy: Entropy::Seeded(7),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_732_233_600_123).unwrap_or_default()
}

/// Evaluates `{% text %}` for the field `Output`.
fn eval_in(env: &Env<'_>, text: &str) -> Result<Value, crate::Failure> {
    let expression = Expression::parse(&format!("{{% {text} %}}")).unwrap_or_else(|e| panic!("{text}: {e}"));
    expression.evaluate(env, "Output")
}

/// The cause of a `States.QueryEvaluationError`.
fn cause(env: &Env<'_>, text: &str) -> String {
    let failure = eval_in(env, text).expect_err(text);
    assert_eq!(failure.error, QUERY_EVALUATION_ERROR, "{text}: {failure}");
    failure.cause
}

/// Expressions and what they give: JSON, or `!` and part of the cause.
const ROWS: &[(&str, &str)] = &[
    // Transforming data with JSONata: input, output, filtering.
    ("$states.input.title", r#""Doctor""#),
    ("$customerName", r#""María""#),
    ("'Last=>' & $states.input.customer.lastName", r#""Last=>Rivera""#),
    ("$states.input.order.total", "27.91"),
    (
        "$states.input.products[calories=0].name",
        r#"["Product-2","Product-5"]"#,
    ),
    (
        "$states.input.products[calories=0][1]",
        r#"{"calories":0,"flavour":"Lime","name":"Product-5"}"#,
    ),
    (
        "$states.input.products[calories > 100].flavour",
        r#"["Cola","Orange"]"#,
    ),
    ("$sum($states.input.products.calories)", "400"),
    ("$count($states.input.products)", "5"),
    ("$max($states.input.products.calories)", "160"),
    ("$states.input.order.items > 5 ? 'big' : 'small'", r#""big""#),
    (
        "$states.input.order.total < 10 ? 'cheap'",
        "!returned nothing (undefined)",
    ),
    (
        "{'who': $states.input.customer.firstName & ' ' & $states.input.customer.lastName, 'n': $states.input.order.items}",
        r#"{"who":"Martha Rivera","n":7}"#,
    ),
    (
        "$states.input.customer.{'full': firstName & ' ' & lastName}",
        r#"{"full":"Martha Rivera"}"#,
    ),
    ("$keys($states.input.customer)", r#"["firstName","lastName"]"#),
    ("$uppercase($states.input.customer.firstName)", r#""MARTHA""#),
    ("$map($myList, function($v) { $v * 2 })", "[2,4,6]"),
    ("$filter($myList, function($v) { $v > 1 })", "[2,3]"),
    ("$reduce($myList, function($a, $b) { $a + $b })", "6"),
    ("($x := 5; $x * $two)", "10"),
    ("$states.input.title + 1", "!T2001"),
    // $states and variables.
    ("$timeout * 2", "60"),
    ("$states.context.Execution.Name", r#""run-1""#),
    ("$states.result.total", "82"),
    ("$states.errorOutput", "!returned nothing (undefined)"),
    ("$states.input.missing", "!returned nothing (undefined)"),
    ("$states.input.nothing", "null"),
    ("$states.input.empty", "[]"),
    ("$exists($states.input.nothing)", "true"),
    ("$exists($states.input.missing)", "false"),
    ("$type($states)", r#""object""#),
    ("$", "!returned nothing (undefined)"),
    // The functions Step Functions provides.
    (
        "$partition([1, 2, 3, 4, 5, 6, 7, 8, 9], 3)",
        "[[1,2,3],[4,5,6],[7,8,9]]",
    ),
    ("$partition([1,2,3,4], $states.input.chunkSize)", "[[1,2],[3,4]]"),
    ("$partition($myList, 2.9)", "[[1,2],[3]]"),
    ("$partition([], 2)", "!returned nothing (undefined)"),
    ("$partition($myList, 0)", "!returned nothing (undefined)"),
    ("$range(0, 10, 2)", "[0,2,4,6,8,10]"),
    ("$range(10, 0, -5)", "[10,5,0]"),
    ("$range(1, 10, 2)", "[1,3,5,7,9]"),
    ("$range(-1.7, 2, 1)", "[-1,0,1,2]"),
    ("$range(4, 4, 1)", "4"),
    ("$range(1, 5, -1)", "!returned nothing (undefined)"),
    (
        "$range('0', 4, 1)",
        r#"!T0410: Argument 1 of function "range" does not match function signature"#,
    ),
    ("$range(0, 1000000, 1)", "!at most 1000000"),
    ("$count($range(1, 1000000, 1))", "1000000"),
    (
        "$hash($states.input.content, 'SHA-256')",
        r#""b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3""#,
    ),
    (
        "$hash($states.input.content, $hashAlgorithmName)",
        r#""b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3""#,
    ),
    (
        "$hash('input data', 'MD5')",
        r#""812f45842bc6d66ee14572ce20db8e86""#,
    ),
    (
        "$hash('input data', 'SHA-1')",
        r#""aaff4a450a104cd177d28d18d74485e8cae074b7""#,
    ),
    ("$hash('input data', 'sha-1')", "!unknown algorithm \"sha-1\""),
    (
        "$parse($states.input.json_string)",
        r#"{"a":[1,2],"b":{"c":"d"}}"#,
    ),
    (r#"$parse('{"x": 7}').x"#, "7"),
    ("$parse('not json')", "!$parse: the text is not JSON"),
    ("$random($states.input.seed) = $random(42)", "true"),
    ("$random(42) = $random(42.9)", "true"),
    ("$random(1) != $random(2)", "true"),
    ("($r := $random(); $r >= 0 and $r < 1)", "true"),
    ("$length($uuid())", "36"),
    ("$eval('1 + 1')", "!$eval is not available in Step Functions"),
    ("$sort($shuffle([3, 1, 2]))", "[1,2,3]"),
    ("$now()", r#""2024-11-22T00:00:00.123Z""#),
    ("$millis()", "1732233600123"),
    ("$map([1, 2], $millis)", "[1732233600123,1732233600123]"),
    // JSONata's picture and timezone, at the execution's clock.
    ("$now('[Y0001]-[M01]-[D01]')", r#""2024-11-22""#),
    ("$now('[H01]:[m01]', '+0530')", r#""05:30""#),
    ("$now('[Y0001]', '+0000', 3)", "!Argument 3 of function \"now\""),
];

#[test]
fn documented_expressions_give_what_aws_documents() {
    let fixture = Fixture::new();
    let env = fixture.env();
    let mut wrong = Vec::new();
    for (text, want) in ROWS {
        let got = eval_in(&env, text);
        let ok = match (want.strip_prefix('!'), &got) {
            (Some(part), Err(failure)) => {
                failure.error == QUERY_EVALUATION_ERROR && failure.cause.contains(part)
            }
            (None, Ok(value)) => serde_json::from_str::<Value>(want).is_ok_and(|want| &want == value),
            _ => false,
        };
        if !ok {
            wrong.push(format!("{text}: want {want}, got {got:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} rows wrong:\n{}",
        wrong.len(),
        ROWS.len(),
        wrong.join("\n")
    );
    assert!(ROWS.len() >= 40);
}

#[test]
fn parsed_expressions_are_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Expression>();
    send_sync::<Template>();
}

#[test]
fn failures_quote_the_expression_and_the_field() {
    let fixture = Fixture::new();
    assert_eq!(
        cause(&fixture.env(), "$states.input.missing"),
        "The JSONata expression '$states.input.missing' specified for the field 'Output' returned nothing (undefined)."
    );
    let error = cause(&fixture.env(), "$states.input.title + 1");
    assert!(error.starts_with("The JSONata expression '$states.input.title + 1' specified for the field 'Output' threw an error during evaluation. T2001"), "{error}");
    assert!(cause(&fixture.env(), "function($x) { $x }").contains("returned a function"));
}

#[test]
fn seeded_randomness_repeats_and_system_randomness_does_not() {
    let fixture = Fixture::new();
    let draw = "[$random(), $uuid(), $shuffle([1, 2, 3, 4, 5, 6, 7, 8]), $random()]";
    let mut env = fixture.env();
    let first = eval_in(&env, draw).expect(draw);
    assert_eq!(
        eval_in(&env, draw).expect(draw),
        first,
        "the same seed draws the same"
    );
    assert_ne!(first[0], first[3], "one session draws different numbers");
    let id = uuid::Uuid::parse_str(first[1].as_str().unwrap_or_default()).expect("a UUID");
    assert_eq!(id.get_version_num(), 4);
    env.entropy = Entropy::Seeded(8);
    assert_ne!(
        eval_in(&env, draw).expect(draw),
        first,
        "another seed draws otherwise"
    );
    env.entropy = Entropy::System;
    assert_ne!(eval_in(&env, "$uuid()").ok(), eval_in(&env, "$uuid()").ok());
}

#[test]
fn templates_evaluate_every_string_at_any_depth() {
    let fixture = Fixture::new();
    let arguments = json!({
        "static": "Hello", "title": "{% $states.input.title %}", "name": "{% $customerName %}",
        "not-evaluated": "$customerName", "items": [1, "{% $two %}", 3], "deep": {"a": [{"b": "{% $range(1, 3, 1) %}"}]},
        "percent": "100%}", "number": 5,
    });
    let mut problems = Vec::new();
    let template = Template::parse(&arguments, "$.States.S.Arguments", &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    let want = json!({
        "static": "Hello", "title": "Doctor", "name": "María", "not-evaluated": "$customerName",
        "items": [1, 2, 3], "deep": {"a": [{"b": [1, 2, 3]}]}, "percent": "100%}", "number": 5,
    });
    assert_eq!(template.apply(&fixture.env(), "Arguments"), Ok(want));
    let literal = Template::parse(&json!({"a": ["b", 1]}), "$", &mut problems);
    assert!(literal.is_literal() && problems.is_empty());
    let whole = Template::parse(&json!("{% $states.input.order %}"), "$", &mut problems);
    assert_eq!(
        whole.apply(&fixture.env(), "Output"),
        Ok(json!({"items": 7, "total": 27.91}))
    );
}

#[test]
fn an_undefined_field_fails_the_template_as_on_aws() {
    // AWS: "The JSONata expression '$states.input.pushLocation' specified
    // for the field 'Arguments/Input/pushLocation' returned nothing
    // (undefined)." The key is not dropped.
    let fixture = Fixture::new();
    let output = json!({"v": 1, "a": {"b": [0, "{% $states.input.absent %}"]}});
    let template = Template::parse(&output, "$.States.S.Output", &mut Vec::new());
    let failure = template.apply(&fixture.env(), "Output").expect_err("undefined");
    assert_eq!(failure.error, QUERY_EVALUATION_ERROR);
    assert_eq!(
        failure.cause,
        "The JSONata expression '$states.input.absent' specified for the field 'Output/a/b[1]' returned nothing (undefined)."
    );
}

#[test]
fn malformed_expressions_are_definition_problems() {
    for literal in ["plain", "100%}", "x {% 1 %}", "", "{%}x"] {
        assert!(!matches!(expression_text(literal), Ok(Some(_))), "{literal}");
    }
    assert_eq!(expression_text("{%  $x  %}"), Ok(Some("  $x  ")));
    let template = json!({"ok": "{% 1 %}", "open": "{% 1 + 1", "spaced": " {% 1 %}", "bad": ["{% 1 + %}"], "empty": "{%  %}"});
    let mut problems = Vec::new();
    Template::parse(&template, "$.States.S.Output", &mut problems);
    let at: Vec<&str> = problems.iter().map(|p: &Problem| p.path.as_str()).collect();
    assert_eq!(
        at,
        [
            "$.States.S.Output.open",
            "$.States.S.Output.spaced",
            "$.States.S.Output.bad[0]",
            "$.States.S.Output.empty"
        ],
        "{problems:?}"
    );
    assert!(
        problems[0].message.contains("must end with %}"),
        "{}",
        problems[0]
    );
    assert!(
        problems[1].message.contains("no space before or after"),
        "{}",
        problems[1]
    );
    assert!(problems[2].message.contains("is not valid"), "{}", problems[2]);
}

#[test]
fn deep_or_long_expressions_are_refused_when_parsed() {
    let deep = format!("{}1{}", "(".repeat(20_000), ")".repeat(20_000));
    let error = Expression::parse_text(&deep).expect_err("20,000 parentheses");
    assert!(error.0.contains("U1002"), "{error}");
    let fine = format!("{}1{}", "(".repeat(500), ")".repeat(500));
    let fixture = Fixture::new();
    assert_eq!(
        Expression::parse_text(&fine).map(|e| e.evaluate(&fixture.env(), "Output")),
        Ok(Ok(json!(1)))
    );
    let chain = vec!["1"; 30_000].join("+");
    assert!(
        Expression::parse_text(&chain)
            .expect_err("30,000 terms")
            .0
            .contains("U1002")
    );
    let long = format!("'{}'", "a".repeat(MAX_EXPRESSION_BYTES));
    assert!(
        Expression::parse_text(&long)
            .expect_err("too long")
            .0
            .contains("at most 65536")
    );
}

#[test]
fn runaway_evaluations_fail_without_crashing() {
    let fixture = Fixture::new();
    let mut env = fixture.env();
    env.timeout = Duration::from_millis(200);
    let started = Instant::now();
    assert!(cause(&env, "( $f := function($x){ $f($x) }; $f(1) )").contains("D1012"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(cause(&env, "( $f := function($x){ 1 + $f($x) }; $f(1) )").contains("D1011"));
    let recursion = "( $f := function($n) { $n = 0 ? 0 : 1 + $f($n - 1) }; $f(1000) )";
    assert_eq!(eval_in(&fixture.env(), recursion), Ok(json!(1000)));
    assert!(cause(&env, "$count([1..10000000])").contains("D2015"));
    assert!(cause(&env, "$count([1..100000000])").contains("D2014"));
    let nested = "$reduce([1..100000], function($a, $b) { {'a': $a} }, {})";
    assert!(cause(&fixture.env(), nested).contains("nested more than 128 levels"));
}

/// `template` applied after a trip as JSON, as a worker process applies
/// it.
fn carried(template: &Template, env: &Env<'_>) -> Result<Value, Failure> {
    let wire = serde_json::to_vec(&Request::new(template, env, "Output")).expect("a request serializes");
    let request: Request<'static> = serde_json::from_slice(&wire).expect("a request reads back");
    request.apply()
}

/// A request carried as JSON (to a worker process) and applied there gives
/// what the template gives here: the same result, the same seeded
/// randomness, the same failure naming the same field.
#[test]
fn a_request_applied_elsewhere_gives_the_same_result() {
    let fixture = Fixture::new();
    let error_output = json!({"Error": "Oops", "Cause": "why"});
    let base = fixture.env();
    let env = Env {
        states: States {
            error_output: Some(&error_output),
            ..base.states
        },
        ..base
    };
    let mut problems = Vec::new();
    let source = json!({
        "when": "{% $now() %}",
        "error": "{% $states.errorOutput.Error %}",
        "who": "{% $states.input.customer.firstName & ' ' & $customerName %}",
        "dice": ["{% $random() %}", "{% $uuid() %}", 3, "literal"],
        "total": "{%$states.result.total%}",
        "nested": {"plain": {"a": 1}, "at": "{% $states.context.State.Name %}"}
    });
    let template = Template::parse(&source, "$.Output", &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    let there = carried(&template, &env);
    assert_eq!(template.apply(&env, "Output"), there);
    let there = there.expect("the template applies");
    assert_eq!(there["who"], "Martha María");
    assert_eq!(there["total"], 82);
    assert_eq!(there["error"], "Oops");
    assert_eq!(
        there["when"],
        json!(now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    );

    let failing = Template::parse(&json!({"x": ["{% $nope.deeper %}"]}), "$.Output", &mut problems);
    let there = carried(&failing, &env);
    assert_eq!(failing.apply(&env, "Output"), there);
    let cause = there.expect_err("an undefined result fails").cause;
    assert!(cause.contains("Output/x[0]"), "{cause}");
}
