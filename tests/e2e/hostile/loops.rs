//! Recursive event loops: a function whose rule matches the events it
//! publishes would run forever (and a rule's targets would multiply every
//! round). The platform counts the deliveries that led to each event and
//! refuses a publish past 16 hops: the chain stops after 17 runs, the guest
//! gets `limit-exceeded`, and one `minicloud.events` "Loop Detected" event
//! and the `minicloud_event_loops_detected_total` metric tell the owner.

use crate::rules::{count, create_rule, deploy_sink, kv};
use minicloud_tests::{Db, Server, eventually};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

crate::on_both_databases!(
    a_self_triggering_function_is_stopped,
    a_handler_of_loop_alerts_cannot_restart_the_loop
);

/// Runs of the chain: the platform's depth (16 hops) plus the first.
const CHAIN_RUNS: usize = 17;

/// The directives that make the sink publish its own trigger again.
fn again() -> Value {
    json!({"republish": {"source": "shop.loop", "detail-type": "Again"}})
}

/// The rule the sink's own follow-ups match: the loop.
async fn loop_rule(s: &Server) -> String {
    let rule = create_rule(
        s,
        json!({"name": "again", "sources": {"api": true},
               "pattern": {"source": ["shop.loop"], "detail-type": ["Again"]},
               "targets": [{"id": "loop", "function": "sink"}]}),
    )
    .await;
    rule["id"].as_str().unwrap().to_owned()
}

/// A rule that sends the platform's loop announcements to the sink, with
/// `input` in place of the event if given.
async fn alerts_rule(s: &Server, input: Option<Value>) -> String {
    let mut target = json!({"id": "alerts", "function": "sink"});
    if let Some(input) = input {
        target["input"] = input;
    }
    let rule = create_rule(
        s,
        json!({"name": "loop-alerts", "sources": {"platform": ["minicloud.events"]},
               "pattern": {"detail-type": ["Loop Detected"]},
               "targets": [target]}),
    )
    .await;
    rule["id"].as_str().unwrap().to_owned()
}

