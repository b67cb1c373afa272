//! Slow clients hold no database connection. An API request runs its
//! queries on one connection while they follow one another, and gives it
//! back whenever it waits on anything else: an org whose uploads trickle
//! in, more of them than the pool has connections, leaves every other
//! org's API answering.

use super::tenant;
use bytes::Bytes;
use futures::StreamExt;
use minicloud_tests::{Db, Server};
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

crate::on_both_databases!(uploads_waiting_on_their_client_hold_no_connection);

/// More uploads at once than either database's pool holds (4 connections
/// on SQLite, 16 on PostgreSQL).
const UPLOADS: usize = 20;

async fn uploads_waiting_on_their_client_hold_no_connection(db: Db) {
    let s = Server::start(db).await;
    let mallory = tenant(&s, "mallory", "heist").await;
    let (status, body) = s
        .call(
            &mallory,
            Method::POST,
            "/projects/heist/buckets",
            Some(json!({"name": "loot"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // Each upload sends its first chunk, then nothing until released: its
    // handler has made its queries (the key, the bucket) and waits on the
    // body.
    let (release, released) = tokio::sync::watch::channel(false);
    let uploads: Vec<_> = (0..UPLOADS)
        .map(|i| {
            let mut released = released.clone();
            let rest = async move {
                let _ = released.wait_for(|r| *r).await;
                Ok::<_, std::io::Error>(Bytes::from_static(b" and the rest"))
            };
            let body = futures::stream::once(async { Ok(Bytes::from_static(b"first bytes")) })
                .chain(futures::stream::once(rest));
            s.as_token(
                &mallory,
                Method::PUT,
                &format!("{}/api/v1/projects/heist/buckets/loot/objects/k{i}", s.url),
            )
            .body(reqwest::Body::wrap_stream(body))
            .send()
        })
        .map(tokio::spawn)
        .collect();

    // Meanwhile another org's API answers, again and again, for two
    // seconds: were a connection kept through each upload's wait, the
    // pool would be empty and these would wait for it (and fail at its
    // 10 s acquire timeout: the uploads reach their handlers well inside
    // the window).
    let window = Instant::now();
    let mut answered = 0;
    while window.elapsed() < Duration::from_secs(2) {
        let call = s.call(&s.token, Method::GET, "/projects/default/functions", None);
        let (status, body) = tokio::time::timeout(Duration::from_secs(15), call)
            .await
            .expect("the API answered within 15 s while mallory's uploads waited");
        assert_eq!(status, 200, "{body}");
        answered += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered > 1, "{answered}");
    assert!(
        uploads.iter().all(|u| !u.is_finished()),
        "an upload ended before its body did"
    );

    // Released, every upload completes: they were waiting, not refused.
    release.send(true).unwrap();
    for upload in uploads {
        let resp = upload.await.unwrap().expect("the upload was answered");
        assert_eq!(resp.status(), 201);
    }
    let stored = s
        .as_token(
            &mallory,
            Method::GET,
            &format!("{}/api/v1/projects/heist/buckets/loot/objects/k7", s.url),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stored.text().await.unwrap(), "first bytes and the rest");
}
