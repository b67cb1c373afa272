//! Bodies stream both ways: 1 GiB out of a guest and 64 MiB through the echo
//! function, with the server's memory staying bounded.

use futures::StreamExt;
use minicloud_tests::{Db, Server, drain_counting, generated_counting, guests, peak_rss};
use serde_json::json;

crate::on_both_databases!(bodies_stream_both_ways);

async fn bodies_stream_both_ways(db: Db) {
    let s = Server::start(db).await;
    s.deploy_with("faults", "?timeout_ms=120000", guests::FAULTS)
        .await;
    s.deploy_with(
        "echo",
        "?max_request_bytes=1073741824&timeout_ms=120000",
        guests::ECHO,
    )
    .await;

    let resp = s
        .http
        .get(s.fn_url("faults", "/stream?mb=1024"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert!(chunk.iter().all(|b| *b == b'x'));
        total += chunk.len() as u64;
    }
    assert_eq!(total, 1 << 30);

    // 64 MiB up and back down through the echo function, generated on the fly.
    let chunks = (0..1024u32).map(|i| Ok::<_, std::io::Error>(vec![(i % 251) as u8; 64 * 1024]));
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let resp = s
        .http
        .post(s.fn_url("echo", "/"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(drain_counting(resp).await, generated_counting(1024));

    let peak = peak_rss(s.pid());
    assert!(
        peak < 400 << 20,
        "the server's peak memory was {} MiB: bodies are being buffered",
        peak >> 20
    );

    // A request body past the function's limit is refused up front.
    s.patch("echo", json!({ "limits": { "max_request_bytes": 1000 } }))
        .await;
    let resp = s
        .http
        .post(s.fn_url("echo", "/"))
        .body(vec![0u8; 5000])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
}
