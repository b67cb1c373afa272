//! Guests that loop, allocate, overflow, panic, answer too much, or reach
//! for what they were not given: each gets a clear error and the server keeps
//! serving others. Also: concurrency limits and 200 concurrent calls.

use minicloud_tests::{Db, Server, eventually, guests};
use serde_json::json;
use std::time::Duration;

crate::on_both_databases!(
    bad_guests_hurt_only_themselves,
    sandbox_grants_nothing,
    concurrency_is_limited_and_served
);

async fn error(s: &Server, path: &str) -> (u16, serde_json::Value) {
    let resp = s.http.get(s.fn_url("faults", path)).send().await.unwrap();
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp
        .json()
        .await
        .unwrap_or_else(|e| panic!("{path}: not JSON: {e}"));
    (status, body["error"].clone())
}

async fn bad_guests_hurt_only_themselves(db: Db) {
    let s = Server::start(db).await;
    s.deploy_with("faults", "?timeout_ms=1000&memory_mib=32", guests::FAULTS)
        .await;
    s.deploy("good", guests::HELLO).await;

    // A spinning guest, and meanwhile a well-behaved function keeps answering.
    let spinning = {
        let http = s.http.clone();
        let url = s.fn_url("faults", "/loop");
        tokio::spawn(async move { http.get(url).send().await.unwrap() })
    };
    for _ in 0..20 {
        let resp = s.http.get(s.fn_url("good", "/")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    let resp = spinning.await.unwrap();
    assert_eq!(resp.status(), 504);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "timeout", "{body}");

    let (status, err) = error(&s, "/sleep?ms=5000").await;
    assert_eq!((status, err["code"].as_str().unwrap()), (504, "timeout"), "{err}");

    let (status, err) = error(&s, "/alloc").await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (502, "memory_limit"),
        "{err}"
    );
    assert!(err["message"].as_str().unwrap().contains("32 MiB"), "{err}");

    let (status, err) = error(&s, "/stack").await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (502, "stack_overflow"),
        "{err}"
    );

    let (status, err) = error(&s, "/stack-frames").await;
    assert_eq!((status, err["code"].as_str().unwrap()), (502, "trap"), "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("stack overflow"),
        "{err}"
    );

    let (status, err) = error(&s, "/panic").await;
    assert_eq!((status, err["code"].as_str().unwrap()), (502, "trap"), "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("deliberate panic"),
        "{err}"
    );

    // Responses past the limit: declared (clear error) or streamed (cut off).
    s.patch("faults", json!({ "limits": { "max_response_bytes": 1048576 } }))
        .await;
    let (status, err) = error(&s, "/big?mb=2").await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (502, "response_too_large"),
        "{err}"
    );
    let resp = s
        .http
        .get(s.fn_url("faults", "/stream?mb=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.bytes().await.is_err(),
        "a body past the limit must be cut off, not completed"
    );
    let resp = s
        .http
        .get(s.fn_url("faults", "/stream?mb=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.bytes().await.unwrap().len(),
        1024 * 1024,
        "a body at the limit passes"
    );

    // After all that, both functions still answer.
    assert_eq!(
        s.http
            .get(s.fn_url("faults", "/ok"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    assert_eq!(
        s.http.get(s.fn_url("good", "/")).send().await.unwrap().status(),
        200
    );

    // Every failure was recorded with its reason.
    let outcomes = eventually(Duration::from_secs(10), || async {
        let list = s.get_json(&s.api("/functions/faults/invocations?limit=50")).await;
        let outcomes: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["outcome"].as_str().unwrap().to_owned())
            .collect();
        let want = [
            "timeout",
            "memory_limit",
            "stack_overflow",
            "trap",
            "response_too_large",
            "ok",
        ];
        want.iter()
            .all(|w| outcomes.iter().any(|o| o == w))
            .then_some(outcomes)
    })
    .await;
    assert!(outcomes.is_some(), "invocation records are missing outcomes");
    assert!(
        s.metric("minicloud_invocations_total", "outcome=\"timeout\"")
            .await
            >= 2.0
    );
}

async fn sandbox_grants_nothing(db: Db) {
    let s = Server::start(db).await;
    s.deploy("faults", guests::FAULTS).await;
    let text = |path: &'static str| {
        let http = s.http.clone();
        let url = s.fn_url("faults", path);
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    assert_eq!(text("/env").await, "", "no ambient environment");
    s.patch("faults", json!({ "env": { "GREETING": "hi", "MODE": "test" } }))
        .await;
    assert_eq!(
        text("/env").await,
        "GREETING=hi\nMODE=test",
        "only the configured environment"
    );
    // Functions of the same bytes share the linked code, never their
    // settings: each sees its own environment.
    s.deploy_with("faults-twin", "?timeout_ms=5000", guests::FAULTS)
        .await;
    let twin = s.fn_url("faults-twin", "/env");
    let twin_env = || async { s.http.get(&twin).send().await.unwrap().text().await.unwrap() };
    assert_eq!(twin_env().await, "", "the twin has no environment");
    s.patch("faults-twin", json!({ "env": { "TWIN": "yes" } })).await;
    assert_eq!(twin_env().await, "TWIN=yes");
    assert_eq!(
        text("/env").await,
        "GREETING=hi\nMODE=test",
        "the first keeps its own"
    );
    assert_eq!(text("/fs").await, "read_dir: false\nread: false", "no filesystem");
    assert_eq!(text("/net").await, "connect: false", "no sockets");
    let bad = s
        .authed(reqwest::Method::PATCH, &s.api("/functions/faults"))
        .json(&json!({ "env": { "1BAD": "x" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

async fn concurrency_is_limited_and_served(db: Db) {
    let s = Server::start(db).await;
    s.deploy("hello", guests::HELLO).await;
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let http = s.http.clone();
            let url = s.fn_url("hello", &format!("/?name=n{i}"));
            tokio::spawn(async move {
                let resp = http.get(url).send().await.unwrap();
                (resp.status().as_u16(), resp.text().await.unwrap())
            })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        let (status, text) = call.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(text, format!("Hello, n{i}! (from MiniCloud)\n"));
    }

    // One slot and a queue of four: a burst of twelve slow calls is partly
    // refused with 429 and Retry-After, and the rest are answered.
    s.deploy_with("slow", "?concurrency=1", guests::FAULTS).await;
    let burst: Vec<_> = (0..12)
        .map(|_| {
            let http = s.http.clone();
            let url = s.fn_url("slow", "/slow?ms=300");
            tokio::spawn(async move { http.get(url).send().await.unwrap() })
        })
        .collect();
    let (mut ok, mut throttled) = (0, 0);
    for call in burst {
        let resp = call.await.unwrap();
        match resp.status().as_u16() {
            200 => ok += 1,
            429 => {
                assert_eq!(resp.headers()["retry-after"], "1");
                let body: serde_json::Value = resp.json().await.unwrap();
                assert_eq!(body["error"]["code"], "throttled");
                throttled += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(ok >= 1 && throttled >= 1, "ok={ok} throttled={throttled}");
    assert!(ok <= 5 + 1, "at most the slot and the queue are served: ok={ok}");
}
