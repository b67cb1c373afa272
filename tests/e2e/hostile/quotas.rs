//! Quotas: one tenant must not take the node. An org admin cannot raise its
//! own quotas; past a quota a tenant gets 429 `quota_exceeded` (with
//! `Retry-After` for rates and running instances) while other tenants are
//! served as before, and concurrent creations cannot race past a count.

use super::{deploy_as, tenant};
use minicloud_tests::{Db, Server, eventually, guests};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

crate::on_both_databases!(
    an_org_admin_cannot_raise_its_own_quota,
    new_functions_and_rules_stop_at_their_quota,
    concurrent_creations_cannot_race_past_a_count,
    uploads_stop_at_the_stored_bytes_quota,
);

/// Sets a quota as the platform administrator, asserting 200.
async fn set_quota(s: &Server, path: &str, body: Value) -> Value {
    let (status, answer) = s.call(&s.token, Method::PUT, path, Some(body)).await;
    assert_eq!(status, 200, "PUT {path}: {answer}");
    answer
}

/// Asserts a refusal of `quota` naming its limit and how to raise it.
fn assert_quota_refusal(status: u16, body: &Value, want_status: u16, quota: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(quota), "{message:?} names {quota:?}");
    assert!(message.contains("platform administrator"), "{message:?}");
}

