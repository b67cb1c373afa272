//! Event rules and the in-process durable bus: the rules API and its
//! validation, `PutEvents`, delivery to functions with retries, dead
//! letters and replay, input transformations, platform events, functions
//! publishing events, a crash in the middle of a burst, and two nodes
//! sharing the bus. Handlers count their runs by idempotency key in the
//! key-value store (`tests/guests/events-sink`).

use minicloud_tests::{Db, Server, eventually, guests};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

crate::on_both_databases!(
    rules_api,
    retries_dead_letters_and_replay,
    events_flow_between_functions
);
crate::on_both_databases!(accepted_events_survive_a_crash);

mod two_nodes {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::two_nodes_share_the_bus().await
    }
}

/// Deploys `events-sink` as `sink`, allowed its key-value bucket and to
/// publish events from `shop.*` sources.
pub(crate) async fn deploy_sink(s: &Server) {
    s.put_role(
        "sink",
        json!([
            {"Effect": "Allow", "Action": "kv:*", "Resource": "mrn:kv:*:*:bucket/events*"},
            {"Effect": "Allow", "Action": "events:PutEvents", "Resource": "mrn:events:*:*:source/shop.*"}
        ]),
    )
    .await;
    s.deploy_with("sink", "?role=sink", guests::EVENTS_SINK).await;
}

