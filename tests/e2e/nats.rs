//! NATS subjects as event sources, against the real nats-server with
//! JetStream: subject wildcards, JSON and other payloads, retries, dead
//! letters (also on a dead-letter subject) and replay, messages published
//! while MiniCloud is down, a crash in the middle of a 10,000-message burst,
//! and two nodes reading the same consumers. Each test has a stream and a
//! subject prefix of its own, since they share the NATS server.

use super::rules::{count, create_rule, dead_letters, deploy_sink, kv, replay};
use minicloud_tests::{Db, Server, eventually, nats, nats_url};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

macro_rules! on_sqlite {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario(minicloud_tests::Db::Sqlite).await
                }
            }
        )*
    };
}

on_sqlite!(
    subjects_payloads_retries_and_dead_letters,
    published_while_stopped,
    crash_during_a_burst
);

mod two_nodes {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::two_nodes_share_consumers().await
    }
}

/// A unique name for this test's stream and subjects.
pub(crate) fn unique(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("t{}_{}_{test}", std::process::id(), nanos % 1_000_000_000)
}

/// Flags for a server on the test NATS with its own stream.
fn nats_args(stream: &str) -> Vec<String> {
    vec![
        "--nats-url".into(),
        nats_url(),
        "--nats-stream".into(),
        stream.to_owned(),
    ]
}

/// A server on the test NATS, reading subjects through stream `stream`.
pub(crate) async fn start(db: Db, stream: &str) -> Server {
    let args = nats_args(stream);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start_with(db, &args).await
}

/// Removes the test's stream (its consumers go with it).
pub(crate) async fn drop_stream(stream: &str) {
    let js = async_nats::jetstream::new(nats().await);
    let _ = js.delete_stream(stream).await;
}

/// Publishes through JetStream and returns the stream sequence (which
/// names the event: `nats-<sequence>`).
async fn publish(js: &async_nats::jetstream::Context, subject: &str, payload: Value) -> u64 {
    js.publish(subject.to_owned(), payload.to_string().into())
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence
}