async fn an_org_admin_cannot_raise_its_own_quota(db: Db) {
    let s = Server::start(db).await;
    let boss = tenant(&s, "acme", "shop").await;
    // Even a policy of its own allowing everything reaches no further than
    // its org: quotas are platform resources.
    let doc =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let steps = [
        (
            Method::POST,
            "/orgs/acme/policies",
            Some(json!({"name": "all", "document": doc})),
        ),
        (Method::POST, "/orgs/acme/roles", Some(json!({"name": "god"}))),
        (Method::PUT, "/orgs/acme/roles/god/policies/all", None),
        (
            Method::POST,
            "/orgs/acme/bindings",
            Some(json!({"principal": "boss", "role": "god"})),
        ),
    ];
    for (method, path, body) in steps {
        let (status, answer) = s.call(&boss, method.clone(), path, body).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
    }
    for path in ["/orgs/acme/quota", "/projects/shop/quota"] {
        let (status, body) = s
            .call(
                &boss,
                Method::PUT,
                path,
                Some(json!({"concurrency": 512, "functions": 100000})),
            )
            .await;
        assert_eq!(status, 403, "PUT {path}: {body}");
        assert_eq!(body["error"]["code"], "access_denied");
        // It may read its quota: limits, override and usage.
        let (status, body) = s.call(&boss, Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        assert!(body["limits"]["concurrency"].as_u64().unwrap() < 512, "{body}");
        assert_eq!(body["override"]["functions"], Value::Null);
        assert_eq!(body["usage"]["functions"], 0);
    }
    // The platform administrator can.
    let body = set_quota(&s, "/projects/shop/quota", json!({"functions": 5})).await;
    assert_eq!(body["limits"]["functions"], 5);
    assert_eq!(body["override"]["functions"], 5);
    let body = set_quota(&s, "/orgs/acme/quota", json!({"rules": 7})).await;
    assert_eq!(body["limits"]["rules"], 7);
    let (_, body) = s.call(&boss, Method::GET, "/projects/shop/quota", None).await;
    assert_eq!(body["limits"]["functions"], 5, "{body}");
    // Another tenant reads nothing of it.
    let rival = tenant(&s, "rival", "theirs").await;
    let (status, _) = s.call(&rival, Method::GET, "/projects/shop/quota", None).await;
    assert_eq!(status, 403);
    // Nonsense is refused whole.
    let (status, body) = s
        .call(
            &s.token,
            Method::PUT,
            "/projects/shop/quota",
            Some(json!({"cpu": 1})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
}

async fn new_functions_and_rules_stop_at_their_quota(db: Db) {
    let s = Server::start(db).await;
    let boss = tenant(&s, "acme", "shop").await;
    set_quota(&s, "/projects/shop/quota", json!({"functions": 2, "rules": 1})).await;
    deploy_as(&s, &boss, "shop", "one", guests::HELLO).await;
    deploy_as(&s, &boss, "shop", "two", guests::HELLO).await;
    let (status, body) = deploy(&s, &boss, "shop", "three").await;
    assert_quota_refusal(status, &body, 429, "functions quota of 2");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("PUT /api/v1/projects/shop/quota")
    );
    // A new version of an existing function is not a new function.
    deploy_as(&s, &boss, "shop", "one", guests::HELLO).await;
    let (_, quota) = s.call(&boss, Method::GET, "/projects/shop/quota", None).await;
    assert_eq!(quota["usage"]["functions"], 2, "{quota}");

    let rule = |name: &str| json!({"name": name, "sources": {"api": true}, "targets": [{"function": "one"}]});
    let (status, body) = s
        .call(&boss, Method::POST, "/projects/shop/rules", Some(rule("first")))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = s
        .call(&boss, Method::POST, "/projects/shop/rules", Some(rule("second")))
        .await;
    assert_quota_refusal(status, &body, 429, "rules quota of 1");

    // The org's quota holds all its projects together.
    let (status, body) = s
        .call(
            &boss,
            Method::POST,
            "/orgs/acme/projects",
            Some(json!({"name": "annex"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    set_quota(&s, "/orgs/acme/quota", json!({"functions": 2})).await;
    let (status, body) = deploy(&s, &boss, "annex", "three").await;
    assert_quota_refusal(
        status,
        &body,
        429,
        "org \"acme\" would pass its functions quota of 2",
    );
}

/// Eight deploys and eight rules at once against room for three and two:
/// each creation is counted in its own transaction, one of the org at a
/// time, so exactly that many go in.
async fn concurrent_creations_cannot_race_past_a_count(db: Db) {
    let s = Server::start(db).await;
    let boss = tenant(&s, "acme", "shop").await;
    set_quota(&s, "/projects/shop/quota", json!({"functions": 3, "rules": 2})).await;
    let deploys = (0..8).map(|i| {
        let (s, boss) = (&s, &boss);
        async move { deploy(s, boss, "shop", &format!("f{i}")).await }
    });
    let answers = futures::future::join_all(deploys).await;
    let made = created(&answers, "functions quota of 3");
    assert_eq!(made.len(), 3, "{answers:?}");
    let target = made[0]["name"].as_str().unwrap().to_owned();
    let rules = (0..8).map(|i| {
        let (s, boss) = (&s, &boss);
        let rule = json!({"name": format!("r{i}"), "sources": {"api": true},
                          "targets": [{"function": target}]});
        async move {
            s.call(boss, Method::POST, "/projects/shop/rules", Some(rule))
                .await
        }
    });
    let answers = futures::future::join_all(rules).await;
    assert_eq!(created(&answers, "rules quota of 2").len(), 2, "{answers:?}");
    let (_, quota) = s.call(&boss, Method::GET, "/projects/shop/quota", None).await;
    assert_eq!(
        (&quota["usage"]["functions"], &quota["usage"]["rules"]),
        (&json!(3), &json!(2)),
        "{quota}"
    );
}

/// The answers of creations that went in (201); every other one must be a
/// refusal of `quota`.
fn created<'a>(answers: &'a [(u16, Value)], quota: &str) -> Vec<&'a Value> {
    let mut made = Vec::new();
    for (status, body) in answers {
        match status {
            201 => made.push(body),
            _ => assert_quota_refusal(*status, body, 429, quota),
        }
    }
    made
}

/// Deploys hello as `name` in `project`: the status and the answer.
async fn deploy(s: &Server, token: &str, project: &str, name: &str) -> (u16, Value) {
    let resp = s.deploy_by(token, project, name, guests::HELLO).await;
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

async fn uploads_stop_at_the_stored_bytes_quota(db: Db) {
    let s = Server::start(db).await;
    let boss = tenant(&s, "acme", "shop").await;
    let (status, body) = s
        .call(
            &boss,
            Method::POST,
            "/projects/shop/buckets",
            Some(json!({"name": "b"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    set_quota(&s, "/projects/shop/quota", json!({"stored_bytes": 1000})).await;
    let object = |key: &str| format!("{}/api/v1/projects/shop/buckets/b/objects/{key}", s.url);
    let put = |key: &str, body: reqwest::Body| s.as_token(&boss, Method::PUT, &object(key)).body(body).send();
    let resp = put("a", vec![1u8; 600].into()).await.unwrap();
    assert_eq!(resp.status(), 201);
    // Declared past the room: refused before it is stored.
    let resp = put("b", vec![2u8; 600].into()).await.unwrap();
    let status = resp.status().as_u16();
    assert_quota_refusal(
        status,
        &resp.json().await.unwrap(),
        429,
        "stored_bytes quota of 1000",
    );
    // Streamed without a length: cut off once past the room.
    let chunks = (0..6).map(|_| Ok::<_, std::io::Error>(vec![3u8; 100]));
    let resp = put("b", reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert_quota_refusal(
        status,
        &resp.json().await.unwrap(),
        429,
        "stored_bytes quota of 1000",
    );
    let resp = s.as_token(&boss, Method::GET, &object("b")).send().await.unwrap();
    assert_eq!(resp.status(), 404, "nothing of a refused upload is stored");
    // Replacing an object gives its bytes back.
    let resp = put("a", vec![4u8; 900].into()).await.unwrap();
    assert_eq!(resp.status(), 201);
    let (_, quota) = s.call(&boss, Method::GET, "/projects/shop/quota", None).await;
    assert_eq!(quota["usage"]["stored_bytes"], 900, "{quota}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_past_the_stored_bytes_quota_sees_limit_exceeded() {
    let s = Server::start(Db::Sqlite).await;
    s.create_bucket("b").await;
    s.deploy("caps", guests::CAPS).await;
    s.put_role(
        "writer",
        json!([{"Effect": "Allow", "Action": "storage:PutObject",
                "Resource": "mrn:storage:${mc:org}:${mc:project}:bucket/b/*"}]),
    )
    .await;
    s.patch("caps", json!({"role": "writer"})).await;
    set_quota(&s, "/projects/default/quota", json!({"stored_bytes": 1000})).await;
    let put = |key: &str, repeat: u64| {
        let input = json!({"op": "put", "bucket": "b", "key": key, "body": "x", "repeat": repeat});
        s.call(
            &s.token,
            Method::POST,
            "/projects/default/functions/caps/invoke",
            Some(input),
        )
    };
    let (status, body) = put("a", 600).await;
    assert_eq!((status, body["size"].as_u64()), (200, Some(600)), "{body}");
    // The guest is told a quota stopped it, not that its arguments were bad.
    let (status, body) = put("b", 600).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["error"]["kind"], "limit-exceeded", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("stored_bytes quota of 1000"), "{message}");
}

/// Two tenants with the `faults` guest as public function `f`: `shop` of
/// org acme, `calm` of org rival.
async fn two_tenants() -> Server {
    let s = Server::start(Db::Sqlite).await;
    let boss = tenant(&s, "acme", "shop").await;
    let rival = tenant(&s, "rival", "calm").await;
    deploy_as(&s, &boss, "shop", "f", guests::FAULTS).await;
    deploy_as(&s, &rival, "calm", "f", guests::FAULTS).await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_trigger_past_its_rate_is_refused_and_others_are_served() {
    let s = two_tenants().await;
    set_quota(&s, "/projects/shop/quota", json!({"rps": 2})).await;
    let url = |project: &str| format!("{}/fn/{project}/f/ok", s.url);
    let mut refused = None;
    for _ in 0..50 {
        let resp = s.http.get(url("shop")).send().await.unwrap();
        if resp.status() == 429 {
            refused = Some(resp);
            break;
        }
        assert_eq!(resp.status(), 200);
    }
    let resp = refused.expect("calls past 2 a second are refused");
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert_quota_refusal(429, &body, 429, "rps quota of 2");
    for _ in 0..10 {
        let resp = s.http.get(url("calm")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "another project keeps its own rate");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_at_its_concurrency_quota_waits_alone() {
    let s = two_tenants().await;
    set_quota(&s, "/projects/shop/quota", json!({"concurrency": 1})).await;
    // One runs, four wait in the project's queue, the others are refused.
    let burst: Vec<_> = (0..8)
        .map(|_| {
            let http = s.http.clone();
            let url = format!("{}/fn/shop/f/slow?ms=1500", s.url);
            tokio::spawn(async move {
                let resp = http.get(url).send().await.unwrap();
                let status = resp.status().as_u16();
                let retry = resp.headers().get("retry-after").cloned();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                (status, retry, body)
            })
        })
        .collect();
    let running = eventually(Duration::from_secs(10), || async {
        let (_, q) = s.call(&s.token, Method::GET, "/projects/shop/quota", None).await;
        (q["usage"]["concurrency"] == 1).then_some(q)
    })
    .await;
    assert!(running.is_some(), "shop's one instance runs");
    // Meanwhile another project is served at once.
    let resp = s
        .http
        .get(format!("{}/fn/calm/f/ok", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        burst.iter().any(|call| !call.is_finished()),
        "the other project did not wait for shop's queue"
    );
    let (mut ok, mut refused) = (0, 0);
    for call in burst {
        let (status, retry, body) = call.await.unwrap();
        match status {
            200 => ok += 1,
            429 => {
                assert_eq!(retry.unwrap(), "1");
                assert_quota_refusal(status, &body, 429, "concurrency quota of 1");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(
        (1..=5).contains(&ok),
        "at most the instance and its queue: ok={ok}"
    );
    assert!(refused >= 3, "refused={refused}");
}
