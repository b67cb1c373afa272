//! The object storage REST API: buckets, objects streamed both ways with
//! content type, ETag and metadata, listings with prefixes, delimiters and
//! pages, key validation, and a large object in bounded memory.

use minicloud_tests::{Db, Server, drain_counting, generated_counting, peak_rss};
use reqwest::Method;
use serde_json::json;

crate::on_both_databases!(buckets_and_objects, large_objects_stream);

async fn buckets_and_objects(db: Db) {
    let s = Server::start(db).await;
    let t = s.token.clone();
    // The answer is the bucket.
    let (status, body) = s
        .call(
            &t,
            Method::POST,
            "/projects/default/buckets",
            Some(json!({"name": "docs"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "docs");
    let (status, body) = s
        .call(
            &t,
            Method::POST,
            "/projects/default/buckets",
            Some(json!({"name": "docs"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("already_exists"))
    );
    let (status, body) = s
        .call(
            &t,
            Method::POST,
            "/projects/default/buckets",
            Some(json!({"name": "Bad/Name"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_name"))
    );

    // Put with content type and metadata; read back the same.
    let url = s.api("/buckets/docs/objects/reports/2026/q1.csv");
    let resp = s
        .authed(Method::PUT, &url)
        .header("content-type", "text/csv")
        .header("x-minicloud-meta-owner", "ada")
        .body("a,b\n1,2\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let meta: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(meta["size"], 8);
    assert_eq!(meta["etag"], etag.as_str());
    assert_eq!(meta["metadata"], json!({"owner": "ada"}));
    let resp = s.authed(Method::GET, &url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/csv");
    assert_eq!(resp.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(resp.headers()["x-minicloud-meta-owner"], "ada");
    assert_eq!(resp.headers()["content-length"], "8");
    assert_eq!(resp.text().await.unwrap(), "a,b\n1,2\n");
    let resp = s
        .authed(Method::GET, &url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);
    let resp = s.authed(Method::HEAD, &url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-length"], "8");
    // Replacing changes the ETag.
    let resp = s.authed(Method::PUT, &url).body("other").send().await.unwrap();
    assert_eq!(resp.status(), 201);
    assert_ne!(resp.headers()["etag"].to_str().unwrap(), etag);

    // Listings: prefix, delimiter, pages.
    for key in [
        "reports/2026/q2.csv",
        "reports/2025/q4.csv",
        "readme.txt",
        "img/a.png",
        "img/b.png",
    ] {
        let resp = s
            .authed(Method::PUT, &s.api(&format!("/buckets/docs/objects/{key}")))
            .body(key.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "{key}");
    }
    let list = s.get_json(&s.api("/buckets/docs/objects?delimiter=/")).await;
    assert_eq!(list["common_prefixes"], json!(["img/", "reports/"]));
    let keys: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["readme.txt"]);
    let list = s
        .get_json(&s.api("/buckets/docs/objects?prefix=reports/2026/"))
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = s
            .get_json(&s.api(&format!("/buckets/docs/objects?limit=2&cursor={cursor}")))
            .await;
        for o in page["items"].as_array().unwrap() {
            seen.push(o["key"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6, "{seen:?}");
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);

    // Keys are validated.
    for bad in ["a//b", "x/", &"k".repeat(1025)] {
        let resp = s
            .authed(Method::PUT, &s.api(&format!("/buckets/docs/objects/{bad}")))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_key");
    }
    let resp = s
        .authed(Method::GET, &s.api("/buckets/docs/objects/missing"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = s
        .authed(Method::GET, &s.api("/buckets/nope/objects/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // A bucket is deleted only when empty.
    let (status, body) = s
        .call(&t, Method::DELETE, "/projects/default/buckets/docs", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("bucket_not_empty"))
    );
    for key in seen {
        let resp = s
            .authed(Method::DELETE, &s.api(&format!("/buckets/docs/objects/{key}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
    }
    assert_eq!(
        s.call(&t, Method::DELETE, "/projects/default/buckets/docs", None)
            .await
            .0,
        204
    );
    let list = s.get_json(&s.api("/buckets")).await;
    assert_eq!(list["items"], json!([]));

    // Object events were emitted on the platform's publisher (and reach
    // the bus a moment later).
    let seen = minicloud_tests::eventually(std::time::Duration::from_secs(10), || async {
        let created = s
            .metric("minicloud_platform_events_total", "Object Created")
            .await;
        let deleted = s
            .metric("minicloud_platform_events_total", "Object Deleted")
            .await;
        (created >= 6.0 && deleted >= 6.0).then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "six objects created and deleted: six events of each"
    );
}

async fn large_objects_stream(db: Db) {
    let s = Server::start(db).await;
    s.create_bucket("big").await;
    // 512 MiB up, generated on the fly, and back down.
    let chunks = (0..8192u32).map(|i| Ok::<_, std::io::Error>(vec![(i % 251) as u8; 64 * 1024]));
    let resp = s
        .authed(Method::PUT, &s.api("/buckets/big/objects/blob.bin"))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let resp = s
        .authed(Method::GET, &s.api("/buckets/big/objects/blob.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-length"],
        (512u64 << 20).to_string().as_str()
    );
    assert_eq!(drain_counting(resp).await, generated_counting(8192));
    let peak = peak_rss(s.pid());
    assert!(
        peak < 300 << 20,
        "the server's peak memory was {} MiB: objects are being buffered",
        peak >> 20
    );
}
