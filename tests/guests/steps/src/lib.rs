//! A workflow task that does what its input says, or else what its
//! function's config says. See README.md beside the crate for the
//! contract.
//!
//! Directives (all optional) come from the task's input: `throw: {error,
//! cause}` fails with that error name and cause; `fail_times: N` fails the
//! first N runs (counted under `key: K` if given, else under the task's
//! idempotency key) with `Flaky.Error`; `return: V` answers V; `task: true`
//! answers the current task (`workflows.current-task`, null outside a
//! workflow); `start_execution: {workflow, input, name?}` starts an execution
//! (`workflows.start-execution`) and answers `{"started": id}`. Otherwise the input comes back unchanged. Every run is
//! counted in key-value `steps` under `runs/<key>`, or under
//! `runs/<idempotency key>` when the input has no key and a workflow runs
//! the function, which also logs `<state> attempt <retry count>`.
//!
//! Behaviours: when the input has none of the directives (`throw`,
//! `fail_times`, `return`, `task: true`) and the function's config has
//! `behaviour`, a JSON text, the function does what that says instead, so
//! that one build can play every function of a workflow scenario
//! (`tests/scenarios/workflows/`), each deployed under its own name with
//! its own config:
//!
//! - `{"kind": "echo"}` answers the input;
//! - `{"kind": "return", "value": V}` answers V;
//! - `{"kind": "throw", "error": E, "cause": C}` fails with that name and
//!   cause (`cause` may be left out: empty);
//! - `{"kind": "lookup", "table": [{"input": I, "output": O}, ...]}`
//!   answers the `output` of the first entry whose `input` equals the
//!   input (numbers by value), and fails with `Stub.UnexpectedInput`
//!   when none does;
//! - `{"kind": "sequence", "steps": [B1, B2, ...]}` behaves as B1 the
//!   first time this function runs in an execution, as B2 the second
//!   time, and as the last step once the steps run out. A retry is a run
//!   like any other. Runs are counted in key-value `steps` under
//!   `seq/<function>/<execution id>`, `<function>` being the config's
//!   `function` (the scenario runner sets it to the function's name) so
//!   that two functions of one execution count apart.
//!
//! A behaviour that cannot be read fails with `Stub.BadBehaviour`.

use minicloud_sdk::__serde_json::{Value, json};
use minicloud_sdk::{Error, config, kv, workflows};

/// The input keys that direct a run, whatever the config says.
fn has_directive(input: &Value) -> bool {
    ["throw", "fail_times", "return", "start_execution"]
        .iter()
        .any(|k| input.get(k).is_some())
        || input["task"] == json!(true)
}

fn handle(input: Value) -> Result<Value, Error> {
    let task = workflows::current_task();
    if let Some(t) = &task {
        minicloud_sdk::log::info(&format!("{} attempt {}", t.state, t.retry_count));
    }
    // Retries of one state entry share its idempotency key, so a count
    // under it sees every attempt of the entry.
    let key = match input["key"].as_str() {
        Some(key) => Some(key.to_owned()),
        None => task.as_ref().map(|t| t.idempotency_key.clone()),
    };
    let runs = match key {
        Some(key) => kv::Store::open("steps")?.increment(&format!("runs/{key}"), 1)?,
        None => 0,
    };
    if !has_directive(&input)
        && let Some(text) = config::get("behaviour")
    {
        let behaviour = parse_behaviour(&text)?;
        let behaviour = match behaviour["kind"].as_str() {
            Some("sequence") => {
                let execution = task.as_ref().map_or("-", |t| t.execution_id.as_str());
                sequence_step(&behaviour, execution)?
            }
            _ => behaviour,
        };
        return behave(&behaviour, input);
    }
    if let Some(st) = input.get("start_execution") {
        let id = workflows::start_execution(
            st["workflow"].as_str().unwrap_or_default(),
            &st["input"],
            st["name"].as_str(),
        )?;
        return Ok(json!({ "started": id }));
    }
    if let Some(t) = input.get("throw") {
        return Err(Error::named(
            t["error"].as_str().unwrap_or("Steps.Error"),
            t["cause"].as_str().unwrap_or_default(),
        ));
    }
    if let Some(n) = input["fail_times"].as_i64()
        && runs <= n
    {
        return Err(Error::named(
            "Flaky.Error",
            &format!("planned failure {runs} of {n}"),
        ));
    }
    if let Some(v) = input.get("return") {
        return Ok(v.clone());
    }
    if input["task"] == json!(true) {
        return Ok(task.map_or(Value::Null, |t| {
            json!({
                "execution_id": t.execution_id,
                "workflow": t.workflow,
                "state": t.state,
                "retry_count": t.retry_count,
                "token": t.token,
                "idempotency_key": t.idempotency_key,
            })
        }));
    }
    Ok(input)
}

fn parse_behaviour(text: &str) -> Result<Value, Error> {
    minicloud_sdk::__serde_json::from_str(text)
        .map_err(|e| bad(&format!("config `behaviour` is not JSON: {e}")))
}

fn bad(cause: &str) -> Error {
    Error::named("Stub.BadBehaviour", cause)
}

/// The step of a `sequence` for this run: the n-th run of the function in
/// `execution` takes step n, and the last step once they run out.
fn sequence_step(behaviour: &Value, execution: &str) -> Result<Value, Error> {
    let steps = behaviour["steps"]
        .as_array()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("a sequence needs a non-empty array `steps`"))?;
    let function = config::get("function").unwrap_or_else(|| "steps".to_owned());
    let n = kv::Store::open("steps")?.increment(&format!("seq/{function}/{execution}"), 1)?;
    let index = usize::try_from(n - 1).unwrap_or(0).min(steps.len() - 1);
    Ok(steps[index].clone())
}

/// Runs one behaviour that is not a sequence.
fn behave(behaviour: &Value, input: Value) -> Result<Value, Error> {
    match behaviour["kind"].as_str() {
        Some("echo") => Ok(input),
        Some("return") => Ok(behaviour.get("value").cloned().unwrap_or(Value::Null)),
        Some("throw") => {
            let error = behaviour["error"]
                .as_str()
                .ok_or_else(|| bad("a throw needs a string `error`"))?;
            Err(Error::named(
                error,
                behaviour["cause"].as_str().unwrap_or_default(),
            ))
        }
        Some("lookup") => {
            let table = behaviour["table"]
                .as_array()
                .ok_or_else(|| bad("a lookup needs an array `table`"))?;
            table
                .iter()
                .find(|entry| same(&entry["input"], &input))
                .map(|entry| entry["output"].clone())
                .ok_or_else(|| Error::named("Stub.UnexpectedInput", &format!("no entry for {input}")))
        }
        Some("sequence") => Err(bad("a sequence cannot be a step of a sequence")),
        other => Err(bad(&format!("unknown behaviour kind {other:?}"))),
    }
}

/// Deep equality where numbers compare by value (`1` equals `1.0`): a
/// workflow may hand on a number in either form.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

minicloud_sdk::json_handler!(handle);
