//! A workflow task that does what its input says. See README.md beside
//! the crate for the contract.
//!
//! Directives (all optional) come from the task's input: `throw: {error,
//! cause}` fails with that error name and cause; `fail_times: N` fails the
//! first N runs (counted under `key: K` if given, else under the task's
//! idempotency key) with `Flaky.Error`; `return: V` answers V; `task: true`
//! answers the current task (`workflows.current-task`, null outside a
//! workflow). Otherwise the input comes back unchanged. Every run is
//! counted in key-value `steps` under `runs/<key>`, or under
//! `runs/<idempotency key>` when the input has no key and a workflow runs
//! the function, which also logs `<state> attempt <retry count>`.

use minicloud_sdk::__serde_json::{Value, json};
use minicloud_sdk::{Error, kv, workflows};

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

minicloud_sdk::json_handler!(handle);
