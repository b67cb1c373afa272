//! Runs published Step Functions definitions against the results another
//! interpreter gave: reads a conformance file (`cases.json`: a list of
//! `{name, definition, input, task_behaviour, expected}`, as in
//! `../shared/asl-real/`), names each task's function by the last part of
//! its ARN, validates the definition, runs it in virtual time with each
//! task answered as its behaviour says, and compares the status and the
//! output or error.
//!
//! `cargo run -p minicloud-asl --example asl_real -- ../shared/asl-real/cases.json`

use minicloud_asl::Failure;
use minicloud_asl::context::ExecutionInfo;
use minicloud_asl::definition::Definition;
use minicloud_asl::machine::simulate::simulate;
use minicloud_asl::machine::{Execution, Invocation, Status};
use serde_json::Value;
use std::collections::HashMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: asl_real <cases.json>")?;
    let cases: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let mut wrong = 0;
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?");
        match run(case) {
            Ok(()) => println!("ok       {name}"),
            Err(why) => {
                wrong += 1;
                println!("WRONG    {name}\n         {why}");
            }
        }
    }
    println!("{} of {} cases as expected", cases.len() - wrong, cases.len());
    if wrong > 0 {
        return Err(format!("{wrong} cases differ").into());
    }
    Ok(())
}

fn run(case: &Value) -> Result<(), String> {
    let mut definition = case["definition"].clone();
    rename_resources(&mut definition);
    let definition = Definition::parse(&definition).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        format!("refused: {}", list.join("; "))
    })?;
    let behaviours: HashMap<String, Value> = case["task_behaviour"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(arn, b)| (function_name(arn).to_owned(), b["behaviour"].clone()))
                .collect()
        })
        .unwrap_or_default();
    let info = ExecutionInfo {
        id: "mrn:workflows:acme:conformance:execution/case/1".into(),
        name: "1".into(),
        input: case["input"].clone(),
        start_time: "2026-12-03T12:00:00.000Z".into(),
        role: None,
        workflow_id: "mrn:workflows:acme:conformance:workflow/case".into(),
        workflow_name: "case".into(),
    };
    let start = chrono::DateTime::parse_from_rfc3339("2026-12-03T12:00:00Z")
        .map_err(|e| e.to_string())?
        .to_utc();
    let mut calls: HashMap<String, usize> = HashMap::new();
    let mut answer = |invocation: &Invocation| {
        let n = calls.entry(invocation.resource.clone()).or_default();
        *n += 1;
        let behaviour = behaviours
            .get(&invocation.resource)
            .cloned()
            .unwrap_or(Value::Null);
        Some(respond(&behaviour, *n, &invocation.input))
    };
    let simulation = simulate(&definition, info, start, &mut answer);
    compare(&simulation.execution, &case["expected"])
}

/// A task's answer: `n` is its invocation's number in this execution.
fn respond(behaviour: &Value, n: usize, input: &Value) -> Result<Value, Failure> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    match behaviour["kind"].as_str() {
        Some("echo") => Ok(input.clone()),
        Some("return") => Ok(behaviour["value"].clone()),
        Some("throw") => Err(Failure::new(text(&behaviour["error"]), text(&behaviour["cause"]))),
        Some("lookup") => behaviour["table"]
            .as_array()
            .and_then(|table| table.iter().find(|row| &row["input"] == input))
            .map(|row| row["output"].clone())
            .ok_or_else(|| Failure::new("Stub.UnexpectedInput", input.to_string())),
        Some("sequence") => {
            let steps = behaviour["steps"].as_array().cloned().unwrap_or_default();
            let step = steps.get(n - 1).or(steps.last()).cloned().unwrap_or(Value::Null);
            respond(&step, n, input)
        }
        _ => Err(Failure::new("Stub.UnknownBehaviour", behaviour.to_string())),
    }
}

fn compare(execution: &Execution, expected: &Value) -> Result<(), String> {
    let status = execution.status().as_str();
    let failure = execution.failure();
    let got = format!(
        "{status} output {} error {:?}",
        execution.output().unwrap_or(&Value::Null),
        failure.map(ToString::to_string)
    );
    if expected["status"].as_str() != Some(status) {
        return Err(format!("expected {expected}, got {got}"));
    }
    if execution.status() == Status::Succeeded
        && !same(&expected["output"], execution.output().unwrap_or(&Value::Null))
    {
        return Err(format!("expected output {}, got {got}", expected["output"]));
    }
    for (field, actual) in [
        ("error", failure.map(|f| f.error.as_str())),
        ("cause", failure.map(|f| f.cause.as_str())),
    ] {
        if let Some(want) = expected.get(field).and_then(Value::as_str)
            && actual != Some(want)
        {
            return Err(format!("expected {field} {want:?}, got {got}"));
        }
    }
    Ok(())
}

/// Deep equality with numbers compared by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn function_name(arn: &str) -> &str {
    arn.rsplit_once(":function:").map_or(arn, |(_, name)| name)
}

/// Every `Resource` that is a Lambda ARN becomes the function's name.
fn rename_resources(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "Resource"
                    && let Some(arn) = v.as_str()
                {
                    *v = Value::String(function_name(arn).to_owned());
                } else {
                    rename_resources(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rename_resources),
        _ => {}
    }
}
