//! Instance reuse between tenants: a warm instance's state stays with its
//! function (another org deploying the same bytes gets instances of its
//! own), one tenant's idle warm instances can neither keep the node's
//! instance pool from another nor end another's warm instances by
//! crowding it, and the memory they keep counts against their own
//! tenant's quota. Requests one instance serves at once each act for
//! their own caller; a composition, whose inner calls could outlive their
//! request and act for the next one's caller, never reuses instances.

use super::tenant;
use minicloud_tests::{Db, Server, eventually, guests, refused};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

crate::on_both_databases!(
    warm_instances_stay_with_their_function,
    idle_warm_instances_hold_their_memory_in_their_own_quota,
    a_full_quota_waits_for_the_functions_own_instance,
    requests_served_at_once_act_for_their_own_callers,
    composed_components_never_reuse_instances,
);

const REUSE: &str = r#"{"reuse": {"max_requests": 1000, "max_concurrent": 1, "idle_timeout_ms": 600000}}"#;

/// `GET /fn/{project}/{name}/count`: the instance's request count.
async fn count(s: &Server, project: &str, name: &str) -> String {
    let resp = s
        .http
        .get(format!("{}/fn/{project}/{name}/count", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{project}/{name}");
    resp.headers()["x-instance-requests"].to_str().unwrap().to_owned()
}

/// Deploys faults-p3 as `project/name` with `token` and turns reuse on.
async fn warm(s: &Server, token: &str, project: &str, name: &str) {
    let resp = s.deploy_by(token, project, name, guests::FAULTS_P3).await;
    assert!(
        resp.status().is_success(),
        "deploy {project}/{name}: {}",
        resp.status()
    );
    let url = format!("{}/api/v1/projects/{project}/functions/{name}", s.url);
    let resp = s
        .as_token(token, Method::PATCH, &url)
        .header("content-type", "application/json")
        .body(REUSE)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "reuse on {project}/{name}");
}

async fn warm_instances_stay_with_their_function(db: Db) {
    // 8 slots: reused instances may hold 4 of them; every project may run
    // 8 instances at once.
    let s = Server::start_with(
        db,
        &[
            "--pool-instances",
            "8",
            "--project-quota",
            "concurrency=8",
            "--org-quota",
            "concurrency=8",
        ],
    )
    .await;
    let mallory = tenant(&s, "mallory", "heist").await;
    // (Made before any instance is warm: a change of IAM reloads every
    // function, which ends their idle instances.)
    let bystander = tenant(&s, "bystander", "quiet").await;
    warm(&s, &s.token, "default", "ours").await;
    assert_eq!(count(&s, "default", "ours").await, "1");
    assert_eq!(count(&s, "default", "ours").await, "2");

    // The same bytes in another org, reused: instances of their own, which
    // neither see nor change ours.
    warm(&s, &mallory, "heist", "theirs").await;
    assert_eq!(count(&s, "heist", "theirs").await, "1");
    assert_eq!(count(&s, "default", "ours").await, "3");
    // A third org keeps one warm too.
    warm(&s, &bystander, "quiet", "calm").await;
    assert_eq!(count(&s, "quiet", "calm").await, "1");

    // Mallory keeps five functions warm and idle: past half of the pool
    // (4 of 8 slots), the idle instances of the org over its share (one of
    // those 4 each, with three orgs) end, rather than hold the slots every
    // tenant's fresh instances need; ours and the bystander's, within
    // their shares, stay warm.
    for i in 0..5 {
        let name = format!("warm{i}");
        warm(&s, &mallory, "heist", &name).await;
        assert_eq!(count(&s, "heist", &name).await, "1");
    }
    // Each of mallory's starts past the limit ends its idle instances
    // until the node is back at the limit: which of them end is the order
    // their tasks wake in, so what is checked is the count (eight warm
    // without the crowding) and, below, whose stayed warm.
    let back = eventually(Duration::from_secs(5), || async {
        let live = s.metric("minicloud_reused_instances", "").await;
        (live <= 4.0).then_some(live)
    })
    .await;
    assert!(
        back.is_some(),
        "mallory's idle instances did not end when the pool crowded: {} reused instances",
        s.metric("minicloud_reused_instances", "").await
    );
    assert_eq!(
        count(&s, "default", "ours").await,
        "4",
        "ours kept its warm instance: mallory's crowding is mallory's"
    );
    assert_eq!(count(&s, "quiet", "calm").await, "2", "so did the bystander's");

    // Mallory writing its IAM (over and over, say) reloads its own
    // functions, not ours: before, every function on the node was
    // reloaded, ending every org's warm instances.
    let doc =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let policy = json!({"name": "churn", "document": doc});
    let (status, body) = s
        .call(&mallory, Method::POST, "/orgs/mallory/policies", Some(policy))
        .await;
    assert!((200..300).contains(&status), "{status} {body}");
    assert_eq!(count(&s, "default", "ours").await, "5", "ours stayed warm");

    // Our fresh 0.3 instances (the engine whose pool reused ones share)
    // still find the half of the pool that reused ones cannot hold: four
    // at once, with four warm instances idle.
    s.deploy("hello-p3", guests::HELLO_P3).await;
    let calls = (0..4).map(|_| s.http.get(s.fn_url("hello-p3", "/")).send());
    for resp in futures::future::join_all(calls).await {
        assert_eq!(resp.unwrap().status(), 200);
    }
}

/// Sets `project`'s memory quota (as the administrator).
async fn memory_quota(s: &Server, project: &str, mib: u64) {
    let path = format!("/projects/{project}/quota");
    let quota = json!({"memory_mib": mib});
    let (status, body) = s.call(&s.token, Method::PUT, &path, Some(quota)).await;
    assert_eq!(status, 200, "{body}");
}

/// Sets the memory limit of `project/name` with `token`.
async fn memory_limit(s: &Server, token: &str, project: &str, name: &str, mib: u64) {
    let path = format!("/projects/{project}/functions/{name}");
    let limits = json!({"limits": {"memory_mib": mib}});
    let (status, body) = s.call(token, Method::PATCH, &path, Some(limits)).await;
    assert_eq!(status, 200, "{body}");
}

/// `GET /fn/{project}/{name}{path}`, asserting 200.
async fn call_ok(s: &Server, project: &str, name: &str, path: &str) {
    let resp = s
        .http
        .get(format!("{}/fn/{project}/{name}{path}", s.url))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_eq!(
        status,
        200,
        "{project}/{name}{path}: {}",
        resp.text().await.unwrap()
    );
}

/// Waits (5 s at most) until the project's quota usage is `want`
/// (running instances, MiB reserved): a request's place is given back as
/// its response ends, an idle instance's memory as it ends.
async fn usage_settles(s: &Server, project: &str, want: (u64, u64), why: &str) {
    let path = format!("/projects/{project}/quota");
    let mut last = Value::Null;
    let settled = eventually(Duration::from_secs(5), || async {
        let (status, quota) = s.call(&s.token, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{quota}");
        let usage = &quota["usage"];
        let got = (
            usage["concurrency"].as_u64().unwrap(),
            usage["memory_mib"].as_u64().unwrap(),
        );
        (got == want).then_some(())
    })
    .await;
    if settled.is_none() {
        last = s.call(&s.token, Method::GET, &path, None).await.1;
    }
    assert!(settled.is_some(), "{why}: want {want:?}, usage {}", last["usage"]);
}

async fn idle_warm_instances_hold_their_memory_in_their_own_quota(db: Db) {
    let s = Server::start(db).await;
    let mallory = tenant(&s, "mallory", "heist").await;
    memory_quota(&s, "heist", 256).await;
    warm(&s, &s.token, "default", "ours").await;
    assert_eq!(count(&s, "default", "ours").await, "1");

    // Mallory makes five warm functions of 64 MiB, keeps four warm (each
    // instance keeping 32 MiB of it) and lets them idle. Before, an idle instance held its
    // memory outside every quota: enough such functions would take the
    // node's memory whatever the quota said.
    for i in 0..5 {
        let name = format!("warm{i}");
        warm(&s, &mallory, "heist", &name).await;
        memory_limit(&s, &mallory, "heist", &name, 64).await;
    }
    for i in 0..4 {
        call_ok(&s, "heist", &format!("warm{i}"), "/keep?mb=32").await;
    }
    usage_settles(&s, "heist", (0, 256), "four idle instances hold 4 x 64 MiB").await;

    // A fifth instance finds the quota full of idle ones: they are asked
    // to end and it is served, within the quota.
    call_ok(&s, "heist", "warm4", "/count").await;
    usage_settles(&s, "heist", (0, 64), "the idle four end; the fifth alone holds").await;
    assert_eq!(
        count(&s, "heist", "warm0").await,
        "1",
        "warm0's idle instance ended: its kept memory is gone"
    );

    // A fresh instance (128 MiB) of the same tenant gets its memory back
    // from its idle warm instances too (warm4 and warm0 are warm again).
    for i in 1..3 {
        call_ok(&s, "heist", &format!("warm{i}"), "/count").await;
    }
    usage_settles(&s, "heist", (0, 256), "four warm again").await;
    let resp = s.deploy_by(&mallory, "heist", "plain", guests::FAULTS_P3).await;
    assert!(resp.status().is_success(), "deploy plain: {}", resp.status());
    call_ok(&s, "heist", "plain", "/count").await;

    // An instance larger than the whole quota is refused, as a quota.
    let path = "/projects/heist/functions/warm0";
    let huge = json!({"limits": {"memory_mib": 512}});
    let (status, body) = s.call(&mallory, Method::PATCH, path, Some(huge)).await;
    assert_eq!(status, 200, "{body}");
    let resp = s
        .http
        .get(format!("{}/fn/heist/warm0/count", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("memory_mib quota of 256"), "{message}");

    // Another org's warm instance never heard mallory's calls for memory.
    assert_eq!(count(&s, "default", "ours").await, "2");
}

/// A project whose memory quota holds one instance of a reused function,
/// busy (160 ms): the next request waits for that instance and is served
/// there. Before, a new instance was made for it, which asked the project's idle
/// instances to end: the busy one ended as soon as it was free, taking
/// what it kept in memory, and every request past the quota cost a new
/// instance.
async fn a_full_quota_waits_for_the_functions_own_instance(db: Db) {
    let s = Server::start(db).await;
    memory_quota(&s, "default", 64).await;
    warm(&s, &s.token, "default", "one").await;
    memory_limit(&s, &s.token, "default", "one", 64).await;
    assert_eq!(count(&s, "default", "one").await, "1");

    let slow = {
        let http = s.http.clone();
        let url = format!("{}/fn/default/one/sleep?ms=160", s.url);
        tokio::spawn(async move { http.get(url).send().await.unwrap() })
    };
    // Margins both ways: the slow request is still running when the next
    // arrives, and ends well within the next one's 250 ms wait.
    tokio::time::sleep(Duration::from_millis(35)).await;
    assert_eq!(
        count(&s, "default", "one").await,
        "3",
        "served by the same instance, after the slow request"
    );
    let slow = slow.await.unwrap();
    assert_eq!(slow.status(), 200);
    assert_eq!(slow.headers()["x-instance-requests"], "2");
}

/// `GET /fn/default/{name}{path}` with `token`: the body, the instance's
/// request count and the invocation's id.
async fn whoami(s: &Server, token: &str, name: &str, path: &str) -> (String, String, String) {
    let resp = s
        .as_token(token, Method::GET, &s.fn_url(name, path))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    let header = |name: &str| resp.headers()[name].to_str().unwrap().to_owned();
    let (served, id) = (header("x-instance-requests"), header("x-minicloud-invocation-id"));
    (resp.text().await.unwrap(), served, id)
}

/// The log lines of `who`'s invocation `id`, once recorded, sorted.
async fn logged(s: &Server, id: &str) -> Vec<String> {
    let mut text = s.log_lines("who", id).await;
    text.sort();
    text
}

/// A reused instance serving two callers' requests at once: each request's
/// host calls act for its own caller, whichever started later, and so does
/// the work a request goes on with after its response; each request's
/// printed and `wasi:logging` lines are in its own record. Before, the instance acted
/// for the request started last: a caller could have the function ask the
/// platform about (and authorize by) another caller's identity.
async fn requests_served_at_once_act_for_their_own_callers(db: Db) {
    let s = Server::start(db).await;
    for (path, body) in [
        ("/orgs/default/users", json!({"name": "bob"})),
        (
            "/orgs/default/bindings",
            json!({"principal": "bob", "role": "OrgAdmin"}),
        ),
    ] {
        let (status, answer) = s.call(&s.token, Method::POST, path, Some(body)).await;
        assert_eq!(status, 201, "POST {path}: {answer}");
    }
    let (status, key) = s
        .call(
            &s.token,
            Method::POST,
            "/orgs/default/users/bob/keys",
            Some(json!({"name": "k"})),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let bob = key["token"].as_str().unwrap().to_owned();
    s.deploy_with(
        "who",
        "?http_auth=authenticated&reuse=1000,4,600000",
        guests::FAULTS_P3,
    )
    .await;

    // Alone, each caller is named as itself.
    let (admin_is, served, _) = whoami(&s, &s.token, "who", "/whoami").await;
    assert_eq!(served, "1");
    let (bob_is, served, _) = whoami(&s, &bob, "who", "/whoami").await;
    assert_eq!(served, "2", "one instance serves both");
    assert!(admin_is.starts_with("api-key ") && bob_is.starts_with("api-key "));
    assert_ne!(admin_is, bob_is);

    // The admin's request waits; bob's starts meanwhile on the same
    // instance and ends first; the admin's asks only then.
    let admin = whoami(&s, &s.token, "who", "/whoami?ms=3000");
    let later = async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        whoami(&s, &bob, "who", "/whoami").await
    };
    let ((admin_seen, admin_served, admin_id), (bob_seen, bob_served, bob_id)) = tokio::join!(admin, later);
    assert_eq!(
        (admin_served.as_str(), bob_served.as_str()),
        ("3", "4"),
        "both requests on the one instance, at once"
    );
    assert_eq!(bob_seen, bob_is);
    assert_eq!(admin_seen, admin_is, "the admin's request acted for bob");
    let printed = |n: u32| format!("faults-p3: /whoami (request {n} of this instance)");
    assert_eq!(
        logged(&s, &admin_id).await,
        [printed(3), format!("whoami: {admin_is}")]
    );
    assert_eq!(
        logged(&s, &bob_id).await,
        [printed(4), format!("whoami: {bob_is}")]
    );

    // Work after the response: the admin's request asks again a second
    // after it answered, while bob's (started since) is still running.
    let (answered, _, _) = whoami(&s, &s.token, "who", "/whoami?after=1000").await;
    assert_eq!(answered, admin_is);
    let (bob_seen, _, bob_id) = whoami(&s, &bob, "who", "/whoami?ms=3000").await;
    assert_eq!(bob_seen, bob_is);
    let (asked_later, served, _) = whoami(&s, &bob, "who", "/later").await;
    assert_eq!(served, "7", "the one instance still");
    assert_eq!(
        asked_later, admin_is,
        "the admin's request's later work acted for bob"
    );
    // Its line, logged after its record was written, is not lost: it goes
    // to the instance's next record (bob's, which ended next).
    let mut want = [
        printed(6),
        format!("whoami: {admin_is}"),
        format!("whoami: {bob_is}"),
    ];
    want.sort();
    assert_eq!(logged(&s, &bob_id).await, want);
}

/// The 0.3 test guest with one more inner component, which holds a core
/// module of its own: to the platform, a composition (one whose inner
/// components run code). The inner component is never instantiated, so
/// the guest serves as before.
fn composed_faults_p3() -> Vec<u8> {
    let mut inner = b"\0asm\x0d\x00\x01\x00".to_vec();
    inner.extend_from_slice(b"\x01\x08\0asm\x01\0\0\0");
    let mut bytes = std::fs::read(guests::FAULTS_P3).unwrap();
    bytes.push(4);
    bytes.push(u8::try_from(inner.len()).unwrap());
    bytes.extend_from_slice(&inner);
    bytes
}

/// A call between a composition's inner components is a task of its own,
/// which can outlive the request's task that made it; the store gives the
/// dead task's slot to the next request, and the inner task's host calls
/// would then act for that request's caller. So a composition is refused
/// reuse at its deploy and at a change, and a load serves it from fresh
/// instances whatever its settings say; the same guest without the inner
/// component reuses. (The fixture's inner component is never
/// instantiated: the test shows what is refused, not a subtask outliving
/// its task.)
async fn composed_components_never_reuse_instances(db: Db) {
    let mut s = Server::start(db).await;
    let composed = composed_faults_p3();
    let resp = s
        .deploy_bytes("composed", "?reuse=10,2,5000", composed.clone())
        .await;
    let message = refused(resp, 400, "reuse_unsupported").await;
    assert!(message.contains("composed component"), "{message}");

    let resp = s.deploy_bytes("composed", "", composed).await;
    assert!(resp.status().is_success(), "{}", resp.status());
    for _ in 0..2 {
        assert_eq!(
            count(&s, "default", "composed").await,
            "1",
            "a fresh instance each"
        );
    }
    let patch = |name: &str| {
        s.authed(Method::PATCH, &s.api(&format!("/functions/{name}")))
            .header("content-type", "application/json")
            .body(REUSE)
            .send()
    };
    let message = refused(patch("composed").await.unwrap(), 400, "reuse_unsupported").await;
    assert!(message.contains("version 1"), "{message}");
    assert_eq!(
        count(&s, "default", "composed").await,
        "1",
        "the refused change changed nothing"
    );

    s.deploy("plain", guests::FAULTS_P3).await;
    assert_eq!(patch("plain").await.unwrap().status(), 200);
    assert_eq!(count(&s, "default", "plain").await, "1");
    assert_eq!(count(&s, "default", "plain").await, "2", "the guest alone reuses");

    // A composition given reuse before deploys and changes refused it (its
    // settings written as an older server wrote them) serves from fresh
    // instances: by what its deploy recorded, and, for a version deployed
    // before that was recorded, by its original bytes.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.database_url()).await.unwrap();
    let reuse = r#"{"max_requests": 1000, "max_concurrent": 1, "idle_timeout_ms": 600000}"#;
    let updated = sqlx::query("UPDATE functions SET reuse_json = $1 WHERE name = 'composed'")
        .bind(reuse)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 1);
    for recorded in [true, false] {
        if !recorded {
            let forgot = sqlx::query(
                "UPDATE function_versions SET composed = NULL \
                 WHERE function_id = (SELECT id FROM functions WHERE name = 'composed')",
            )
            .execute(&pool)
            .await
            .unwrap();
            assert_eq!(forgot.rows_affected(), 1);
        }
        s.restart().await;
        let view = s.get_json(&s.api("/functions/composed")).await;
        assert_eq!(view["reuse"]["max_requests"], 1000, "{view}");
        for _ in 0..2 {
            let served = count(&s, "default", "composed").await;
            assert_eq!(served, "1", "fresh at its load (recorded: {recorded})");
        }
        assert_eq!(count(&s, "default", "plain").await, "1");
        assert_eq!(
            count(&s, "default", "plain").await,
            "2",
            "the guest alone still reuses"
        );
    }
    pool.close().await;
}
