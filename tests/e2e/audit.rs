//! The audit log: one record per mutation and per denied call, secrets
//! removed, filters and pages, a hash chain that shows a changed or a
//! deleted record, and chains that hold while two nodes write them at once.

use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::{Value, json};

crate::on_both_databases!(audit_log);

mod two_nodes {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::two_nodes_write_one_chain().await
    }
}

async fn sql(s: &Server, statement: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.database_url()).await.unwrap();
    sqlx::query(statement).execute(&pool).await.unwrap();
    pool.close().await;
}

async fn audit_log(db: Db) {
    let s = Server::start(db).await;
    let admin = s.token.clone();
    let secret_password = "correct-horse-battery-staple";

    // Mutations in org acme: each leaves exactly one record there.
    assert_eq!(
        s.call(&admin, Method::POST, "/orgs", Some(json!({"name": "acme"})))
            .await
            .0,
        201
    );
    let mutations: Vec<(Method, String, Option<Value>, u16)> = vec![
        (
            Method::POST,
            "/orgs/acme/projects".into(),
            Some(json!({"name": "web"})),
            201,
        ),
        (
            Method::POST,
            "/orgs/acme/users".into(),
            Some(json!({"name": "eve", "password": secret_password})),
            201,
        ),
        (
            Method::POST,
            "/orgs/acme/users".into(),
            Some(json!({"name": "eve"})),
            409,
        ),
        (
            Method::POST,
            "/orgs/acme/roles".into(),
            Some(json!({"name": "ops", "policies": ["ReadOnly"]})),
            201,
        ),
        (Method::DELETE, "/orgs/acme/roles/ops".into(), None, 204),
    ];
    for (method, path, body, status) in &mutations {
        assert_eq!(
            s.call(&admin, method.clone(), path, body.clone()).await.0,
            *status,
            "{method} {path}"
        );
    }
    let wasm = std::fs::read(guests::HELLO).unwrap();
    let put = s
        .authed(
            Method::PUT,
            &format!("{}/api/v1/projects/web/functions/hello", s.url),
        )
        .header("content-type", "application/wasm")
        .body(wasm)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    // Reads are not recorded...
    assert_eq!(s.call(&admin, Method::GET, "/orgs/acme/users", None).await.0, 200);
    assert_eq!(
        s.call(&admin, Method::GET, "/projects/web/functions/hello", None)
            .await
            .0,
        200
    );
    // ...but a denied read is.
    let (_, key) = s
        .call(
            &admin,
            Method::POST,
            "/orgs/acme/users/eve/keys",
            Some(json!({"name": "k"})),
        )
        .await;
    let eve = key["token"].as_str().unwrap().to_owned();
    assert_eq!(s.call(&eve, Method::GET, "/orgs/acme/users", None).await.0, 403);

    let (status, page) = s
        .call(&admin, Method::GET, "/orgs/acme/audit?limit=100", None)
        .await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap().clone();
    // 5 mutations + deploy + key creation + the denied read.
    assert_eq!(items.len(), 8, "{page:#}");
    let actions: Vec<&str> = items
        .iter()
        .rev()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "orgs:CreateProject",
            "iam:CreateUser",
            "iam:CreateUser",
            "iam:CreateRole",
            "iam:DeleteRole",
            "functions:CreateFunction",
            "iam:CreateApiKey",
            "iam:ListUsers"
        ]
    );
    let denied = &items[0];
    assert_eq!(denied["decision"], "Deny");
    assert_eq!(denied["outcome"], 403);
    assert_eq!(denied["actor_name"], "eve");
    assert_eq!(denied["actor_type"], "api_key");
    assert_eq!(denied["resource"], "mrn:iam:acme::user/*");
    let conflict = &items[5];
    assert_eq!(
        (conflict["decision"].as_str(), conflict["outcome"].as_i64()),
        (Some("Allow"), Some(409))
    );
    let created = &items[6];
    // The platform's administrator belongs to org `default`: in acme's
    // chain it is named with its org, which no acme user can spell.
    assert_eq!(created["actor_name"], "default/admin");
    assert_eq!(created["source_ip"], "127.0.0.1");
    assert!(!created["trace_id"].as_str().unwrap().is_empty());
    let params: Value = serde_json::from_str(created["params"].as_str().unwrap()).unwrap();
    assert_eq!(
        params["body"],
        json!({"name": "eve", "password": "[redacted]"}),
        "{params}"
    );
    // No record anywhere holds the password.
    assert!(!page.to_string().contains(secret_password));

    // Filters and pages.
    let (_, only_denied) = s
        .call(&admin, Method::GET, "/orgs/acme/audit?decision=Deny", None)
        .await;
    assert_eq!(only_denied["items"].as_array().unwrap().len(), 1);
    let (_, by_action) = s
        .call(
            &admin,
            Method::GET,
            "/orgs/acme/audit?action=iam:CreateUser",
            None,
        )
        .await;
    assert_eq!(by_action["items"].as_array().unwrap().len(), 2);
    let (_, failed) = s
        .call(&admin, Method::GET, "/orgs/acme/audit?outcome=failure", None)
        .await;
    assert_eq!(
        failed["items"].as_array().unwrap().len(),
        2,
        "the 409 and the 403: {failed}"
    );
    let (_, conflicts) = s
        .call(&admin, Method::GET, "/orgs/acme/audit?outcome=409", None)
        .await;
    assert_eq!(conflicts["items"].as_array().unwrap().len(), 1);
    let (_, fine) = s
        .call(&admin, Method::GET, "/orgs/acme/audit?outcome=success", None)
        .await;
    assert_eq!(fine["items"].as_array().unwrap().len(), 6);
    let (_, by_actor) = s
        .call(&admin, Method::GET, "/orgs/acme/audit?actor=eve", None)
        .await;
    assert_eq!(by_actor["items"].as_array().unwrap().len(), 1);
    let (_, by_prefix) = s
        .call(
            &admin,
            Method::GET,
            "/orgs/acme/audit?resource_prefix=mrn:functions:acme:web:",
            None,
        )
        .await;
    assert_eq!(by_prefix["items"].as_array().unwrap().len(), 1);
    let (_, first) = s
        .call(&admin, Method::GET, "/orgs/acme/audit?limit=3", None)
        .await;
    let cursor = first["next_cursor"].as_i64().unwrap();
    let (_, second) = s
        .call(
            &admin,
            Method::GET,
            &format!("/orgs/acme/audit?limit=3&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(second["items"][0]["seq"].as_i64().unwrap(), cursor - 1);
    let (status, _) = s
        .call(&admin, Method::GET, "/orgs/acme/audit?decision=Maybe", None)
        .await;
    assert_eq!(status, 400);
    // The log is not another tenant's to read.
    assert_eq!(s.call(&eve, Method::GET, "/orgs/acme/audit", None).await.0, 403);

    // The chain holds, and shows tampering.
    let (_, ok) = s.call(&admin, Method::GET, "/orgs/acme/audit/verify", None).await;
    assert_eq!(
        ok,
        json!({"ok": true, "records": 9, "broken_at": null, "reason": null}),
        "the denied audit read adds one"
    );
    sql(
        &s,
        "UPDATE audit_records SET outcome = 200 WHERE org_id <> 'org-default' AND seq = 3",
    )
    .await;
    let (_, changed) = s.call(&admin, Method::GET, "/orgs/acme/audit/verify", None).await;
    assert_eq!(changed["ok"], false);
    assert_eq!(changed["broken_at"], 3, "{changed}");
    assert!(
        changed["reason"].as_str().unwrap().contains("changed"),
        "{changed}"
    );

    // Org creation is recorded in the creator's org.
    assert_eq!(
        s.call(&admin, Method::POST, "/orgs", Some(json!({"name": "o2"})))
            .await
            .0,
        201
    );
    let (_, before) = s
        .call(&admin, Method::GET, "/orgs/default/audit/verify", None)
        .await;
    assert_eq!(before["records"], 2, "{before}");
    assert_eq!(before["ok"], true, "{before}");
    sql(
        &s,
        "DELETE FROM audit_records WHERE org_id = 'org-default' AND seq = 1",
    )
    .await;
    let (_, deleted) = s
        .call(&admin, Method::GET, "/orgs/default/audit/verify", None)
        .await;
    assert_eq!(deleted["ok"], false);
    assert_eq!(deleted["broken_at"], 2, "{deleted}");
    assert!(
        deleted["reason"].as_str().unwrap().contains("missing"),
        "{deleted}"
    );
}

/// Mutations sent at once to two nodes sharing a database, in two orgs:
/// every one is recorded exactly once, in an unbroken chain per org (the
/// nodes race on sequence numbers; each node writes its records in
/// batches).
async fn two_nodes_write_one_chain() {
    let a = Server::start(Db::Postgres).await;
    assert_eq!(
        a.call(&a.token, Method::POST, "/orgs", Some(json!({"name": "acme"})))
            .await
            .0,
        201
    );
    let b = Server::join(&a).await;
    const EACH: usize = 40;
    let mut calls = Vec::new();
    for (node, server) in [("a", &a), ("b", &b)] {
        for org in ["default", "acme"] {
            for i in 0..EACH {
                let (http, url, token) = (
                    server.http.clone(),
                    format!("{}/api/v1/orgs/{org}/roles", server.url),
                    server.token.clone(),
                );
                calls.push(tokio::spawn(async move {
                    let resp = http
                        .post(url)
                        .bearer_auth(token)
                        .json(&json!({"name": format!("r-{node}-{i}"), "policies": ["ReadOnly"]}))
                        .send()
                        .await
                        .unwrap();
                    resp.status().as_u16()
                }));
            }
        }
    }
    for call in calls {
        assert_eq!(call.await.unwrap(), 201);
    }
    for org in ["default", "acme"] {
        let (_, verified) = a
            .call(&a.token, Method::GET, &format!("/orgs/{org}/audit/verify"), None)
            .await;
        assert_eq!(verified["ok"], true, "{org}: {verified}");
        let (_, page) = a
            .call(
                &a.token,
                Method::GET,
                &format!("/orgs/{org}/audit?action=iam:CreateRole&limit=500"),
                None,
            )
            .await;
        let mut names: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let params: Value = serde_json::from_str(r["params"].as_str().unwrap()).unwrap();
                params["body"]["name"].as_str().unwrap().to_owned()
            })
            .collect();
        names.sort();
        let mut expected: Vec<String> = ["a", "b"]
            .iter()
            .flat_map(|node| (0..EACH).map(move |i| format!("r-{node}-{i}")))
            .collect();
        expected.sort();
        assert_eq!(names, expected, "{org}: each role created once, recorded once");
    }

    // The writers themselves, two (one a node) on the database, racing
    // for the same org's head with hundreds of records at once: the
    // losers of each race write their batch again on the new head.
    use minicloud_controlplane::audit::AuditLog;
    use minicloud_controlplane::store::{Store, audit::AuditEntry};
    let url = a.database_url();
    let stores = [Store::open(&url).await.unwrap(), Store::open(&url).await.unwrap()];
    let logs = [
        AuditLog::spawn(stores[0].clone()),
        AuditLog::spawn(stores[1].clone()),
    ];
    const RACED: usize = 600;
    let writes: Vec<_> = (0..RACED)
        .map(|i| {
            let log = logs[i % 2].clone();
            let entry = AuditEntry {
                time_ms: i as i64,
                actor_type: "user".into(),
                actor_id: format!("u{i}"),
                actor_name: "racer".into(),
                action: "iam:CreateRole".into(),
                resource: "mrn:iam:race::role/r".into(),
                decision: "Allow".into(),
                outcome: 201,
                source_ip: String::new(),
                user_agent: String::new(),
                trace_id: String::new(),
                params: "{}".into(),
            };
            tokio::spawn(async move { log.append("org-race", entry).await })
        })
        .collect();
    for w in writes {
        assert!(w.await.unwrap(), "every record is stored");
    }
    let verified = stores[0].verify_audit("org-race").await.unwrap();
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.records, RACED as i64);
}