pub(crate) async fn create_rule(s: &Server, rule: Value) -> Value {
    let (status, body) = s
        .call(&s.token, Method::POST, "/projects/default/rules", Some(rule))
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn put_events(s: &Server, entries: Value) -> Vec<String> {
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/default/events",
            Some(json!({ "entries": entries })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The project's dead letters (`query`: `?rule=...` or empty).
pub(crate) async fn dead_letters(s: &Server, query: &str) -> Vec<Value> {
    let (status, page) = s
        .call(
            &s.token,
            Method::GET,
            &format!("/projects/default/dead-letters{query}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

/// Replays a dead letter: the status and the answer.
pub(crate) async fn replay(s: &Server, id: &str) -> (u16, Value) {
    s.call(
        &s.token,
        Method::POST,
        &format!("/projects/default/dead-letters/{id}/replay"),
        None,
    )
    .await
}

/// The sink's key-value entries, read from the database.
pub(crate) async fn kv(s: &Server) -> HashMap<String, String> {
    kv_bucket(s, "events").await
}

/// The entries of key-value bucket `bucket` (of every project), read from
/// the database.
pub(crate) async fn kv_bucket(s: &Server, bucket: &str) -> HashMap<String, String> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.database_url()).await.unwrap();
    let rows = sqlx::query("SELECT entry_key, value FROM kv_entries WHERE bucket = $1")
        .bind(bucket)
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| {
            let value: Vec<u8> = r.get("value");
            (r.get("entry_key"), String::from_utf8_lossy(&value).into_owned())
        })
        .collect()
}

/// A counter of the sink, 0 when absent.
pub(crate) fn count(kv: &HashMap<String, String>, key: &str) -> i64 {
    kv.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

async fn rules_api(db: Db) {
    let s = Server::start(db).await;
    deploy_sink(&s).await;
    let rules = "/projects/default/rules";
    let rule = create_rule(
        &s,
        json!({"name": "orders", "sources": {"api": true}, "pattern": {"source": ["shop"]},
               "targets": [{"function": "sink"}], "retry": {"max_attempts": 3}}),
    )
    .await;
    assert_eq!(rule["targets"], json!([{"id": "sink", "function": "sink"}]));
    assert_eq!(rule["retry"]["max_attempts"], 3);
    assert_eq!(rule["retry"]["max_age_secs"], 86_400, "defaults are filled in");
    assert_eq!(rule["enabled"], true);

    // Refusals name the problem; a bad pattern names its JSON path.
    let bad = [
        (
            json!({"name": "x", "sources": {"api": true}, "targets": [{"function": "sink"}],
                "pattern": {"detail": {"size": [{"numeric": [">", "ten"]}]}}}),
            "invalid_pattern",
            "$.detail.size[0].numeric[1]",
        ),
        (
            json!({"name": "x", "sources": {}, "targets": [{"function": "sink"}]}),
            "invalid_sources",
            "at least one",
        ),
        (
            json!({"name": "x", "sources": {"subjects": ["orders.>.eu"]}, "targets": [{"function": "sink"}]}),
            "invalid_sources",
            "sources.subjects[0]",
        ),
        (
            json!({"name": "x", "sources": {"platform": ["aws.s3"]}, "targets": [{"function": "sink"}]}),
            "invalid_sources",
            "minicloud.storage",
        ),
        (
            json!({"name": "x", "sources": {"api": true}, "targets": []}),
            "invalid_targets",
            "1 to 5",
        ),
        (
            json!({"name": "x", "sources": {"api": true}, "targets": [{"function": "sink", "input": {"path": "detail"}}]}),
            "invalid_input",
            "targets[0].input.path",
        ),
        (
            json!({"name": "x", "sources": {"api": true}, "targets": [{"function": "sink"}], "retry": {"max_attempts": 0}}),
            "invalid_retry",
            "max_attempts",
        ),
        (
            json!({"name": "Bad Name", "sources": {"api": true}, "targets": [{"function": "sink"}]}),
            "invalid_name",
            "rule name",
        ),
        (
            json!({"name": "x", "sources": {"api": true}, "targets": [{"function": "sink"}], "colour": "red"}),
            "invalid_json",
            "colour",
        ),
    ];
    for (body, code, text) in bad {
        let (status, err) = s.call(&s.token, Method::POST, rules, Some(body.clone())).await;
        // A body of the wrong shape is 422, as everywhere in the API.
        let expected = if code == "invalid_json" { 422 } else { 400 };
        assert_eq!(status, expected, "{body} -> {err}");
        assert_eq!(err["error"]["code"], code, "{err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(text), "{message:?} should mention {text:?}");
        if code == "invalid_pattern" {
            assert_eq!(err["error"]["path"], text, "{err}");
        }
    }
    let (status, _) = s
        .call(
            &s.token,
            Method::POST,
            rules,
            Some(json!({"name": "orders", "sources": {"api": true}, "targets": [{"function": "sink"}]})),
        )
        .await;
    assert_eq!(status, 409);

    // Read, list (paginated), change, delete.
    let (status, got) = s
        .call(&s.token, Method::GET, &format!("{rules}/orders"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(got["id"], rule["id"]);
    create_rule(
        &s,
        json!({"name": "second", "sources": {"api": true}, "targets": [{"function": "sink"}]}),
    )
    .await;
    let (_, page) = s
        .call(&s.token, Method::GET, &format!("{rules}?limit=1"), None)
        .await;
    assert_eq!(page["items"][0]["name"], "orders");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, page) = s
        .call(
            &s.token,
            Method::GET,
            &format!("{rules}?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(page["items"][0]["name"], "second");
    let (status, changed) = s
        .call(
            &s.token,
            Method::PATCH,
            &format!("{rules}/orders"),
            Some(json!({"enabled": false, "pattern": {"source": ["web"]}})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["pattern"], json!({"source": ["web"]}));
    assert_eq!(changed["retry"]["max_attempts"], 3, "unchanged fields stay");
    let (status, err) = s
        .call(
            &s.token,
            Method::PATCH,
            &format!("{rules}/orders"),
            Some(json!({"pattern": {"source": "web"}})),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["path"], "$.source");
    let (status, _) = s
        .call(&s.token, Method::DELETE, &format!("{rules}/second"), None)
        .await;
    assert_eq!(status, 204);
    let (status, err) = s
        .call(&s.token, Method::GET, &format!("{rules}/second"), None)
        .await;
    assert_eq!(status, 404, "{err}");

    // PutEvents checks every entry before accepting any.
    let events = "/projects/default/events";
    let cases = [
        (
            json!({"entries": [{"source": "minicloud.storage", "detail-type": "x"}]}),
            "reserved_source",
        ),
        (
            json!({"entries": [{"source": "shop", "detail-type": "x"}, {"source": "shop", "detail-type": "x", "detail": [1]}]}),
            "invalid_detail",
        ),
        (json!({"entries": []}), "invalid_entries"),
        (
            json!({"entries": vec![json!({"source": "shop", "detail-type": "x"}); 101]}),
            "invalid_entries",
        ),
        (json!({"entries": [{"source": "shop"}]}), "invalid_entry"),
    ];
    for (body, code) in cases {
        let (status, err) = s.call(&s.token, Method::POST, events, Some(body)).await;
        assert_eq!(status, 400, "{err}");
        assert_eq!(err["error"]["code"], code, "{err}");
    }
}

async fn retries_dead_letters_and_replay(db: Db) {
    let s = Server::start(db).await;
    deploy_sink(&s).await;
    let rule = create_rule(
        &s,
        json!({"name": "orders", "sources": {"api": true},
               "pattern": {"source": ["shop"], "detail-type": ["Order Placed"]},
               "targets": [{"function": "sink"}],
               "retry": {"max_attempts": 3, "initial_backoff_ms": 20, "max_backoff_ms": 100}}),
    )
    .await;
    let rule_id = rule["id"].as_str().unwrap();
    let key = |event: &str| format!("{event}/{rule_id}/sink");

    // Fails twice, then succeeds: delivered once, two retries.
    let ids = put_events(
        &s,
        json!([
            {"source": "shop", "detail-type": "Order Placed", "detail": {"fail_times": 2}},
            {"source": "web", "detail-type": "Order Placed", "detail": {}},
        ]),
    )
    .await;
    let done = eventually(Duration::from_secs(20), || async {
        let kv = kv(&s).await;
        (count(&kv, &format!("done/{}", key(&ids[0]))) == 1).then_some(kv)
    })
    .await
    .expect("the event was delivered after its retries");
    assert_eq!(count(&done, &format!("runs/{}", key(&ids[0]))), 3);
    assert!(
        !done.keys().any(|k| k.contains(&ids[1])),
        "an event the pattern does not match reaches nobody"
    );
    assert_eq!(
        s.metric("minicloud_events_retried_total", "rule=\"orders\"")
            .await,
        2.0
    );
    // The handler's own record of success comes a moment before the count.
    let delivered = eventually(Duration::from_secs(5), || async {
        let n = s
            .metric("minicloud_events_delivered_total", "rule=\"orders\"")
            .await;
        (n == 1.0).then_some(n)
    })
    .await;
    assert_eq!(delivered, Some(1.0));

    // Fails past the policy: a dead letter with the error and the attempts.
    let ids = put_events(
        &s,
        json!([{"source": "shop", "detail-type": "Order Placed", "detail": {"fail_times": 3}}]),
    )
    .await;
    let dead = eventually(Duration::from_secs(20), || async {
        Some(dead_letters(&s, "?rule=orders").await).filter(|i| !i.is_empty())
    })
    .await
    .expect("a dead letter after three attempts");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["event_id"], ids[0].as_str());
    assert_eq!(dead[0]["attempts"], 3);
    assert_eq!(dead[0]["rule"], "orders");
    assert!(
        dead[0]["error"]
            .as_str()
            .unwrap()
            .contains("planned failure 3 of 3"),
        "{}",
        dead[0]
    );
    assert_eq!(dead[0]["event"]["detail"]["fail_times"], 3);
    assert_eq!(
        s.metric("minicloud_events_dead_lettered_total", "rule=\"orders\"")
            .await,
        1.0
    );

    // Replayed, it runs again under the same idempotency key, and succeeds.
    let id = dead[0]["id"].as_str().unwrap();
    let (status, replayed) = replay(&s, id).await;
    assert_eq!(status, 202, "{replayed}");
    assert_eq!(replayed["idempotency_key"], key(&ids[0]).as_str());
    let kv_after = eventually(Duration::from_secs(20), || async {
        let kv = kv(&s).await;
        (count(&kv, &format!("done/{}", key(&ids[0]))) == 1).then_some(kv)
    })
    .await
    .expect("the replayed delivery succeeded");
    assert_eq!(count(&kv_after, &format!("runs/{}", key(&ids[0]))), 4);
    assert_eq!(
        dead_letters(&s, "").await,
        Vec::<Value>::new(),
        "a replayed dead letter leaves the list"
    );
    let (status, _) = replay(&s, id).await;
    assert_eq!(status, 404);

    // The delivery's invocation logs carry the event id as their trace id.
    let (_, records) = s
        .call(
            &s.token,
            Method::GET,
            "/projects/default/functions/sink/invocations",
            None,
        )
        .await;
    let traces: Vec<&str> = records["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["trace_id"].as_str())
        .collect();
    assert!(traces.contains(&ids[0].as_str()), "{records}");

    // A function that always fails: a dead letter after the policy; a
    // replay runs the policy again and ends in the dead letters again.
    let ids = put_events(
        &s,
        json!([{"source": "shop", "detail-type": "Order Placed", "detail": {"always_fail": true}}]),
    )
    .await;
    let dead_letter = |attempts_seen: i64| {
        let (s, event) = (&s, ids[0].clone());
        async move {
            eventually(Duration::from_secs(20), || async {
                let item = dead_letters(s, "")
                    .await
                    .into_iter()
                    .find(|d| d["event_id"] == event.as_str())?;
                let runs = count(&kv(s).await, &format!("runs/{}", key(&event)));
                (runs == attempts_seen).then_some(item)
            })
            .await
            .expect("the always-failing delivery became a dead letter")
        }
    };
    let first = dead_letter(3).await;
    assert_eq!(first["attempts"], 3);
    assert!(
        first["error"]
            .as_str()
            .unwrap()
            .contains("always fails (attempt 3)"),
        "{first}"
    );
    let id = first["id"].as_str().unwrap();
    let (status, _) = replay(&s, id).await;
    assert_eq!(status, 202);
    let second = dead_letter(6).await;
    assert_ne!(second["id"], first["id"]);
    assert!(
        second["error"]
            .as_str()
            .unwrap()
            .contains("always fails (attempt 6)"),
        "{second}"
    );
    let (status, _) = s
        .call(
            &s.token,
            Method::DELETE,
            &format!(
                "/projects/default/dead-letters/{}",
                second["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, 204);
}

async fn events_flow_between_functions(db: Db) {
    let s = Server::start(db).await;
    deploy_sink(&s).await;
    s.create_bucket("uploads").await;
    // An object lands: a rule runs the sink, which publishes a follow-up
    // event; a second rule runs the sink again with a transformed input.
    create_rule(
        &s,
        json!({"name": "on-upload", "sources": {"platform": ["minicloud.storage"]},
               "pattern": {"detail-type": ["Object Created"], "detail": {"object": {"key": [{"prefix": "in/"}]}}},
               "targets": [{"function": "sink", "input": {"paths": {"key": "$.detail.object.key"},
                 "template": "{\"publish\": {\"source\": \"shop.thumbnails\", \"detail-type\": \"Thumbnail Wanted\", \"detail\": {\"key\": <key>}}}"}}]}),
    )
    .await;
    let follow = create_rule(
        &s,
        json!({"name": "on-thumbnail", "sources": {"api": true},
               "pattern": {"source": [{"prefix": "shop."}], "detail-type": ["Thumbnail Wanted"]},
               "targets": [{"id": "shaped", "function": "sink", "input": {"paths": {"key": "$.detail.key"},
                 "template": "{\"object\": <key>, \"key\": \"<minicloud.idempotency-key>\", \"rule\": \"<aws.events.rule-name>\"}"}}]}),
    )
    .await;
    let resp = s
        .authed(Method::PUT, &s.api("/buckets/uploads/objects/in/cat.png"))
        .body("meow")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let resp = s
        .authed(Method::PUT, &s.api("/buckets/uploads/objects/other/dog.png"))
        .body("woof")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let kv = eventually(Duration::from_secs(20), || async {
        let kv = kv(&s).await;
        let last: Value = serde_json::from_str(kv.get("last-input")?).ok()?;
        // The sink stores its input before it counts the run as done; the
        // first rule's run publishes the follow-up before it counts its
        // own, so the second rule's run may finish first: wait for both.
        let done = count(&kv, &format!("done/{}", last["key"].as_str()?));
        let runs_done = kv.keys().filter(|k| k.starts_with("done/")).count();
        (last["object"] == "in/cat.png" && done == 1 && runs_done >= 2).then_some((kv, last))
    })
    .await;
    let (kv, last) = kv.expect("the follow-up event reached the second rule");
    let rule_id = follow["id"].as_str().unwrap();
    assert_eq!(last["rule"], "on-thumbnail");
    let key = last["key"].as_str().unwrap();
    assert!(key.ends_with(&format!("/{rule_id}/shaped")), "{key}");
    assert_eq!(count(&kv, &format!("done/{key}")), 1);
    assert!(kv.contains_key("published"));
    let done = kv.keys().filter(|k| k.starts_with("done/")).count();
    assert_eq!(
        done, 2,
        "one run per rule: the object outside in/ matched nothing: {kv:?}"
    );

    // An invocation that fails becomes a `minicloud.functions` event.
    let failures = create_rule(
        &s,
        json!({"name": "on-failure", "sources": {"platform": ["minicloud.functions"]},
               "pattern": {"detail-type": ["Invocation Failed"], "detail": {"function": ["sink"]}},
               "targets": [{"function": "sink"}]}),
    )
    .await;
    let (status, _) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/default/functions/sink/invoke",
            Some(json!({"always_fail": true})),
        )
        .await;
    assert_eq!(status, 422);
    let failure_id = failures["id"].as_str().unwrap().to_owned();
    let last = eventually(Duration::from_secs(20), || async {
        let kv = self::kv(&s).await;
        kv.keys()
            .any(|k| k.starts_with("done/") && k.contains(&failure_id))
            .then_some(())?;
        serde_json::from_str::<Value>(kv.get("last-input")?).ok()
    })
    .await
    .expect("the failure event reached its rule");
    assert_eq!(last["source"], "minicloud.functions");
    assert_eq!(last["detail"]["function"], "sink");
    assert_eq!(last["detail"]["outcome"], "function_error");
    assert!(
        last["detail"]["error"].as_str().unwrap().contains("always fails"),
        "{last}"
    );

    // Publishing from a source the role does not grant is refused.
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/default/functions/sink/invoke",
            Some(json!({"publish": {"source": "billing", "detail-type": "x", "detail": {}}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "function_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("events:PutEvents") && message.contains("source/billing"),
        "{message}"
    );
}

async fn accepted_events_survive_a_crash(db: Db) {
    let mut s = Server::start(db).await;
    deploy_sink(&s).await;
    let rule = create_rule(
        &s,
        json!({"name": "burst", "sources": {"api": true}, "targets": [{"function": "sink"}],
               "retry": {"initial_backoff_ms": 10, "max_backoff_ms": 100}}),
    )
    .await;
    let rule_id = rule["id"].as_str().unwrap().to_owned();
    // 10,000 events in batches of 100 from four clients; the server is
    // killed while they are still arriving. Every accepted event must run.
    let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (url, token, http, accepted) = (
            s.api("/events"),
            s.token.clone(),
            s.http.clone(),
            accepted.clone(),
        );
        clients.push(tokio::spawn(async move {
            for b in 0..25 {
                let entries: Vec<Value> = (0..100)
                    .map(|i| json!({"source": "shop", "detail-type": "Burst", "detail": {"n": c * 10_000 + b * 100 + i}}))
                    .collect();
                let Ok(resp) = http.post(&url).bearer_auth(&token).json(&json!({"entries": entries})).send().await else {
                    return;
                };
                if resp.status() != 200 {
                    return;
                }
                let Ok(body) = resp.json::<Value>().await else { return };
                let ids = body["entries"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned());
                accepted.lock().unwrap().extend(ids);
            }
        }));
    }
    eventually(Duration::from_secs(60), || async {
        (accepted.lock().unwrap().len() >= 3_000).then_some(())
    })
    .await
    .expect("events were accepted");
    s.kill();
    for c in clients {
        c.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    assert!(
        accepted.len() < 10_000,
        "the crash came too late to test anything"
    );
    s.start_again().await;
    let missing = eventually(Duration::from_secs(120), || async {
        let kv = kv(&s).await;
        let missing = accepted
            .iter()
            .filter(|id| count(&kv, &format!("done/{id}/{rule_id}/sink")) == 0)
            .count();
        (missing == 0).then_some(0)
    })
    .await;
    assert_eq!(
        missing,
        Some(0),
        "every accepted event's handler ran after the restart"
    );
}

async fn two_nodes_share_the_bus() {
    let a = Server::start(Db::Postgres).await;
    deploy_sink(&a).await;
    let rule = create_rule(
        &a,
        json!({"name": "shared", "sources": {"api": true}, "targets": [{"function": "sink"}]}),
    )
    .await;
    let rule_id = rule["id"].as_str().unwrap().to_owned();
    let mut b = Server::join(&a).await;
    // Both take events; then b dies with work in hand, and a finishes it.
    let (mut on_a, mut on_b) = (Vec::new(), Vec::new());
    for round in 0..10 {
        let entries: Vec<Value> = (0..100)
            .map(|i| json!({"source": "shop", "detail-type": "Shared", "detail": {"i": i}}))
            .collect();
        if round % 2 == 0 {
            on_a.extend(put_events(&a, json!(entries)).await);
        } else {
            on_b.extend(put_events(&b, json!(entries)).await);
        }
    }
    b.kill();
    let kv = eventually(Duration::from_secs(120), || async {
        let kv = kv(&a).await;
        on_a.iter()
            .chain(&on_b)
            .all(|id| count(&kv, &format!("done/{id}/{rule_id}/sink")) >= 1)
            .then_some(kv)
    })
    .await
    .expect("every event ran, on one node or the other");
    // What b held when it died may run twice (at least once); what a
    // accepted, a alone ran, once each.
    let repeats = on_a
        .iter()
        .filter(|id| count(&kv, &format!("runs/{id}/{rule_id}/sink")) != 1)
        .count();
    assert_eq!(repeats, 0, "events of the surviving node ran exactly once");
}
