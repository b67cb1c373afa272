//! Bodies stream both ways: 1 GiB out of a guest and 64 MiB through the echo
//! function, with the server's memory staying bounded; a response's head
//! does not wait for its guest to end.

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

/// A guest that waits between chunks has its head and first chunk sent
/// while it waits, not when it ends; a body that ends at once arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_go_out_while_the_guest_waits() {
    let s = Server::start(Db::Sqlite).await;
    s.deploy_with("faults", "?timeout_ms=120000", guests::FAULTS)
        .await;
    let resp = s
        .http
        .get(s.fn_url("faults", "/trickle?ms=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "first\n");

    // The guest sleeps 60 s after its first chunk: holding the head until
    // the guest ends would keep both from the client for a minute.
    head_and_first_chunk_come_while_it_waits(&s, "faults").await;
}

/// `GET /fn/.../{name}/trickle?ms=60000` (the `faults` guests: `first\n`,
/// then a minute's wait): the head comes within 20 s, with no length, and
/// the first chunk with it.
pub(crate) async fn head_and_first_chunk_come_while_it_waits(s: &Server, name: &str) {
    let resp = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        s.http.get(s.fn_url(name, "/trickle?ms=60000")).send(),
    )
    .await
    .unwrap_or_else(|_| panic!("{name}: the head did not come while the guest waited"))
    .unwrap();
    assert_eq!(resp.status(), 200, "{name}");
    assert!(
        resp.headers().get("content-length").is_none(),
        "{name}: the length is not known yet"
    );
    let mut body = resp.bytes_stream();
    let first = tokio::time::timeout(std::time::Duration::from_secs(20), body.next())
        .await
        .unwrap_or_else(|_| panic!("{name}: the first chunk did not come while the guest waited"))
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"first\n", "{name}");
}
