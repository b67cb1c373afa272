//! Orgs contain projects: create, list (paginated), read, delete only when
//! empty and softly; project names stay unique across orgs; and a
//! foundation-era database upgrades with its data in the `default` org.

use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::{Value, json};

crate::on_both_databases!(orgs_and_projects, foundation_data_survives_the_upgrade);

async fn orgs_and_projects(db: Db) {
    let s = Server::start(db).await;
    let v1 = |path: &str| format!("{}/api/v1{path}", s.url);
    let send = |method: Method, path: &str, body: Option<Value>| {
        let mut req = s.authed(method, &v1(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            )
        }
    };

    // The first start has the default org holding the default project.
    let (_, orgs) = send(Method::GET, "/orgs", None).await;
    assert_eq!(orgs["items"], json!([{"name": "default", "created_ms": 0}]));
    let (_, projects) = send(Method::GET, "/orgs/default/projects", None).await;
    assert_eq!(projects["items"], json!([{"name": "default", "org": "default"}]));

    let (status, body) = send(Method::POST, "/orgs", Some(json!({"name": "acme"}))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "acme");
    let (status, body) = send(Method::POST, "/orgs", Some(json!({"name": "acme"}))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("name_taken"))
    );
    let (status, body) = send(Method::POST, "/orgs", Some(json!({"name": "Not Valid"}))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_name"))
    );
    let (status, body) = send(Method::POST, "/orgs", Some(json!({"nome": "x"}))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid_json"))
    );

    let (status, body) = send(Method::POST, "/orgs/acme/projects", Some(json!({"name": "web"}))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body, json!({"name": "web", "org": "acme"}));
    // Project names appear alone in URLs, so they are unique across orgs.
    let (status, _) = send(
        Method::POST,
        "/orgs/default/projects",
        Some(json!({"name": "web"})),
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = send(Method::POST, "/orgs/nope/projects", Some(json!({"name": "x"}))).await;
    assert_eq!(status, 404);
    // A project is found only under its own org.
    assert_eq!(send(Method::GET, "/orgs/acme/projects/web", None).await.0, 200);
    assert_eq!(send(Method::GET, "/orgs/default/projects/web", None).await.0, 404);
    let (_, listed) = send(Method::GET, "/orgs/default/projects", None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");

    // A project with functions, or an org with projects, is not deleted.
    let wasm = std::fs::read(guests::HELLO).unwrap();
    let deploy = s
        .authed(Method::PUT, &v1("/projects/web/functions/hello"))
        .header("content-type", "application/wasm")
        .body(wasm)
        .send()
        .await
        .unwrap();
    assert_eq!(deploy.status(), 201);
    let (status, body) = send(Method::DELETE, "/orgs/acme/projects/web", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("not_empty")));
    let (status, body) = send(Method::DELETE, "/orgs/acme", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("not_empty")));
    assert_eq!(
        send(Method::DELETE, "/projects/web/functions/hello", None)
            .await
            .0,
        204
    );

    // Deleting is soft: gone from every lookup at once, the name reserved.
    assert_eq!(send(Method::DELETE, "/orgs/acme/projects/web", None).await.0, 204);
    assert_eq!(send(Method::GET, "/orgs/acme/projects/web", None).await.0, 404);
    assert_eq!(send(Method::GET, "/projects/web/functions", None).await.0, 404);
    let (status, _) = send(Method::POST, "/orgs/acme/projects", Some(json!({"name": "web"}))).await;
    assert_eq!(status, 409);
    assert_eq!(send(Method::DELETE, "/orgs/acme", None).await.0, 204);
    assert_eq!(send(Method::GET, "/orgs/acme", None).await.0, 404);
    let (status, body) = send(Method::DELETE, "/orgs/default", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("protected")));

    // Pagination by name.
    for name in ["o1", "o2", "o3"] {
        assert_eq!(
            send(Method::POST, "/orgs", Some(json!({"name": name}))).await.0,
            201
        );
    }
    let (_, first) = send(Method::GET, "/orgs?limit=2", None).await;
    let names = |page: &Value| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&first), ["default", "o1"]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, second) = send(Method::GET, &format!("/orgs?limit=2&cursor={cursor}"), None).await;
    assert_eq!(names(&second), ["o2", "o3"]);

    // Tenancy endpoints need credentials like every other.
    let resp = s.http.get(v1("/orgs")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
}

