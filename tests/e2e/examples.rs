//! The examples of `examples/`, deployed and called the way their READMEs
//! say: an upload processor, a URL shortener, a webhook relay and whoami.

use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

crate::on_both_databases!(examples_end_to_end, event_pipeline);

/// The buckets of `upload-processor` and the role its README gives it.
async fn processor_role(s: &Server) {
    for b in ["uploads", "processed"] {
        s.create_bucket(b).await;
    }
    s.put_role("processor", json!([
            {"Effect": "Allow", "Action": "storage:GetObject", "Resource": "mrn:storage:*:*:bucket/uploads/*"},
            {"Effect": "Allow", "Action": "storage:PutObject", "Resource": "mrn:storage:*:*:bucket/processed/*"},
            {"Effect": "Allow", "Action": "events:PutEvents", "Resource": "mrn:events:*:*:source/docs.*"}
        ]),
    )
    .await;
}

/// `examples/doc-indexer/README.md`: an object lands, a rule runs
/// `upload-processor`, which publishes an event, which a second rule hands
/// to `doc-indexer`.
async fn event_pipeline(db: Db) {
    let s = Server::start(db).await;
    processor_role(&s).await;
    s.put_role(
        "indexer",
        json!([{"Effect": "Allow", "Action": "kv:*", "Resource": "mrn:kv:*:*:bucket/index/*"}]),
    )
    .await;
    s.deploy_with("processor", "?role=processor", guests::UPLOAD_PROCESSOR)
        .await;
    s.deploy_with("indexer", "?role=indexer", guests::DOC_INDEXER)
        .await;
    let rules = [
        json!({"name": "process-uploads", "sources": {"platform": ["minicloud.storage"]},
               "pattern": {"detail-type": ["Object Created"],
                           "detail": {"bucket": {"name": ["uploads"]}, "object": {"key": [{"suffix": ".txt"}]}}},
               "targets": [{"function": "processor", "input": {
                   "paths": {"bucket": "$.detail.bucket.name", "key": "$.detail.object.key"},
                   "template": "{\"bucket\": <bucket>, \"key\": <key>}"}}]}),
        json!({"name": "index-documents", "sources": {"api": true},
               "pattern": {"source": ["docs.processed"], "detail-type": ["Document Processed"]},
               "targets": [{"function": "indexer"}], "retry": {"max_attempts": 10}}),
    ];
    for rule in rules {
        let (status, body) = s
            .call(&s.token, Method::POST, "/projects/default/rules", Some(rule))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    for (key, text) in [
        ("notes/today.txt", "buy milk\ncall ada back\n"),
        ("photo.png", "not text"),
    ] {
        let resp = s
            .authed(Method::PUT, &s.api(&format!("/buckets/uploads/objects/{key}")))
            .body(text)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    // The indexer's key-value entries, read from the database.
    let index = minicloud_tests::eventually(std::time::Duration::from_secs(20), || async {
        use sqlx::Row;
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&s.database_url()).await.ok()?;
        let rows = sqlx::query("SELECT entry_key, value FROM kv_entries WHERE bucket = 'index'")
            .fetch_all(&pool)
            .await
            .ok()?;
        pool.close().await;
        let index: std::collections::HashMap<String, String> = rows
            .iter()
            .map(|r| {
                (
                    r.get("entry_key"),
                    String::from_utf8_lossy(&r.get::<Vec<u8>, _>("value")).into_owned(),
                )
            })
            .collect();
        // The indexer writes its entries one at a time: wait for the last.
        (index.contains_key("words/notes/today.txt") && index.contains_key("documents")).then_some(index)
    })
    .await
    .expect("the document went through both functions");
    assert_eq!(index["words/notes/today.txt"], "5");
    assert_eq!(index["documents"], "1", "only the .txt object matched: {index:?}");
    let summary = s
        .authed(
            Method::GET,
            &s.api("/buckets/processed/objects/notes/today.txt.summary.json"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(summary.status(), 200);
    let (_, dead) = s
        .call(&s.token, Method::GET, "/projects/default/dead-letters", None)
        .await;
    assert_eq!(dead["items"], json!([]));
}

/// A webhook receiver on loopback: records what it was sent.
async fn receiver() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let record = record.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                record.lock().unwrap().push((auth, body));
                (axum::http::StatusCode::ACCEPTED, "thanks")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), seen)
}

