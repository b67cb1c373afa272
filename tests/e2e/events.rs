//! Event patterns through the API: `POST /events/test-pattern` (the
//! TestEventPattern equivalent) for each operator, and invalid patterns
//! answered with the JSON path of the problem.

use minicloud_tests::{Db, Server};
use reqwest::Method;
use serde_json::{Value, json};

crate::on_both_databases!(test_pattern_api);

async fn test(s: &Server, pattern: Value, event: Value) -> (u16, Value) {
    s.call(
        &s.token,
        Method::POST,
        "/events/test-pattern",
        Some(json!({"pattern": pattern, "event": event})),
    )
    .await
}

async fn test_pattern_api(db: Db) {
    let s = Server::start(db).await;
    let event = json!({
        "version": "0", "id": "e1", "source": "minicloud.storage", "detail-type": "Object Created",
        "time": "2026-11-24T10:00:00Z", "account": "default", "region": "local", "resources": [],
        "detail": {"bucket": {"name": "uploads"}, "object": {"key": "photos/cat.PNG", "size": 2048},
                   "ip": "10.0.0.7", "tags": ["a", "b"], "deleted": null}
    });
    let cases = [
        (json!({"source": ["minicloud.storage"]}), true),
        (json!({"source": ["other"]}), false),
        (
            json!({"detail": {"object": {"key": [{"prefix": "photos/"}]}}}),
            true,
        ),
        (
            json!({"detail": {"object": {"key": [{"suffix": ".png"}]}}}),
            false,
        ),
        (
            json!({"detail": {"object": {"key": [{"suffix": {"equals-ignore-case": ".png"}}]}}}),
            true,
        ),
        (
            json!({"detail": {"bucket": {"name": [{"equals-ignore-case": "UPLOADS"}]}}}),
            true,
        ),
        (
            json!({"detail": {"bucket": {"name": [{"anything-but": ["uploads", "raw"]}]}}}),
            false,
        ),
        (
            json!({"detail": {"bucket": {"name": [{"anything-but": {"prefix": "thumb"}}]}}}),
            true,
        ),
        (
            json!({"detail": {"object": {"size": [{"numeric": [">", 1024, "<=", 4096]}]}}}),
            true,
        ),
        (
            json!({"detail": {"object": {"size": [{"numeric": ["<", 1024]}]}}}),
            false,
        ),
        (json!({"detail": {"object": {"etag": [{"exists": false}]}}}), true),
        (json!({"detail": {"object": {"key": [{"exists": true}]}}}), true),
        (json!({"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}), true),
        (json!({"detail": {"ip": [{"cidr": "10.0.1.0/24"}]}}), false),
        (
            json!({"detail": {"object": {"key": [{"wildcard": "photos/*.PNG"}]}}}),
            true,
        ),
        (json!({"detail": {"tags": ["b"]}}), true),
        (json!({"detail": {"deleted": [null]}}), true),
        (
            json!({"$or": [{"source": ["x"]}, {"detail-type": ["Object Created"]}]}),
            true,
        ),
    ];
    for (pattern, expected) in cases {
        let (status, body) = test(&s, pattern.clone(), event.clone()).await;
        assert_eq!(status, 200, "{pattern}: {body}");
        assert_eq!(body["match"], expected, "{pattern}");
    }
    // Patterns and events may also be sent as JSON text, as AWS's API takes them.
    let (status, body) = test(
        &s,
        json!("{\"source\": [\"minicloud.storage\"]}"),
        json!(event.to_string()),
    )
    .await;
    assert_eq!((status, body["match"].as_bool()), (200, Some(true)), "{body}");

    // An invalid pattern: 400 with the JSON path of the problem.
    let (status, body) = test(
        &s,
        json!({"detail": {"size": [{"numeric": [">", "big"]}]}}),
        event.clone(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_pattern");
    assert_eq!(body["error"]["path"], "$.detail.size[0].numeric[1]");
    let (status, body) = test(&s, json!({"source": [{"prefx": "a"}]}), event.clone()).await;
    assert_eq!(
        (status, body["error"]["path"].as_str()),
        (400, Some("$.source[0]")),
        "{body}"
    );
    let (status, body) = test(&s, json!({"source": ["a"]}), json!([1])).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_event")),
        "{body}"
    );
    // Without credentials: 401.
    let resp = s
        .http
        .post(format!("{}/api/v1/events/test-pattern", s.url))
        .json(&json!({"pattern": {"a": ["b"]}, "event": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}
