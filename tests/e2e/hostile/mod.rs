//! The hostile-tenant suite: each test is an attack one tenant (or an
//! anonymous caller, or a guest) tried on another, and asserts that it
//! fails the way `docs/SECURITY.md` says. One module per boundary.

mod artifacts;
mod domains;
mod hostcalls;
mod login;
mod loops;
mod matrix;
mod outbound;
mod passrole;
mod pool;
mod probing;
mod quotas;
mod records;
mod reuse;
mod routes;
mod subjects;
mod tokens;
mod workflows;

use minicloud_tests::Server;
use reqwest::Method;
use serde_json::{Value, json};

/// Creates org `org` with project `project` and a user `boss` bound to
/// OrgAdmin there (a tenant of its own), and returns boss's API key.
pub async fn tenant(s: &Server, org: &str, project: &str) -> String {
    let steps = [
        ("/orgs".to_owned(), json!({"name": org})),
        (format!("/orgs/{org}/projects"), json!({"name": project})),
        (format!("/orgs/{org}/users"), json!({"name": "boss"})),
        (
            format!("/orgs/{org}/bindings"),
            json!({"principal": "boss", "role": "OrgAdmin"}),
        ),
        (format!("/orgs/{org}/users/boss/keys"), json!({"name": "k"})),
    ];
    let mut last = Value::Null;
    for (path, body) in steps {
        let (status, answer) = s.call(&s.token, Method::POST, &path, Some(body)).await;
        assert_eq!(status, 201, "POST {path}: {answer}");
        last = answer;
    }
    last["token"].as_str().unwrap().to_owned()
}

/// In org `org` (whose admin's key is `token`), a role `god` granting
/// every action on every resource, and `guest` deployed as `name` in
/// `project` under it: a tenant's function with all the grants it can
/// give itself.
pub async fn function_with_every_grant(
    s: &Server,
    token: &str,
    org: &str,
    project: &str,
    name: &str,
    guest: &str,
) {
    let all =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    for (path, body) in [
        (format!("/orgs/{org}/roles"), json!({"name": "god"})),
        (
            format!("/orgs/{org}/policies"),
            json!({"name": "all", "document": all}),
        ),
    ] {
        let (status, answer) = s.call(token, Method::POST, &path, Some(body)).await;
        assert_eq!(status, 201, "{path}: {answer}");
    }
    let (status, _) = s
        .call(
            token,
            Method::PUT,
            &format!("/orgs/{org}/roles/god/policies/all"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    deploy_as(s, token, project, name, guest).await;
    let (status, body) = s
        .call(
            token,
            Method::PATCH,
            &format!("/projects/{project}/functions/{name}"),
            Some(json!({"role": "god"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Deploys `guest` as `name` in `project` with `token`, asserting success.
pub async fn deploy_as(s: &Server, token: &str, project: &str, name: &str, guest: &str) {
    let resp = s.deploy_by(token, project, name, guest).await;
    let status = resp.status();
    assert!(
        status.is_success(),
        "deploy {project}/{name}: {status} {}",
        resp.text().await.unwrap()
    );
}

/// Adds a route in `project` with `token`: the status and answer.
pub async fn add_route(s: &Server, token: &str, project: &str, route: Value) -> (u16, Value) {
    s.call(
        token,
        Method::POST,
        &format!("/projects/{project}/routes"),
        Some(route),
    )
    .await
}
