//! Logs, invocation records, metrics, health, request ids, error shapes.

use minicloud_tests::{Db, Server, eventually, guests};
use reqwest::Method;
use std::time::Duration;

crate::on_both_databases!(
    logs_and_records_follow_invocations,
    old_records_are_deleted,
    a_retried_batch_is_stored_once,
    errors_have_one_shape,
    metrics_need_credentials
);

/// The records' writer retries a batch whose commit it did not hear back
/// from; when that commit went through, the retry finds its rows there:
/// it succeeds, and the listing shows each record once (on both
/// databases: PostgreSQL's `ON CONFLICT` takes the tables' keys as
/// SQLite's does).
async fn a_retried_batch_is_stored_once(db: Db) {
    use minicloud_controlplane::store::Store;
    use minicloud_controlplane::store::records::{InvocationRecord, LogRecord, RecordsConnection};
    let s = Server::start(db).await;
    s.deploy("faults", guests::FAULTS).await;
    sqlx::any::install_default_drivers();
    let store = Store::open(&s.database_url()).await.unwrap();
    let pool = sqlx::AnyPool::connect(&s.database_url()).await.unwrap();
    let (project_id, function_id): (String, String) =
        sqlx::query_as("SELECT project_id, id FROM functions WHERE name = 'faults'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let records: Vec<InvocationRecord> = (0..3)
        .map(|i| InvocationRecord {
            id: format!("retried-{i}"),
            project_id: project_id.clone(),
            function_id: function_id.clone(),
            function: "faults".into(),
            version: 1,
            trace_id: "retried".into(),
            started_ms: now_ms - 1_500 + i * 700,
            duration_us: 10,
            instantiate_us: 1,
            peak_memory: 65_536,
            outcome: "ok".into(),
            http_status: Some(200),
            error: None,
            logs_dropped: 0,
        })
        .collect();
    let lines: Vec<LogRecord> = records
        .iter()
        .map(|r| LogRecord {
            invocation_id: r.id.clone(),
            seq: 0,
            project_id: project_id.clone(),
            function: "faults".into(),
            trace_id: "retried".into(),
            time_ms: r.started_ms,
            stream: "stdout".into(),
            level: None,
            line: format!("{} said hello", r.id),
        })
        .collect();
    let mut kept = RecordsConnection::default();
    for attempt in 1..=2 {
        store
            .write_records(&mut kept, &records, &lines, &[])
            .await
            .unwrap_or_else(|e| panic!("attempt {attempt}: {e}"));
    }
    assert_eq!(
        faults_invocations(&s).await,
        ["retried-2", "retried-1", "retried-0"],
        "each once"
    );
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM log_lines WHERE trace_id = 'retried'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 3, "each line once");
}

