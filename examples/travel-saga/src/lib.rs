//! `travel-saga`: the bookings of a trip, and their cancellations, as the
//! tasks of a saga (`workflow.json` beside this crate).
//!
//! `{"action": "book", "kind": "flight", "trip": "t1", "details": {...}}`
//! books one thing and answers its reference; `{"action": "cancel", ...}`
//! cancels it. Bookings are kept in the key-value bucket `bookings` under
//! `<trip>/<kind>`. The supplier's stock is the function's `sold_out`
//! setting, a comma-separated list of `<kind>/<class>` (`car/convertible`):
//! booking one of those fails with `Booking.Unavailable`.
//!
//! A workflow may run a task twice (a retry, or a step repeated after a
//! crash). Booking reuses the reference recorded under the task's
//! idempotency key, so a repeat books nothing new; cancelling what is
//! already cancelled, or was never booked, changes nothing.

use minicloud_sdk::{Error, config, kv, log, workflows};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Step {
    action: String,
    kind: String,
    trip: String,
    #[serde(default)]
    details: Value,
}

fn step(step: Step) -> Result<Value, Error> {
    let store = kv::Store::open("bookings")?;
    let key = format!("{}/{}", step.trip, step.kind);
    match step.action.as_str() {
        "book" => book(&store, &key, &step),
        "cancel" => cancel(&store, &key),
        other => Err(Error::named("Booking.BadAction", &format!("no action {other:?}"))),
    }
}

fn book(store: &kv::Store, key: &str, step: &Step) -> Result<Value, Error> {
    let class = step.details["class"].as_str().unwrap_or("standard");
    let sold_out = config::get("sold_out").unwrap_or_default();
    let wanted = format!("{}/{class}", step.kind);
    if sold_out.split(',').any(|s| s.trim() == wanted) {
        log::warn(&format!("{key}: no {class} {} left", step.kind));
        return Err(Error::named(
            "Booking.Unavailable",
            &format!("no {class} {} left for trip {}", step.kind, step.trip),
        ));
    }
    // One reference per state entry, however often it runs.
    let attempt = workflows::current_task().map_or_else(|| key.to_owned(), |t| t.idempotency_key);
    let seen = format!("by-task/{attempt}");
    let reference = match store.get(&seen)? {
        Some(r) => String::from_utf8_lossy(&r).into_owned(),
        None => {
            let n = store.increment("references", 1)?;
            let reference = format!("{}-{n:05}", step.kind.to_uppercase());
            store.set(&seen, reference.as_bytes())?;
            reference
        }
    };
    store.set_json(
        key,
        &json!({"status": "booked", "reference": reference, "details": step.details}),
    )?;
    log::info(&format!("{key}: booked {reference}"));
    Ok(json!({ "reference": reference }))
}

fn cancel(store: &kv::Store, key: &str) -> Result<Value, Error> {
    let Some(mut booking) = store.get_json::<Value>(key)? else {
        log::info(&format!("{key}: nothing to cancel"));
        return Ok(json!({ "cancelled": null }));
    };
    booking["status"] = json!("cancelled");
    store.set_json(key, &booking)?;
    log::info(&format!("{key}: cancelled {}", booking["reference"]));
    Ok(json!({ "cancelled": booking["reference"] }))
}

minicloud_sdk::json_handler!(step);
