//! NATS subjects: each org listens and dead-letters only under
//! `mc.<org>.`, so no grant lets one org consume another's messages.

use super::tenant;
use minicloud_tests::{Db, Server, guests, nats_url};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subjects_are_partitioned_by_org() {
    let stream = format!("hostile_subjects_{}", std::process::id());
    let s = Server::start_with(Db::Sqlite, &["--nats-url", &nats_url(), "--nats-stream", &stream]).await;
    let evil = tenant(&s, "evil", "evil").await;
    let resp = s.deploy_by(&evil, "evil", "sink", guests::EVENTS_SINK).await;
    assert_eq!(resp.status(), 201);
    let rule = |subjects: serde_json::Value, dead_letter: Option<&str>| {
        let mut r =
            json!({"name": "r", "sources": {"subjects": subjects}, "targets": [{"function": "sink"}]});
        if let Some(d) = dead_letter {
            r["dead_letter"] = json!({"subject": d});
        }
        r
    };
    // Even as OrgAdmin (events:UseSubject on everything of its org), the
    // attacker reaches no subject outside its own space.
    for (subjects, dlq) in [
        (json!(["mc.default.orders.>"]), None),
        (json!(["orders.>"]), None),
        (json!([">"]), None),
        (json!(["mc.*.orders"]), None),
        (json!(["mc.>"]), None),
        (json!(["mc.evil.orders"]), Some("mc.default.dlq")),
        (json!(["mc.evil.orders"]), Some("audit.dlq")),
    ] {
        let (status, body) = s
            .call(
                &evil,
                Method::POST,
                "/projects/evil/rules",
                Some(rule(subjects.clone(), dlq)),
            )
            .await;
        assert_eq!(status, 400, "{subjects} {dlq:?}: {body}");
        assert_eq!(body["error"]["code"], "subject_outside_namespace", "{body}");
    }
    let (status, body) = s
        .call(
            &evil,
            Method::POST,
            "/projects/evil/rules",
            Some(rule(json!([format!("mc.evil.{stream}.>")]), Some("mc.evil.dlq"))),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let js = async_nats::jetstream::new(minicloud_tests::nats().await);
    let subjects = |js: async_nats::jetstream::Context| {
        let stream = stream.clone();
        async move {
            let mut info = js.get_stream(&stream).await.unwrap();
            info.info().await.unwrap().config.subjects.clone()
        }
    };
    assert_eq!(subjects(js.clone()).await, [format!("mc.evil.{stream}.>")]);

    // A rule stored before subjects had owners (written here straight into
    // the database) is not listened on after a restart.
    let mut s = s;
    assert!(s.stop().await);
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.database_url()).await.unwrap();
    let legacy = json!({"subjects": [format!("legacy{stream}.>")]}).to_string();
    sqlx::query("UPDATE event_rules SET sources_json = $1 WHERE name = 'r'")
        .bind(legacy)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    s.start_again().await;
    let captured = subjects(js.clone()).await;
    assert!(
        !captured.iter().any(|c| c.starts_with("legacy")),
        "a legacy subject is captured: {captured:?}"
    );
    let _ = js.delete_stream(&stream).await;
}