async fn subjects_payloads_retries_and_dead_letters(db: Db) {
    let name = unique("main");
    let s = start(db, &name).await;
    deploy_sink(&s).await;
    let client = nats().await;
    let js = async_nats::jetstream::new(client.clone());
    let dlq = format!("mc.default.{name}.dlq");
    let mut on_dlq = client.subscribe(dlq.clone()).await.unwrap();
    let rule = create_rule(
        &s,
        json!({"name": "orders", "sources": {"subjects": [format!("mc.default.{name}.orders.*")]},
               "pattern": {"detail": {"kind": [{"anything-but": "ignored"}]}},
               "targets": [{"function": "sink"}],
               "retry": {"max_attempts": 3, "initial_backoff_ms": 20, "max_backoff_ms": 100},
               "dead_letter": {"subject": dlq}}),
    )
    .await;
    // Subjects belong to the org: a Developer of the project may not
    // listen on them without a grant.
    let dev = s.user_token("dev", "Developer", Some("default")).await;
    let (status, body) = s
        .call(&dev, Method::POST, "/projects/default/rules",
            Some(json!({"name": "sneaky", "sources": {"subjects": [format!("mc.default.{name}.>")]}, "targets": [{"function": "sink"}]})))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("events:UseSubject"),
        "{body}"
    );

    let raw = create_rule(
        &s,
        json!({"name": "raw", "sources": {"subjects": [format!("mc.default.{name}.raw.>")]},
               "targets": [{"function": "sink", "id": "raw"}]}),
    )
    .await;
    let key = |seq: u64, rule: &Value, target: &str| {
        format!("nats-{seq}/{}/{target}", rule["id"].as_str().unwrap())
    };

    // `*` matches one token: orders.new is delivered (after two failed
    // attempts); orders.new.eu is not even captured by the stream, and a
    // message the pattern does not match is skipped.
    let hit = publish(
        &js,
        &format!("mc.default.{name}.orders.new"),
        json!({"kind": "order", "fail_times": 2}),
    )
    .await;
    let err = js
        .publish(format!("mc.default.{name}.orders.new.eu"), "{}".into())
        .await
        .unwrap()
        .await
        .expect_err("no stream captures orders.new.eu");
    assert_eq!(
        err.kind(),
        async_nats::jetstream::context::PublishErrorKind::StreamNotFound
    );
    let skipped = publish(
        &js,
        &format!("mc.default.{name}.orders.old"),
        json!({"kind": "ignored"}),
    )
    .await;
    let got = eventually(Duration::from_secs(20), || async {
        let kv = kv(&s).await;
        (count(&kv, &format!("done/{}", key(hit, &rule, "sink"))) == 1).then_some(kv)
    })
    .await
    .expect("the matching message was delivered after two retries");
    assert_eq!(count(&got, &format!("runs/{}", key(hit, &rule, "sink"))), 3);
    assert_eq!(count(&got, &format!("runs/{}", key(skipped, &rule, "sink"))), 0);
    assert_eq!(
        s.metric("minicloud_events_retried_total", "rule=\"orders\"")
            .await,
        2.0
    );

    // `>` matches the rest; a payload that is not JSON arrives base64 with
    // its content type, and the subject and headers are kept.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Content-Type", "text/plain");
    let seq = js
        .publish_with_headers(format!("mc.default.{name}.raw.a.b"), headers, "hello".into())
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence;
    let last = eventually(Duration::from_secs(20), || async {
        let kv = kv(&s).await;
        if count(&kv, &format!("done/{}", key(seq, &raw, "raw"))) != 1 {
            return None;
        }
        serde_json::from_str::<Value>(kv.get("last-input")?).ok()
    })
    .await
    .expect("the raw message was delivered");
    assert_eq!(
        last["detail"],
        json!({"content-type": "text/plain", "data-base64": "aGVsbG8="})
    );
    assert_eq!(last["nats"]["subject"], format!("mc.default.{name}.raw.a.b"));
    assert_eq!(last["nats"]["headers"]["Content-Type"], json!(["text/plain"]));
    assert_eq!(last["source"], "nats");
    assert_eq!(last["id"], format!("nats-{seq}"));

    // Always failing: a dead letter after three attempts, on the list and
    // on the dead-letter subject; replayed, it runs once more.
    let doomed = publish(
        &js,
        &format!("mc.default.{name}.orders.bad"),
        json!({"kind": "order", "fail_times": 3}),
    )
    .await;
    let dead = eventually(Duration::from_secs(20), || async {
        Some(dead_letters(&s, "").await).filter(|i| !i.is_empty())
    })
    .await
    .expect("a dead letter");
    assert_eq!(dead[0]["event_id"], format!("nats-{doomed}"));
    assert_eq!(dead[0]["attempts"], 3);
    let published = tokio::time::timeout(Duration::from_secs(10), futures::StreamExt::next(&mut on_dlq))
        .await
        .expect("the dead letter reached its subject")
        .unwrap();
    let letter: Value = serde_json::from_slice(&published.payload).unwrap();
    assert_eq!(letter["rule"], "orders");
    assert_eq!(letter["attempts"], 3);
    let id = dead[0]["id"].as_str().unwrap();
    let (status, body) = replay(&s, id).await;
    assert_eq!(status, 202, "{body}");
    eventually(Duration::from_secs(20), || async {
        let kv = kv(&s).await;
        (count(&kv, &format!("done/{}", key(doomed, &rule, "sink"))) == 1).then_some(())
    })
    .await
    .expect("the replay succeeded");
    drop_stream(&name).await;
}

