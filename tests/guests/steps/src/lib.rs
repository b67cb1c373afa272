//! A workflow task that does what its input says. See README.md beside
//! the crate for the contract.
//!
//! Directives (all optional) come from the task's input: `throw: {error,
//! cause}` fails with that error name and cause; `fail_times: N` with
//! `key: K` fails the first N runs for K with `Flaky.Error`; `return: V`
//! answers V. Otherwise the input comes back unchanged. Every run is
//! counted in key-value `steps` under `runs/<key>` when the input has a
//! key.

use minicloud_sdk::__serde_json::{Value, json};
use minicloud_sdk::kv;

fn named(error: &str, cause: &str) -> String {
    json!({ "errorType": error, "errorMessage": cause }).to_string()
}

fn handle(input: Value) -> Result<Value, String> {
    let runs = match input["key"].as_str() {
        Some(key) => {
            let store = kv::Store::open("steps").map_err(|e| e.to_string())?;
            store.increment(&format!("runs/{key}"), 1).map_err(|e| e.to_string())?
        }
        None => 0,
    };
    if let Some(t) = input.get("throw") {
        return Err(named(
            t["error"].as_str().unwrap_or("Steps.Error"),
            t["cause"].as_str().unwrap_or_default(),
        ));
    }
    if let Some(n) = input["fail_times"].as_i64()
        && runs <= n
    {
        return Err(named("Flaky.Error", &format!("planned failure {runs} of {n}")));
    }
    if let Some(v) = input.get("return") {
        return Ok(v.clone());
    }
    Ok(input)
}

minicloud_sdk::json_handler!(handle);
