//! Execution roles: whoever changes the code a role runs must be allowed
//! to pass that role, or deploying would borrow an admin's grants.

use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::json;

crate::on_both_databases!(new_code_under_a_role_needs_pass_role);

async fn new_code_under_a_role_needs_pass_role(db: Db) {
    let s = Server::start(db).await;
    let admin = s.token.clone();
    let (status, body) = s
        .call(
            &admin,
            Method::POST,
            "/projects/default/secrets",
            Some(json!({"name": "db", "secret_string": "hunter2"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    s.put_role(
        "reader",
        json!([{"Effect": "Allow", "Action": "secrets:GetSecretValue", "Resource": "*"}]),
    )
    .await;
    // Version 1: hello; version 2: the caps guest. Both run as `reader`.
    s.deploy_with("vault", "?role=reader", guests::HELLO).await;
    s.deploy("vault", guests::CAPS).await;
    let read = json!({"op": "secret", "name": "db"});
    let invoke = "/projects/default/functions/vault/invoke";
    let (status, out) = s.call(&admin, Method::POST, invoke, Some(read.clone())).await;
    assert_eq!((status, &out), (200, &json!({"value": "hunter2"})));

    let dev = s.user_token("dev", "Developer", Some("default")).await;
    // New code under the role: refused before the upload is compiled.
    let resp = s.deploy_by(&dev, "default", "vault", guests::ECHO).await;
    assert_eq!(resp.status(), 403);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "access_denied");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("iam:PassRole"),
        "{body}"
    );
    // Moving the active version runs other code under the role: refused.
    let (status, _) = s
        .call(
            &dev,
            Method::PATCH,
            "/projects/default/functions/vault",
            Some(json!({"active_version": 1})),
        )
        .await;
    assert_eq!(status, 403);
    let f = s.get_json(&s.api("/functions/vault")).await;
    assert_eq!(f["active_version"], 2, "{f}");
    // Changes that keep the code are the Developer's to make.
    let (status, body) = s
        .call(
            &dev,
            Method::PATCH,
            "/projects/default/functions/vault",
            Some(json!({"limits": {"timeout_ms": 5000}, "active_version": 2})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // So is code of its own, without the role: it reads no secret.
    let resp = s.deploy_by(&dev, "default", "mine", guests::CAPS).await;
    assert_eq!(resp.status(), 201);
    let (status, out) = s
        .call(
            &dev,
            Method::POST,
            "/projects/default/functions/mine/invoke",
            Some(read.clone()),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(out["error"]["kind"], "access-denied", "{out}");
    // The admin, who may pass the role, still deploys under it.
    s.deploy("vault", guests::CAPS).await;
    let (_, out) = s.call(&admin, Method::POST, invoke, Some(read)).await;
    assert_eq!(out, json!({"value": "hunter2"}));
}