async fn published_while_stopped(db: Db) {
    let name = unique("stopped");
    let mut s = start(db, &name).await;
    deploy_sink(&s).await;
    create_rule(
        &s,
        json!({"name": "later", "sources": {"subjects": [format!("mc.default.{name}.jobs")]}, "targets": [{"function": "sink"}]}),
    )
    .await;
    assert!(s.stop().await, "{}", s.log());
    // A plain NATS client publishes while no MiniCloud node runs.
    let client = nats().await;
    for i in 0..20 {
        client
            .publish(
                format!("mc.default.{name}.jobs"),
                json!({"i": i}).to_string().into(),
            )
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    s.start_again().await;
    let done = eventually(Duration::from_secs(30), || async {
        let kv = kv(&s).await;
        let done = kv.keys().filter(|k| k.starts_with("done/nats-")).count();
        (done == 20).then_some(done)
    })
    .await;
    assert_eq!(
        done,
        Some(20),
        "every message published while stopped was handled"
    );
    drop_stream(&name).await;
}

async fn crash_during_a_burst(db: Db) {
    let name = unique("burst");
    let mut s = start(db, &name).await;
    deploy_sink(&s).await;
    let rule = create_rule(
        &s,
        json!({"name": "burst", "sources": {"subjects": [format!("mc.default.{name}.burst")]}, "targets": [{"function": "sink"}],
               "retry": {"initial_backoff_ms": 10, "max_backoff_ms": 100}}),
    )
    .await;
    let rule_id = rule["id"].as_str().unwrap().to_owned();
    let js = async_nats::jetstream::new(nats().await);
    // Acknowledgements are awaited a thousand at a time (the client holds
    // at most a few thousand outstanding).
    let mut sequences = Vec::new();
    for chunk in 0..10 {
        let mut acks = Vec::new();
        for i in 0..1_000 {
            let payload = json!({"i": chunk * 1_000 + i}).to_string();
            acks.push(
                js.publish(format!("mc.default.{name}.burst"), payload.into())
                    .await
                    .unwrap(),
            );
        }
        for ack in acks {
            sequences.push(ack.await.unwrap().sequence);
        }
    }
    // Kill MiniCloud while it works through them.
    eventually(Duration::from_secs(60), || async {
        (s.metric("minicloud_events_delivered_total", "rule=\"burst\"")
            .await
            >= 1_000.0)
            .then_some(())
    })
    .await
    .expect("deliveries started");
    s.kill();
    s.start_again().await;
    let missing = eventually(Duration::from_secs(180), || async {
        let kv = kv(&s).await;
        let missing = sequences
            .iter()
            .filter(|seq| count(&kv, &format!("done/nats-{seq}/{rule_id}/sink")) == 0)
            .count();
        (missing == 0).then_some(0)
    })
    .await;
    assert_eq!(missing, Some(0), "every message's handler ran at least once");
    drop_stream(&name).await;
}

async fn two_nodes_share_consumers() {
    let name = unique("nodes");
    let a = start(Db::Postgres, &name).await;
    deploy_sink(&a).await;
    let rule = create_rule(
        &a,
        json!({"name": "shared", "sources": {"subjects": [format!("mc.default.{name}.shared")]}, "targets": [{"function": "sink"}]}),
    )
    .await;
    let rule_id = rule["id"].as_str().unwrap().to_owned();
    let mut b = Server::join_with(&a, &nats_args(&name)).await;
    // Wait until b reads too: it reconciles at start.
    let js = async_nats::jetstream::new(nats().await);
    let mut sequences = Vec::new();
    for i in 0..1_000 {
        sequences.push(publish(&js, &format!("mc.default.{name}.shared"), json!({"i": i})).await);
    }
    let kv = eventually(Duration::from_secs(120), || async {
        let kv = kv(&a).await;
        sequences
            .iter()
            .all(|seq| count(&kv, &format!("done/nats-{seq}/{rule_id}/sink")) >= 1)
            .then_some(kv)
    })
    .await
    .expect("no message lost with two nodes reading");
    let repeats = sequences
        .iter()
        .filter(|seq| count(&kv, &format!("runs/nats-{seq}/{rule_id}/sink")) > 1)
        .count();
    assert_eq!(repeats, 0, "each message handled once in the normal case");
    let on_b = b
        .metric("minicloud_events_delivered_total", "rule=\"shared\"")
        .await;
    assert!(on_b > 0.0, "the second node took a share");
    b.kill();
    drop_stream(&name).await;
}