async fn foundation_data_survives_the_upgrade(db: Db) {
    // The foundation stored SHA-256 of its admin token.
    let legacy = "mc_0123456789abcdef";
    // Records within the retention, so no prune takes them meanwhile;
    // each table's rows are copied into a new key by migration 26.
    let recent = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 60_000;
    let invocations = format!(
        "INSERT INTO invocations (id, project_id, function_id, function_name, version, trace_id, \
         started_ms, duration_us, instantiate_us, peak_memory, outcome, http_status, error, \
         logs_dropped) VALUES ('i-old', 'p-old', 'f-old', 'hello', 3, 't-old', {recent}, 55, 20, \
         65536, 'ok', 200, NULL, 0), ('i-older', 'p-old', 'f-old', 'hello', 2, 't-older', {}, \
         70, 30, 65536, 'trap', NULL, 'unreachable', 7)",
        recent - 1_000
    );
    let lines = format!(
        "INSERT INTO log_lines (invocation_id, seq, project_id, function_name, trace_id, time_ms, \
         stream, line) VALUES ('i-old', 1, 'p-old', 'hello', 't-old', {recent}, 'stderr', 'second'), \
         ('i-old', 0, 'p-old', 'hello', 't-old', {recent}, 'stdout', 'first')"
    );
    let s = Server::start_after_upgrade(
        db,
        &[
            "INSERT INTO projects (id, name, created_ms) VALUES ('p-old', 'legacy', 1)",
            "INSERT INTO routes (id, project_id, method, path, function_name, created_ms) \
             VALUES ('r-old', 'p-old', 'GET', '/legacy', 'hello', 1)",
            "INSERT INTO api_tokens (id, token_hash, name, created_ms) VALUES ('t-old', \
             '470a6a16bf07df7e91652dee5dd197d9897552f35ee43d2c9edda4d65606b4c4', 'admin', 1)",
            &invocations,
            &lines,
        ],
        Some(legacy),
    )
    .await;
    // The old token keeps working, as the new admin user.
    assert_eq!(s.token, legacy);
    let me = s.get_json(&format!("{}/api/v1/auth/me", s.url)).await;
    assert_eq!(
        (me["user"].as_str(), me["org"].as_str()),
        (Some("admin"), Some("default")),
        "{me}"
    );
    let projects = s
        .get_json(&format!("{}/api/v1/orgs/default/projects", s.url))
        .await;
    let names: Vec<&str> = projects["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "legacy"], "{projects}");
    let routes = s
        .get_json(&format!("{}/api/v1/projects/legacy/routes", s.url))
        .await;
    assert_eq!(routes["items"][0]["path"], "/legacy", "{routes}");
    // The records and lines, whole, newest first and in order.
    let records = s
        .get_json(&format!(
            "{}/api/v1/projects/legacy/functions/hello/invocations",
            s.url
        ))
        .await;
    let got: Vec<(&str, i64, &str, &str)> = records["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap(),
                r["version"].as_i64().unwrap(),
                r["outcome"].as_str().unwrap(),
                r["trace_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("i-old", 3, "ok", "t-old"), ("i-older", 2, "trap", "t-older")],
        "{records}"
    );
    let older = &records["items"][1];
    assert_eq!(
        (
            older["started_ms"].as_i64(),
            older["duration_us"].as_i64(),
            older["instantiate_us"].as_i64(),
            older["peak_memory"].as_i64(),
            older["error"].as_str(),
            older["logs_dropped"].as_i64(),
            older["http_status"].as_i64()
        ),
        (
            Some(recent - 1_000),
            Some(70),
            Some(30),
            Some(65536),
            Some("unreachable"),
            Some(7),
            None
        ),
        "{older}"
    );
    let logs = s
        .get_json(&format!("{}/api/v1/projects/legacy/functions/hello/logs", s.url))
        .await;
    let got: Vec<(&str, i64, &str, i64, &str, &str)> = logs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["invocation_id"].as_str().unwrap(),
                l["seq"].as_i64().unwrap(),
                l["trace_id"].as_str().unwrap(),
                l["time_ms"].as_i64().unwrap(),
                l["stream"].as_str().unwrap(),
                l["line"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("i-old", 0, "t-old", recent, "stdout", "first"),
            ("i-old", 1, "t-old", recent, "stderr", "second")
        ],
        "{logs}"
    );
}
