//! The audit log: one record per mutation and per denied call, secrets
//! removed, filters and pages, and a hash chain that shows a changed or a
//! deleted record.

use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::{Value, json};

crate::on_both_databases!(audit_log);

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
