//! WASI 0.3 HTTP components (`wasi:http/handler@0.3.0`), compiled for the
//! engine with the component model's async ABI beside 0.2 ones on the other:
//! deployed and served as 0.2 ones are, each request in a fresh instance,
//! with bodies streaming both ways, the function's limits, its logs and its
//! records.

use minicloud_tests::{Db, Server, drain_counting, eventually, generated_counting, guests, refused};
use serde_json::json;
use std::time::Duration;

crate::on_both_databases!(wasi_03_components_serve_http);

async fn wasi_03_components_serve_http(db: Db) {
    // A 0.2 and a 0.3 component on one server, each compiled for its own
    // engine (only the 0.3 one pays for the async ABI): two artifacts,
    // under two engine fingerprints.
    let mut s = Server::start(db).await;
    s.deploy("hello", guests::HELLO).await;
    let deployed = s.deploy("hello-p3", guests::HELLO_P3).await;
    assert_eq!(deployed["world"], "http", "{deployed}");
    assert_eq!(
        s.artifacts_per_engine(),
        [1, 1],
        "one artifact under each engine's fingerprint"
    );
    // A restart finds each artifact under its engine: nothing compiles.
    s.restart().await;
    let loaded = eventually(Duration::from_secs(10), || async {
        (s.metric("minicloud_artifact_loads_total", "").await >= 2.0).then_some(())
    })
    .await;
    assert!(
        loaded.is_some(),
        "both artifacts loaded ahead of their first calls"
    );
    assert_eq!(
        s.get_text(&s.fn_url("hello", "/?name=two")).await,
        "Hello, two! (from MiniCloud)\n"
    );
    assert_eq!(s.metric("minicloud_compilations_total", "").await, 0.0);

    // A fresh instance per request: each answers as its instance's first.
    for _ in 0..3 {
        let resp = s
            .http
            .get(s.fn_url("hello-p3", "/?name=wasi"))
            .header("x-request-id", "p3-trace")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-instance-requests"], "1");
        assert_eq!(
            resp.text().await.unwrap(),
            "Hello, wasi! (from MiniCloud, WASI 0.3)\n"
        );
    }

    // 64 MiB up and back down, generated on the fly: the guest hands the
    // request's body stream to its response without reading it.
    let chunks = (0..1024u32).map(|i| Ok::<_, std::io::Error>(vec![(i % 251) as u8; 64 * 1024]));
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    s.patch(
        "hello-p3",
        json!({ "limits": { "max_request_bytes": 1u64 << 30, "timeout_ms": 120000 } }),
    )
    .await;
    let resp = s
        .http
        .post(s.fn_url("hello-p3", "/echo"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(drain_counting(resp).await, generated_counting(1024));

    // The function's limits hold: a body past its request limit is refused,
    // an answer past its response limit is not passed on.
    s.patch(
        "hello-p3",
        json!({ "limits": { "max_request_bytes": 1000, "max_response_bytes": 10 } }),
    )
    .await;
    let resp = s
        .http
        .post(s.fn_url("hello-p3", "/echo"))
        .body(vec![7u8; 5000])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    // The greeting streams without a length: refused with the error when
    // it passes the limit before its head goes out (the host gathers a
    // body its guest ends at once), the connection cut if after.
    let stopped = match s.http.get(s.fn_url("hello-p3", "/")).send().await {
        Ok(resp) if resp.status() == 502 => {
            let body: serde_json::Value = resp.json().await.unwrap();
            body["error"]["code"] == "response_too_large"
        }
        Ok(resp) => resp.bytes().await.map_or(true, |body| body.len() <= 10),
        Err(_) => true,
    };
    assert!(stopped, "a 41-byte greeting passed a 10-byte response limit");

    // Logs and records, as for 0.2 functions.
    let records = eventually(Duration::from_secs(10), || async {
        let page = s
            .get_json(&s.api("/functions/hello-p3/invocations?limit=100"))
            .await;
        let items = page["items"].as_array().unwrap().clone();
        (items.len() >= 5).then_some(items)
    })
    .await
    .expect("five invocation records (the 413 was refused before the guest)");
    let ok = records
        .iter()
        .filter(|r| r["http_status"] == 200 && r["outcome"] == "ok")
        .count();
    assert!(ok >= 4, "{records:#?}");
    // The greeting cut at its limit is recorded as the client saw it: the
    // record waits for the host to be done with the body.
    assert!(
        records.iter().any(|r| r["outcome"] == "response_too_large"),
        "{records:#?}"
    );
    let traced = records
        .iter()
        .find(|r| r["trace_id"] == "p3-trace")
        .expect("a record with the request's trace id");
    let invocation = traced["id"].as_str().unwrap();
    let logs = s
        .get_json(&s.api(&format!("/functions/hello-p3/logs?invocation_id={invocation}")))
        .await;
    assert_eq!(logs["items"][0]["line"], "hello-p3: GET /?name=wasi", "{logs}");
}

/// A WASI 0.3 response whose guest waits after its first chunk has its
/// head and that chunk sent while the guest waits, fresh or reused (the
/// host gathers what a 0.3 body has ready before its head goes out, but
/// not past a few turns of the scheduler); a body that ends at once
/// arrives complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p3_heads_go_out_while_the_guest_waits() {
    let s = Server::start(Db::Sqlite).await;
    s.deploy_with("trickle", "?timeout_ms=120000", guests::FAULTS_P3)
        .await;
    s.deploy_with(
        "trickle-reused",
        "?timeout_ms=120000&reuse=10,2,5000",
        guests::FAULTS_P3,
    )
    .await;
    for name in ["trickle", "trickle-reused"] {
        let resp = s.http.get(s.fn_url(name, "/trickle?ms=0")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{name}");
        assert_eq!(resp.text().await.unwrap(), "first\nsecond\n", "{name}");
        // The guest sleeps 60 s after its first chunk.
        crate::streaming::head_and_first_chunk_come_while_it_waits(&s, name).await;
    }
}

/// A WASI 0.3 component from another toolchain: the Python hello, built
/// with componentize-py, served fresh by default and reused by opt-in (the
/// interpreter and its state live on), its printed line in its record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_wasi_03_components_serve_and_reuse() {
    let s = Server::start(Db::Sqlite).await;
    s.deploy("hello-py", guests::HELLO_P3_PY).await;
    let get = || async {
        let resp = s
            .http
            .get(s.fn_url("hello-py", "/?name=py"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let header = |name: &str| resp.headers()[name].to_str().unwrap().to_owned();
        let (served, id) = (header("x-instance-requests"), header("x-minicloud-invocation-id"));
        assert_eq!(resp.text().await.unwrap(), "Hello, py! (from Python, WASI 0.3)\n");
        (served, id)
    };
    assert_eq!(get().await.0, "1");
    assert_eq!(get().await.0, "1", "a fresh instance a request by default");
    let on = json!({ "max_requests": 10, "max_concurrent": 2, "idle_timeout_ms": 60000 });
    s.patch("hello-py", json!({ "reuse": on })).await;
    assert_eq!(get().await.0, "1");
    let (served, id) = get().await;
    assert_eq!(served, "2", "reused: the instance's count goes on");
    let lines = s.log_lines("hello-py", &id).await;
    assert_eq!(lines[0], "hello-p3-py: /?name=py", "{lines:?}");
}

crate::on_both_databases!(instances_are_reused_by_opt_in);

/// `GET /fn/.../faults-p3{path}`: the status, the instance's request count
/// (0 when the guest did not answer) and the invocation id.
async fn call(s: &Server, name: &str, path: &str) -> (u16, u64, String) {
    let resp = s.http.get(s.fn_url(name, path)).send().await.unwrap();
    let status = resp.status().as_u16();
    if status != 200 {
        let id = resp.headers().get("x-request-id").cloned();
        let body = resp.text().await.unwrap();
        eprintln!("{path}: {status} {id:?} {body}");
        return (status, 0, String::new());
    }
    let served = resp
        .headers()
        .get("x-instance-requests")
        .map_or(0, |v| v.to_str().unwrap().parse().unwrap());
    let id = resp
        .headers()
        .get("x-minicloud-invocation-id")
        .map_or_else(String::new, |v| v.to_str().unwrap().to_owned());
    resp.bytes().await.unwrap();
    (status, served, id)
}

/// The instance request counts of `n` calls of `path`, one after another.
async fn counts(s: &Server, name: &str, path: &str, n: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    for _ in 0..n {
        let (status, served, _) = call(s, name, path).await;
        assert_eq!(status, 200, "{path}");
        seen.push(served);
    }
    seen
}

async fn reuse(s: &Server, name: &str, setting: serde_json::Value) -> reqwest::Response {
    s.authed(reqwest::Method::PATCH, &s.api(&format!("/functions/{name}")))
        .json(&json!({ "reuse": setting }))
        .send()
        .await
        .unwrap()
}

async fn instances_are_reused_by_opt_in(db: Db) {
    let s = Server::start(db).await;
    s.deploy("faults-p3", guests::FAULTS_P3).await;
    assert_eq!(
        counts(&s, "faults-p3", "/count", 2).await,
        [1, 1],
        "fresh by default"
    );

    let on = json!({ "max_requests": 3, "max_concurrent": 1, "idle_timeout_ms": 60000 });
    let view = s.patch("faults-p3", json!({ "reuse": on })).await;
    assert_eq!(view["reuse"], on);
    assert_eq!(
        counts(&s, "faults-p3", "/count", 7).await,
        [1, 2, 3, 1, 2, 3, 1],
        "an instance serves max_requests, then a new one starts"
    );

    // Each request has its record, with the log lines it wrote and no
    // other's.
    let mut ids = Vec::new();
    for n in 2..=3 {
        let (_, served, id) = call(&s, "faults-p3", "/count").await;
        assert_eq!(served, n);
        ids.push((n, id));
    }
    for (n, id) in ids {
        let text = s.log_lines("faults-p3", &id).await;
        assert_eq!(
            text,
            [format!("faults-p3: /count (request {n} of this instance)")]
        );
        let record = eventually(Duration::from_secs(10), || async {
            let page = s
                .get_json(&s.api("/functions/faults-p3/invocations?limit=100"))
                .await;
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == id.as_str())
                .cloned()
        })
        .await
        .expect("the request's record");
        assert_eq!(
            (record["outcome"].as_str(), record["http_status"].as_i64()),
            (Some("ok"), Some(200))
        );
    }

    // A settings change loads the function afresh: the old instance, which
    // no request can reach any more, ends at once, not after its idle
    // timeout.
    assert_eq!(counts(&s, "faults-p3", "/count", 1).await, [1]);
    s.patch("faults-p3", json!({ "env": { "CHANGED": "1" } })).await;
    assert_eq!(counts(&s, "faults-p3", "/count", 1).await, [1]);
    let one_left = eventually(Duration::from_secs(10), || async {
        (s.metric("minicloud_reused_instances", "").await == 1.0).then_some(())
    })
    .await;
    assert!(
        one_left.is_some(),
        "the replaced function's idle instance lives on"
    );

    // State never crosses functions: the same bytes under another name
    // have instances of their own.
    s.deploy("other-p3", guests::FAULTS_P3).await;
    s.patch("other-p3", json!({ "reuse": on })).await;
    assert_eq!(counts(&s, "other-p3", "/count", 2).await, [1, 2]);

    // A trap ends the instance; the next request gets a fresh one.
    let many = json!({ "max_requests": 1000, "max_concurrent": 1, "idle_timeout_ms": 60000 });
    s.patch("faults-p3", json!({ "reuse": many })).await;
    assert_eq!(counts(&s, "faults-p3", "/count", 2).await, [1, 2]);
    let resp = s.http.get(s.fn_url("faults-p3", "/panic")).send().await.unwrap();
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (502, Some("trap")),
        "{body}"
    );
    assert_eq!(counts(&s, "faults-p3", "/count", 2).await, [1, 2]);

    // The timeout holds per request, for a guest waiting on I/O and for
    // one that spins; the instance ends with it.
    s.patch("faults-p3", json!({ "limits": { "timeout_ms": 500 } }))
        .await;
    for path in ["/sleep?ms=5000", "/loop"] {
        let resp = s.http.get(s.fn_url("faults-p3", path)).send().await.unwrap();
        assert_eq!(resp.status(), 504, "{path}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "timeout", "{path}: {body}");
        assert_eq!(counts(&s, "faults-p3", "/count", 1).await, [1], "after {path}");
    }

    // The memory limit holds per instance: what one request keeps counts
    // against the next.
    s.patch(
        "faults-p3",
        json!({ "limits": { "memory_mib": 64, "timeout_ms": 10000 } }),
    )
    .await;
    let mut kept = Vec::new();
    for _ in 0..4 {
        kept.push(call(&s, "faults-p3", "/keep?mb=20").await.0);
    }
    assert_eq!(kept[..2], [200, 200]);
    assert!(kept.contains(&502), "80 MiB kept in a 64 MiB instance: {kept:?}");
    let resp = s.http.get(s.fn_url("faults-p3", "/alloc")).send().await.unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "memory_limit", "{body}");
    assert_eq!(counts(&s, "faults-p3", "/count", 1).await, [1]);

    // An idle instance ends after the idle timeout.
    let brief = json!({ "max_requests": 1000, "max_concurrent": 1, "idle_timeout_ms": 100 });
    s.patch("faults-p3", json!({ "reuse": brief })).await;
    assert_eq!(counts(&s, "faults-p3", "/count", 1).await, [1]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(counts(&s, "faults-p3", "/count", 1).await, [1]);

    // Several at once with max_concurrent: all answered.
    let wide = json!({ "max_requests": 1000, "max_concurrent": 8, "idle_timeout_ms": 60000 });
    s.patch("faults-p3", json!({ "reuse": wide })).await;
    let calls = (0..8).map(|_| call(&s, "faults-p3", "/sleep?ms=200"));
    let answers = futures::future::join_all(calls).await;
    assert!(
        answers
            .iter()
            .all(|(status, served, _)| *status == 200 && *served >= 1),
        "{answers:?}"
    );

    // Off again: a fresh instance per request.
    let view = s.patch("faults-p3", json!({ "reuse": "off" })).await;
    assert!(view["reuse"].is_null(), "{view}");
    assert_eq!(counts(&s, "faults-p3", "/count", 2).await, [1, 1]);

    // Refusals that say what to fix.
    for bad in [
        json!({ "max_requests": 0, "max_concurrent": 1, "idle_timeout_ms": 1000 }),
        json!({ "max_requests": 5, "max_concurrent": 1 }),
        json!({ "max_requests": 5, "max_concurrent": 1, "idle_timeout_ms": 1000, "warm": 2 }),
        json!("on"),
    ] {
        refused(reuse(&s, "faults-p3", bad).await, 400, "invalid_reuse").await;
    }
    s.deploy("hello", guests::HELLO).await;
    let message = refused(reuse(&s, "hello", on.clone()).await, 400, "reuse_unsupported").await;
    assert!(message.contains("wasi:http/handler@0.3.0"), "{message}");
    s.patch("faults-p3", json!({ "reuse": on })).await;
    let resp = s
        .deploy_bytes("faults-p3", "", std::fs::read(guests::HELLO).unwrap())
        .await;
    refused(resp, 400, "reuse_unsupported").await;
    assert_eq!(
        counts(&s, "faults-p3", "/count", 2).await,
        [1, 2],
        "the refused deploy changed nothing"
    );

    // The deploy's query sets reuse with the code: a component that
    // cannot reuse is refused before it lands, and `off` lets one replace
    // a function that reused.
    let deployed = s
        .deploy_with("p3-reused", "?reuse=10,2,5000", guests::FAULTS_P3)
        .await;
    let short = json!({ "max_requests": 10, "max_concurrent": 2, "idle_timeout_ms": 5000 });
    assert_eq!(deployed["reuse"], short, "{deployed}");
    assert_eq!(s.get_json(&s.api("/functions/p3-reused")).await["reuse"], short);
    assert_eq!(counts(&s, "p3-reused", "/count", 2).await, [1, 2]);
    let hello = std::fs::read(guests::HELLO).unwrap();
    let resp = s
        .deploy_bytes("hello-reused", "?reuse=10,2,5000", hello.clone())
        .await;
    let message = refused(resp, 400, "reuse_unsupported").await;
    assert!(message.contains("reuse=off"), "{message}");
    let resp = s
        .authed(reqwest::Method::GET, &s.api("/functions/hello-reused"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "the refused deploy made no function");
    for bad in ["0,2,5000", "10,2", "10,2,5000,1", "on", "10,2,-1"] {
        let resp = s
            .deploy_bytes("p3-reused", &format!("?reuse={bad}"), hello.clone())
            .await;
        refused(resp, 400, "invalid_reuse").await;
    }
    let deployed = s.deploy_with("p3-reused", "?reuse=off", guests::HELLO).await;
    assert!(deployed["reuse"].is_null(), "{deployed}");
    assert_eq!(deployed["world"], "http", "{deployed}");
}