async fn start_chain(s: &Server) {
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/default/events",
            Some(json!({"entries": [{"source": "shop.loop", "detail-type": "Again", "detail": again()}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The sink's deliveries of one rule, by idempotency key: (runs, done).
fn runs_of(kv: &HashMap<String, String>, rule_id: &str) -> Vec<(i64, i64)> {
    let suffix = format!("/{rule_id}/");
    kv.keys()
        .filter_map(|k| k.strip_prefix("runs/"))
        .filter(|key| key.contains(&suffix))
        .map(|key| {
            (
                count(kv, &format!("runs/{key}")),
                count(kv, &format!("done/{key}")),
            )
        })
        .collect()
}

/// Deliveries still owed on the bus.
async fn owed(s: &Server) -> i64 {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.database_url()).await.unwrap();
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM event_deliveries")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get("n");
    pool.close().await;
    n
}

/// Waits until the bus owes nothing and `done` deliveries of `loop_id` and
/// `alerts` deliveries of `alerts_id` finished; the sink's entries then.
async fn settled(
    s: &Server,
    loop_id: &str,
    done: usize,
    alerts_id: &str,
    alerts: usize,
) -> HashMap<String, String> {
    let finished = |entries: &HashMap<String, String>, rule: &str| {
        runs_of(entries, rule).iter().filter(|(_, d)| *d > 0).count()
    };
    let settled = eventually(Duration::from_secs(60), || async {
        let entries = kv(s).await;
        let quiet = finished(&entries, loop_id) >= done && finished(&entries, alerts_id) >= alerts;
        (quiet && owed(s).await == 0).then_some(entries)
    })
    .await;
    match settled {
        Some(entries) => entries,
        None => panic!(
            "the chain did not settle: {} owed, {:?}",
            owed(s).await,
            kv(s).await
        ),
    }
}

/// Whether the server still runs functions and takes events.
async fn still_serving(s: &Server) {
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/default/functions/sink/invoke",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/default/events",
            Some(json!({"entries": [{"source": "shop.other", "detail-type": "Unmatched"}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn a_self_triggering_function_is_stopped(db: Db) {
    let s = Server::start(db).await;
    deploy_sink(&s).await;
    let alerts_id = alerts_rule(&s, None).await;
    let loop_id = loop_rule(&s).await;

    start_chain(&s).await;
    let entries = settled(&s, &loop_id, CHAIN_RUNS, &alerts_id, 1).await;
    let runs = runs_of(&entries, &loop_id);
    assert_eq!(runs.len(), CHAIN_RUNS, "one run per hop, 0 to 16: {entries:?}");
    assert!(
        runs.iter().all(|&(r, d)| r == 1 && d == 1),
        "no run failed or repeated: {runs:?}"
    );
    let refusal = entries
        .get("publish-error")
        .expect("the last run's publish was refused");
    assert!(
        refusal.contains("limit exceeded") && refusal.contains("loop detected"),
        "{refusal}"
    );

    // One announcement, to the alerts rule: the last thing the sink saw.
    assert_eq!(runs_of(&entries, &alerts_id), [(1, 1)]);
    let last: Value = serde_json::from_str(&entries["last-input"]).unwrap();
    assert_eq!(last["source"], "minicloud.events");
    assert_eq!(last["detail-type"], "Loop Detected");
    assert_eq!(last["detail"]["rule"], "again");
    assert_eq!(last["detail"]["function"], "sink");
    assert_eq!(last["detail"]["hops"], 17);
    assert_eq!(last["detail"]["max_hops"], 16);
    assert!(
        last["detail"]["event_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{last}"
    );
    assert_eq!(
        s.metric("minicloud_event_loops_detected_total", "rule=\"again\"")
            .await,
        1.0
    );

    // The chain stays stopped and the server serves.
    still_serving(&s).await;
    assert_eq!(runs_of(&kv(&s).await, &loop_id).len(), CHAIN_RUNS);
    // A new chain is a chain of its own: it gets its 17 runs too.
    start_chain(&s).await;
    let entries = settled(&s, &loop_id, 2 * CHAIN_RUNS, &alerts_id, 2).await;
    assert_eq!(runs_of(&entries, &loop_id).len(), 2 * CHAIN_RUNS, "{entries:?}");
    assert_eq!(runs_of(&entries, &alerts_id).len(), 2);
    assert_eq!(s.metric("minicloud_event_loops_detected_total", "").await, 2.0);
}

/// A handler of announcements that publishes into the loop again would
/// restart it after every announcement. The announcement is part of the
/// chain it reports: its handler's publish is refused, and that refusal is
/// counted but not announced (it would feed on itself).
async fn a_handler_of_loop_alerts_cannot_restart_the_loop(db: Db) {
    let s = Server::start(db).await;
    deploy_sink(&s).await;
    let alerts_id = alerts_rule(&s, Some(json!({"constant": again()}))).await;
    let loop_id = loop_rule(&s).await;

    start_chain(&s).await;
    let entries = settled(&s, &loop_id, CHAIN_RUNS, &alerts_id, 1).await;
    assert_eq!(runs_of(&entries, &loop_id).len(), CHAIN_RUNS, "{entries:?}");
    assert_eq!(
        runs_of(&entries, &alerts_id),
        [(1, 1)],
        "one announcement, handled once"
    );
    let refusal = entries.get("publish-error").unwrap();
    assert!(refusal.contains("loop detected"), "{refusal}");
    assert_eq!(s.metric("minicloud_event_loops_detected_total", "").await, 2.0);
    assert_eq!(
        s.metric("minicloud_event_loops_detected_total", "rule=\"loop-alerts\"")
            .await,
        1.0
    );
    still_serving(&s).await;
    let entries = kv(&s).await;
    assert_eq!(
        runs_of(&entries, &loop_id).len(),
        CHAIN_RUNS,
        "the loop did not restart: {entries:?}"
    );
    assert_eq!(runs_of(&entries, &alerts_id).len(), 1);
}

crate::on_both_databases!(a_function_that_writes_its_own_trigger_is_stopped);

/// The same loop through storage: a function run by an object's event
/// writes the object again. Its writes stand, but past 16 hops the object
/// events are no longer announced, so the chain stops.
async fn a_function_that_writes_its_own_trigger_is_stopped(db: Db) {
    let s = Server::start(db).await;
    s.create_bucket("ping").await;
    s.put_role(
        "writer",
        json!([{"Effect": "Allow", "Action": "storage:PutObject", "Resource": "*"}]),
    )
    .await;
    s.deploy_with("writer", "?role=writer", minicloud_tests::guests::CAPS)
        .await;
    create_rule(
        &s,
        json!({"name": "on-ping", "sources": {"platform": ["minicloud.storage"]},
               "pattern": {"detail": {"bucket": {"name": ["ping"]}}},
               "targets": [{"function": "writer",
                 "input": {"constant": {"op": "put", "bucket": "ping", "key": "again", "body": "x"}}}]}),
    )
    .await;
    let resp = s
        .authed(Method::PUT, &s.api("/buckets/ping/objects/first"))
        .body("go")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let runs = || async {
        let page = s
            .get_json(&s.api("/functions/writer/invocations?limit=100"))
            .await;
        page["items"].as_array().map_or(0, Vec::len)
    };
    let stopped = eventually(Duration::from_secs(60), || async {
        let before = runs().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = runs().await;
        (after >= CHAIN_RUNS && after == before).then_some(after)
    })
    .await;
    assert_eq!(
        stopped,
        Some(CHAIN_RUNS),
        "the chain of writes stops after {CHAIN_RUNS} runs"
    );
    assert!(
        s.metric("minicloud_event_loops_detected_total", "").await >= 1.0,
        "the stopped loop is counted"
    );
}
