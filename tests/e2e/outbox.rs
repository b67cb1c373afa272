//! Object events are written in the transaction of the object they
//! announce (the outbox): an event whose change was acknowledged reaches
//! its rules even when the process that wrote it stopped before handing it
//! to the bus, and a row published twice (a pump that died after
//! publishing, before removing it) reaches its targets under the same
//! idempotency key, which they can deduplicate on.

use crate::rules::{count, create_rule, deploy_sink, kv};
use minicloud_tests::{Db, Server, eventually};
use serde_json::{Value, json};
use std::time::Duration;

crate::on_both_databases!(an_acknowledged_change_keeps_its_event);

async fn an_acknowledged_change_keeps_its_event(db: Db) {
    let mut s = Server::start(db).await;
    deploy_sink(&s).await;
    create_rule(
        &s,
        json!({"name": "on-upload", "sources": {"platform": ["minicloud.storage"]},
               "targets": [{"function": "sink"}]}),
    )
    .await;
    // An object written by a node that stopped before its pump ran: the
    // outbox row holds the event.
    assert!(s.stop().await, "{}", s.log());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.database_url()).await.unwrap();
    let project: String = sqlx::query_scalar("SELECT id FROM projects WHERE name = 'default'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let event = json!({"source": "minicloud.storage", "detail_type": "Object Created",
        "project_id": project, "resources": [], "detail": {"bucket": {"name": "b"}, "object": {"key": "in/kept"}}});
    leave_in_outbox(&pool, &project, &event).await;
    s.start_again().await;
    let seen = eventually(Duration::from_secs(20), || async {
        let seen = kv(&s).await;
        let last: Value = serde_json::from_str(seen.get("last-input")?).ok()?;
        (last["id"] == "kept-event").then_some(seen)
    })
    .await
    .expect("the stored event reached its rule after the restart");
    let last: Value = serde_json::from_str(&seen["last-input"]).unwrap();
    assert_eq!(last["detail"]["object"]["key"], "in/kept");
    assert_eq!(
        last["time"], "2023-11-14T22:13:20Z",
        "the event keeps the time of its change"
    );
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM event_outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "the pump removes what it moved");

    // The same row again, as a pump that died before removing it leaves
    // it: the target runs under the same idempotency key.
    let run_keys = |kv: &std::collections::HashMap<String, String>| -> Vec<(String, i64)> {
        kv.keys()
            .filter(|k| k.starts_with("runs/kept-event"))
            .map(|k| (k.clone(), count(kv, k)))
            .collect()
    };
    let first = run_keys(&seen);
    assert_eq!(first.len(), 1, "{seen:?}");
    assert_eq!(first[0].1, 1);
    leave_in_outbox(&pool, &project, &event).await;
    let again = eventually(Duration::from_secs(20), || async {
        let keys = run_keys(&kv(&s).await);
        (keys.iter().map(|(_, n)| n).sum::<i64>() == 2).then_some(keys)
    })
    .await
    .expect("the row published again ran its target again");
    assert_eq!(
        again,
        [(first[0].0.clone(), 2)],
        "one idempotency key for both runs"
    );
    pool.close().await;
}

/// Writes `event` to the outbox as a node that stopped before its pump
/// ran would leave it: id `kept-event`, written at 2023-11-14T22:13:20Z.
async fn leave_in_outbox(pool: &sqlx::AnyPool, project: &str, event: &Value) {
    sqlx::query(
        "INSERT INTO event_outbox (id, project_id, hops, event_json, created_ms) VALUES ('kept-event', $1, 0, $2, $3)",
    )
    .bind(project)
    .bind(event.to_string())
    .bind(1_700_000_000_000_i64)
    .execute(pool)
    .await
    .unwrap();
}