async fn examples_end_to_end(db: Db) {
    // The webhook relay posts to a receiver on loopback, which only an
    // operator's allowed range opens.
    let s = Server::start_with(db, &["--outbound-allow-cidr", "127.0.0.0/8"]).await;
    let t = s.token.clone();

    // Upload processor: uploads -> processed.
    processor_role(&s).await;
    s.deploy_with("processor", "?role=processor", guests::UPLOAD_PROCESSOR)
        .await;
    let resp = s
        .authed(Method::PUT, &s.api("/buckets/uploads/objects/notes/today.txt"))
        .body("buy milk\ncall ada back\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let (status, out) = s
        .call(
            &t,
            Method::POST,
            "/projects/default/functions/processor/invoke",
            Some(json!({"bucket": "uploads", "key": "notes/today.txt"})),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["summary"]["lines"], 2);
    assert_eq!(out["summary"]["words"], 5);
    let upper = s
        .authed(
            Method::GET,
            &s.api("/buckets/processed/objects/notes/today.txt.upper.txt"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(upper.headers()["x-minicloud-meta-source-key"], "notes/today.txt");
    assert_eq!(upper.text().await.unwrap(), "BUY MILK\nCALL ADA BACK\n");

    // URL shortener on key-value, behind a public custom route.
    s.put_role(
        "shortener",
        json!([{"Effect": "Allow", "Action": "kv:*", "Resource": "mrn:kv:*:*:bucket/links/*"}]),
    )
    .await;
    s.deploy_with("shortener", "?role=shortener", guests::URL_SHORTENER)
        .await;
    let created = s
        .http
        .post(s.fn_url("shortener", "/"))
        .body("https://example.com/a/long/path")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let code = created["code"].as_str().unwrap().to_owned();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for _ in 0..2 {
        let resp = no_redirects
            .get(s.fn_url("shortener", &format!("/{code}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302);
        assert_eq!(resp.headers()["location"], "https://example.com/a/long/path");
    }
    let stats: Value = s
        .http
        .get(s.fn_url("shortener", &format!("/{code}/stats")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["visits"], 2);
    let second: Value = s
        .http
        .post(s.fn_url("shortener", "/"))
        .body("https://example.org/")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(second["code"], created["code"]);

    // Webhook relay: a secret and outbound HTTP to a granted host.
    let (target, seen) = receiver().await;
    let (status, _) = s
        .call(
            &t,
            Method::POST,
            "/projects/default/secrets",
            Some(json!({"name": "webhook-token", "secret_string": "hook-secret-1"})),
        )
        .await;
    assert_eq!(status, 201);
    s.put_role("relay", json!([
            {"Effect": "Allow", "Action": "secrets:GetSecretValue", "Resource": "mrn:secrets:*:*:secret/webhook-token"},
            {"Effect": "Allow", "Action": "http:Fetch", "Resource": "mrn:http:*:*:host/127.0.0.1"}
        ]),
    )
    .await;
    s.deploy_with("relay", "?role=relay", guests::WEBHOOK_RELAY).await;
    s.patch("relay", json!({"config": {"target_url": target}})).await;
    let resp = s
        .http
        .post(s.fn_url("relay", "/"))
        .header("content-type", "application/json")
        .body(r#"{"event":"paid"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.text().await.unwrap(), "thanks");
    assert_eq!(
        seen.lock().unwrap().clone(),
        vec![(
            "Bearer hook-secret-1".to_owned(),
            r#"{"event":"paid"}"#.to_owned()
        )]
    );
    // Pointed at a host the role does not grant, it is refused.
    s.patch(
        "relay",
        json!({"config": {"target_url": "http://localhost:9/hook"}}),
    )
    .await;
    let resp = s
        .http
        .post(s.fn_url("relay", "/"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);

    // The Python example: the same interfaces from componentize-py.
    s.put_role(
        "counter",
        json!([{"Effect": "Allow", "Action": "kv:Increment", "Resource": "mrn:kv:*:*:bucket/counters/*"}]),
    )
    .await;
    s.deploy_with("counter", "?role=counter", guests::PYTHON_COUNTER)
        .await;
    s.patch("counter", json!({"config": {"greeting": "Hi"}})).await;
    for visits in [1, 2] {
        let (status, out) = s
            .call(
                &t,
                Method::POST,
                "/projects/default/functions/counter/invoke",
                Some(json!({"page": "home"})),
            )
            .await;
        assert_eq!(status, 200, "{out}");
        assert_eq!(out["visits"], visits, "{out}");
        assert_eq!(out["greeting"], "Hi from Python!");
        assert_eq!(out["caller"]["name"], "admin");
    }
    let (status, out) = s
        .call(
            &t,
            Method::POST,
            "/projects/default/functions/counter/invoke",
            Some(json!({"nope": 1})),
        )
        .await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (422, Some("function_error")),
        "{out}"
    );

    // whoami: an authenticated route; the caller and their own policies.
    s.deploy_with("whoami", "?http_auth=authenticated", guests::WHOAMI)
        .await;
    let resource = "mrn:functions:default:default:function/whoami";
    let me: Value = s
        .authed(
            Method::GET,
            &s.fn_url("whoami", &format!("/?resource={resource}")),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["kind"].as_str(), me["name"].as_str()),
        (Some("api-key"), Some("admin")),
        "{me}"
    );
    assert_eq!(me["may_delete"], true);
    let resp = s.http.get(s.fn_url("whoami", "/")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
}
