//! WASI 0.3 HTTP components (`wasi:http/handler@0.3.0`): deployed and served
//! as 0.2 ones are, each request in a fresh instance, with bodies streaming
//! both ways, the function's limits, its logs and its records.

use minicloud_tests::{Db, Server, drain_counting, eventually, generated_counting, guests};
use serde_json::json;
use std::time::Duration;

crate::on_both_databases!(wasi_03_components_serve_http);

async fn wasi_03_components_serve_http(db: Db) {
    let s = Server::start(db).await;
    let deployed = s.deploy("hello-p3", guests::HELLO_P3).await;
    assert_eq!(deployed["world"], "http", "{deployed}");

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
    // The greeting streams without a length: the connection is cut.
    let cut = match s.http.get(s.fn_url("hello-p3", "/")).send().await {
        Ok(resp) => resp.bytes().await.map_or(true, |body| body.len() <= 10),
        Err(_) => true,
    };
    assert!(cut, "a 41-byte greeting passed a 10-byte response limit");

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