/// Records and log lines past the retention (7 days by default) are
/// deleted shortly after a start and every hour; younger ones stay.
async fn old_records_are_deleted(db: Db) {
    let mut s = Server::start(db).await;
    s.deploy("faults", guests::FAULTS).await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.database_url()).await.unwrap();
    // Rows of one invocation: its record's pack and its lines. Each
    // invocation below is stored before the next is made, so it is its
    // batch's only record and its pack's first.
    let rows = |id: String| {
        let pool = pool.clone();
        async move {
            let records: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM invocation_packs WHERE first_id = $1")
                    .bind(&id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            let lines: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM log_lines WHERE invocation_id = $1")
                .bind(&id)
                .fetch_one(&pool)
                .await
                .unwrap();
            (records, lines)
        }
    };
    let mut ids = Vec::new();
    for _ in 0..3 {
        let resp = s.http.get(s.fn_url("faults", "/logs?n=2")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let id = resp.headers()["x-minicloud-invocation-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let stored = eventually(Duration::from_secs(10), || async {
            let got = rows(id.clone()).await;
            (got.0 == 1 && got.1 > 0).then_some(got)
        })
        .await;
        assert!(stored.is_some(), "invocation {id}'s record and lines stored");
        ids.push(id);
    }
    assert!(s.stop().await, "{}", s.log());
    // Eight days old, six days old, and new.
    let day: i64 = 86_400_000;
    for (id, age) in ids.iter().zip([8 * day, 6 * day]) {
        // The pack's second, by which it ages (its record keeps its time).
        sqlx::query("UPDATE invocation_packs SET started_s = started_s - $1 WHERE first_id = $2")
            .bind(age / 1000)
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("UPDATE log_lines SET time_ms = time_ms - $1 WHERE invocation_id = $2")
            .bind(age)
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
    }
    s.start_again().await;
    let gone = eventually(Duration::from_secs(20), || async {
        (rows(ids[0].clone()).await == (0, 0)).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "the 8-day-old record and lines deleted: {}",
        s.log()
    );
    for id in &ids[1..] {
        let (records, lines) = rows(id.clone()).await;
        assert!(records == 1 && lines > 0, "{id}: younger than 7 days, kept");
    }
    assert_eq!(
        faults_invocations(&s).await,
        [ids[2].as_str(), ids[1].as_str()],
        "newest first, the old one gone"
    );
}

/// The ids of the first page of `faults`' invocations, newest first.
async fn faults_invocations(s: &Server) -> Vec<String> {
    let listed = s.get_json(&s.api("/functions/faults/invocations?limit=10")).await;
    listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn logs_and_records_follow_invocations(db: Db) {
    let s = Server::start_with(db, &["--log-bytes-per-invocation", "200"]).await;
    s.deploy("faults", guests::FAULTS).await;
    let resp = s
        .http
        .get(s.fn_url("faults", "/logs?n=3"))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-abc-123");
    let invocation = resp.headers()["x-minicloud-invocation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(resp.text().await.unwrap(), "logged");

    let url = s.api(&format!("/functions/faults/logs?invocation_id={invocation}"));
    let lines = eventually(Duration::from_secs(10), || async {
        let logs = s.get_json(&url).await;
        let items = logs["items"].as_array().unwrap().clone();
        (items.len() == 4).then_some(items)
    })
    .await
    .expect("four log lines");
    let text: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["stream"].as_str().unwrap(), l["line"].as_str().unwrap()))
        .collect();
    assert_eq!(
        text,
        vec![
            ("stdout", "line 0"),
            ("stdout", "line 1"),
            ("stdout", "line 2"),
            ("stderr", "to stderr")
        ]
    );
    assert!(lines.iter().all(|l| l["trace_id"] == "trace-abc-123"));

    // Output past the cap is dropped and the truncation marked.
    let resp = s
        .http
        .get(s.fn_url("faults", "/logs?n=1000"))
        .send()
        .await
        .unwrap();
    let invocation = resp.headers()["x-minicloud-invocation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let url = s.api(&format!(
        "/functions/faults/logs?invocation_id={invocation}&limit=1000"
    ));
    let lines = eventually(Duration::from_secs(10), || async {
        let logs = s.get_json(&url).await;
        let items = logs["items"].as_array().unwrap().clone();
        (!items.is_empty()).then_some(items)
    })
    .await
    .expect("log lines");
    let last = lines.last().unwrap()["line"].as_str().unwrap();
    assert!(last.contains("log output truncated"), "{last}");
    assert!(lines.len() < 100, "{} lines kept of 1000", lines.len());

    let records = s.get_json(&s.api("/functions/faults/invocations?limit=1")).await;
    let newest = &records["items"][0];
    assert_eq!(newest["id"], invocation.as_str());
    assert_eq!(newest["outcome"], "ok");
    assert_eq!(newest["version"], 1);
    assert_eq!(newest["http_status"], 200);
    assert!(newest["peak_memory"].as_i64().unwrap() > 0);
    assert!(newest["duration_us"].as_i64().unwrap() > 0);
    assert!(newest["logs_dropped"].as_i64().unwrap() > 0);
    let next = records["next_cursor"].as_str().unwrap();
    let older = s
        .get_json(&s.api(&format!("/functions/faults/invocations?limit=1&cursor={next}")))
        .await;
    assert_ne!(older["items"][0]["id"], invocation.as_str());
    let (status, refused) = s
        .call(
            &s.token,
            Method::GET,
            "/projects/default/functions/faults/invocations?cursor=soon",
            None,
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_query", "{refused}");

    let metrics = s.metrics().await;
    for name in [
        "minicloud_invocations_total",
        "minicloud_invocation_duration_seconds_bucket",
        "minicloud_instantiate_seconds_bucket",
        "minicloud_compile_seconds_bucket",
        "minicloud_instances_in_flight",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}");
    }
    assert!(
        s.metric(
            "minicloud_invocations_total",
            "function=\"faults\",outcome=\"ok\""
        )
        .await
            >= 2.0
    );
    let health = s.http.get(format!("{}/healthz", s.url)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = s.http.get(format!("{}/readyz", s.url)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

async fn errors_have_one_shape(db: Db) {
    let s = Server::start(db).await;
    let cases = [
        (Method::GET, format!("{}/no/such/path", s.url), 404),
        (Method::DELETE, format!("{}/healthz", s.url), 405),
        (Method::GET, format!("{}/api/v1/nothing-here", s.url), 404),
        (Method::GET, s.fn_url("missing", "/"), 404),
        (Method::GET, s.api("/functions?limit=0"), 400),
        (Method::GET, s.api("/functions?bogus=1"), 400),
    ];
    for (method, url, status) in cases {
        let resp = s.authed(method.clone(), &url).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{method} {url}");
        let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["trace_id"], id.as_str(), "{body}");
        assert!(
            body["error"]["code"].is_string() && body["error"]["message"].is_string(),
            "{body}"
        );
    }
    let resp = s
        .authed(Method::PATCH, &s.api("/functions/x"))
        .header("content-type", "application/json")
        .body("{\"limits\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_json");
}

/// `/metrics` names tenants' projects and functions: on the main address it
/// needs `metrics:GetMetrics`; the private metrics address needs nothing.
async fn metrics_need_credentials(db: Db) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let private = format!("127.0.0.1:{port}");
    let s = Server::start_with(db, &["--metrics-listen", &private]).await;
    let url = format!("{}/metrics", s.url);
    assert_eq!(s.http.get(&url).send().await.unwrap().status(), 401);
    let admin = s.authed(Method::GET, &url).send().await.unwrap();
    assert_eq!(admin.status(), 200);
    assert!(admin.text().await.unwrap().contains("minicloud_"));
    let user = s
        .authed(Method::POST, &format!("{}/api/v1/orgs/default/users", s.url))
        .json(&serde_json::json!({"name": "dev"}))
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 201);
    let key: serde_json::Value = s
        .authed(
            Method::POST,
            &format!("{}/api/v1/orgs/default/users/dev/keys", s.url),
        )
        .json(&serde_json::json!({"name": "k"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dev = key["token"].as_str().unwrap();
    let denied = s.as_token(dev, Method::GET, &url).send().await.unwrap();
    assert_eq!(denied.status(), 403);
    let scraped = s
        .http
        .get(format!("http://{private}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped.text().await.unwrap().contains("minicloud_"));
    // The private address serves nothing else.
    let other = s
        .http
        .get(format!("http://{private}/api/v1/orgs"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}
