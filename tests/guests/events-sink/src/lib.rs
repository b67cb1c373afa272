//! An event handler that counts its runs by idempotency key and fails on
//! request. See README.md beside the crate for the contract.
//!
//! Directives come from the input's `detail` (or the input itself when a
//! transformation removed the envelope): `fail_times: N` fails the first N
//! attempts of each delivery, `always_fail: true` fails every one,
//! `publish: {source, detail-type, detail}` publishes a follow-up event,
//! `republish: {source, detail-type}` publishes one with these same
//! directives as its detail (a rule matching it makes a loop).

use minicloud_sdk::__serde_json::{Value, json};
use minicloud_sdk::events::{self, Event};
use minicloud_sdk::kv;

fn handle(input: Value) -> Result<Value, String> {
    let key = events::current_delivery()
        .map(|d| d.idempotency_key)
        .unwrap_or_else(|| "direct".to_owned());
    let store = kv::Store::open("events").map_err(|e| e.to_string())?;
    let runs = store
        .increment(&format!("runs/{key}"), 1)
        .map_err(|e| e.to_string())?;
    store
        .set("last-input", input.to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    let directives = input.get("detail").unwrap_or(&input);
    if directives["always_fail"] == json!(true) {
        return Err(format!("always fails (attempt {runs})"));
    }
    if let Some(n) = directives["fail_times"].as_i64()
        && runs <= n
    {
        return Err(format!("planned failure {runs} of {n}"));
    }
    if let Some(p) = directives.get("publish") {
        let id = Event::new(
            p["source"].as_str().unwrap_or_default(),
            p["detail-type"].as_str().unwrap_or_default(),
        )
        .detail(&p["detail"])
        .publish()
        .map_err(|e| format!("publish failed: {e}"))?;
        store.set("published", id.as_bytes()).map_err(|e| e.to_string())?;
    }
    if let Some(r) = directives.get("republish") {
        republish(&store, r, directives)?;
    }
    // Counted only once the delivery succeeded.
    store
        .increment(&format!("done/{key}"), 1)
        .map_err(|e| e.to_string())?;
    Ok(json!({ "runs": runs }))
}

/// Publishes a follow-up carrying `directives` again. A refusal (the
/// platform stopping the loop) is kept in `publish-error`, not failed on:
/// a failed run would be retried and publish again.
fn republish(store: &kv::Store, r: &Value, directives: &Value) -> Result<(), String> {
    let sent = Event::new(
        r["source"].as_str().unwrap_or_default(),
        r["detail-type"].as_str().unwrap_or_default(),
    )
    .detail(directives)
    .publish();
    match sent {
        Ok(id) => store.set("published", id.as_bytes()),
        Err(e) => store.set("publish-error", e.to_string().as_bytes()),
    }
    .map_err(|e| e.to_string())
}

minicloud_sdk::json_handler!(handle);
