//! Every endpoint the router has, called by another org's administrator on
//! this org's resources: by name, by id and by cursor. The table is checked
//! against the router's source, so an endpoint added without a row here
//! fails this test until someone decides what a foreign tenant gets from it.

use super::tenant;
use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// What a foreign org's administrator must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Refused: 403 or 404, with the JSON error body.
    Refused,
    /// Public or about the caller itself; the answer names nothing of the
    /// victim's (checked by the caller of the row).
    Own(u16),
}

struct Row {
    method: &'static str,
    /// The route as the router writes it.
    route: &'static str,
    /// The request actually sent, aimed at the victim.
    path: String,
    body: Option<Value>,
    expect: Expect,
}

fn row(method: &'static str, route: &'static str, path: impl Into<String>, body: Option<Value>) -> Row {
    Row {
        method,
        route,
        path: path.into(),
        body,
        expect: Expect::Refused,
    }
}

/// Every endpoint the server has: the API's from its OpenAPI document
/// (no route of the API is served without being in it: see
/// `http::api::openapi::tests`), the gateway's from its source.
async fn endpoints(s: &Server) -> BTreeSet<(String, String)> {
    let doc: Value = s
        .http
        .get(format!("{}/api/v1/openapi.json", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        // OpenAPI's `{key}` is the router's `{*key}` (the rest of the path).
        let route = match path.strip_suffix("/objects/{key}") {
            Some(bucket) => format!("{bucket}/objects/{{*key}}"),
            None => path.clone(),
        };
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_ascii_uppercase(), route.clone()));
        }
    }
    let gateway =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../controlplane/src/http/gateway/mod.rs");
    for (path, methods) in route_calls(&std::fs::read_to_string(gateway).unwrap()) {
        for m in methods {
            out.insert((m, path.clone()));
        }
    }
    out
}

/// The path and methods of each `.route(...)` call in `text`.
fn route_calls(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (start, _) in text.match_indices(".route(") {
        let rest = &text[start + ".route(".len()..];
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map_or(rest.len(), |(i, _)| i);
        let call = &rest[..end];
        let Some(open) = call.find('"') else { continue };
        let Some(len) = call[open + 1..].find('"') else {
            continue;
        };
        let path = call[open + 1..open + 1 + len].to_owned();
        let handlers = &call[open + 1 + len..];
        let methods = ["get", "post", "put", "patch", "delete", "head", "any"]
            .iter()
            .filter(|m| {
                handlers.match_indices(&format!("{m}(")).any(|(i, _)| {
                    i == 0
                        || !handlers.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && handlers.as_bytes()[i - 1] != b'_'
                })
            })
            .map(|m| m.to_ascii_uppercase())
            .collect();
        out.push((path, methods));
    }
    out
}

crate::on_both_databases!(a_foreign_org_reaches_nothing, no_body_makes_a_5xx);

/// Ids of the victim's resources that endpoints take in their paths.
struct Ids {
    route: String,
    key: String,
    binding: String,
    execution: String,
}

/// The victim: org `default`, project `default`, one of everything.
async fn victim(s: &Server) -> Ids {
    let admin = s.token.clone();
    s.deploy_with("victim", "?http_auth=authenticated", guests::HELLO)
        .await;
    s.create_bucket("vault").await;
    let put = s
        .authed(Method::PUT, &s.api("/buckets/vault/objects/plans.txt"))
        .body("the victim's plans")
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let setup: Vec<(&str, Value)> = vec![
        (
            "/projects/default/routes",
            json!({"method": "GET", "path": "/v", "function": "victim"}),
        ),
        (
            "/projects/default/secrets",
            json!({"name": "vs", "secret_string": "hunter2"}),
        ),
        ("/projects/default/domains", json!({"name": "victim.example.com"})),
        ("/orgs/default/users", json!({"name": "vu"})),
        ("/orgs/default/users/vu/keys", json!({"name": "k"})),
        (
            "/orgs/default/policies",
            json!({"name": "vp", "document": {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "functions:GetFunction", "Resource": "*"}]}}),
        ),
        ("/orgs/default/roles", json!({"name": "vr"})),
        ("/orgs/default/bindings", json!({"principal": "vu", "role": "vr"})),
        (
            "/projects/default/rules",
            json!({"name": "vrule", "sources": {"api": true},
            "targets": [{"function": "victim"}]}),
        ),
    ];
    let mut ids = Vec::new();
    for (path, body) in setup {
        let (status, answer) = s.call(&admin, Method::POST, path, Some(body)).await;
        assert_eq!(status, 201, "POST {path}: {answer}");
        ids.push(answer["id"].as_str().unwrap_or_default().to_owned());
    }
    let (status, answer) = s
        .call(
            &admin,
            Method::PUT,
            "/projects/default/workflows/vwf",
            Some(json!({"definition": {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": true}}}})),
        )
        .await;
    assert_eq!(status, 201, "PUT workflow: {answer}");
    let (status, execution) = s
        .call(
            &admin,
            Method::POST,
            "/projects/default/workflows/vwf/executions",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201, "start: {execution}");
    Ids {
        route: ids[0].clone(),
        key: ids[4].clone(),
        binding: ids[7].clone(),
        execution: execution["id"].as_str().unwrap().to_owned(),
    }
}

/// One row per endpoint, aimed at the victim's resources.
fn rows(ids: &Ids) -> Vec<Row> {
    let (route_id, key_id, binding_id) = (&ids.route, &ids.key, &ids.binding);
    let execution = &ids.execution;
    // A token naming the victim's execution (the random part guessed).
    let token = format!("{execution}.00000000000000000000000000000000");
    let definition = json!({"definition": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}});
    let doc =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let rule = json!({"name": "vrule", "sources": {"api": true}, "targets": [{"function": "victim"}]});
    let v1 = "/api/v1";
    let p = |rest: &str| format!("{v1}/projects/default{rest}");
    let o = |rest: &str| format!("{v1}/orgs/default{rest}");
    let mut rows = vec![
        row("GET", "/api/v1/orgs/{org}", o(""), None),
        row("DELETE", "/api/v1/orgs/{org}", o(""), None),
        row(
            "POST",
            "/api/v1/orgs/{org}/projects",
            o("/projects"),
            Some(json!({"name": "planted"})),
        ),
        row(
            "GET",
            "/api/v1/orgs/{org}/projects/{project}",
            o("/projects/default"),
            None,
        ),
        row(
            "DELETE",
            "/api/v1/orgs/{org}/projects/{project}",
            o("/projects/default"),
            None,
        ),
        row("GET", "/api/v1/orgs/{org}/audit", o("/audit?cursor=1"), None),
        row("GET", "/api/v1/orgs/{org}/audit/verify", o("/audit/verify"), None),
        row("GET", "/api/v1/orgs/{org}/users", o("/users"), None),
        row(
            "POST",
            "/api/v1/orgs/{org}/users",
            o("/users"),
            Some(json!({"name": "mole"})),
        ),
        row("GET", "/api/v1/orgs/{org}/users/{user}", o("/users/vu"), None),
        row(
            "PATCH",
            "/api/v1/orgs/{org}/users/{user}",
            o("/users/vu"),
            Some(json!({"tags": {"a": "b"}})),
        ),
        row("DELETE", "/api/v1/orgs/{org}/users/{user}", o("/users/vu"), None),
        row(
            "GET",
            "/api/v1/orgs/{org}/users/{user}/keys",
            o("/users/admin/keys"),
            None,
        ),
        row(
            "POST",
            "/api/v1/orgs/{org}/users/{user}/keys",
            o("/users/admin/keys"),
            Some(json!({"name": "x"})),
        ),
        row(
            "DELETE",
            "/api/v1/orgs/{org}/users/{user}/keys/{key}",
            o(&format!("/users/vu/keys/{key_id}")),
            None,
        ),
        row("GET", "/api/v1/orgs/{org}/policies", o("/policies"), None),
        row(
            "POST",
            "/api/v1/orgs/{org}/policies",
            o("/policies"),
            Some(json!({"name": "x", "document": doc})),
        ),
        row(
            "GET",
            "/api/v1/orgs/{org}/policies/{policy}",
            o("/policies/vp"),
            None,
        ),
        row(
            "PUT",
            "/api/v1/orgs/{org}/policies/{policy}",
            o("/policies/vp"),
            Some(json!({"document": doc})),
        ),
        row(
            "DELETE",
            "/api/v1/orgs/{org}/policies/{policy}",
            o("/policies/vp"),
            None,
        ),
        row("GET", "/api/v1/orgs/{org}/roles", o("/roles"), None),
        row(
            "POST",
            "/api/v1/orgs/{org}/roles",
            o("/roles"),
            Some(json!({"name": "x"})),
        ),
        row("GET", "/api/v1/orgs/{org}/roles/{role}", o("/roles/vr"), None),
        row("DELETE", "/api/v1/orgs/{org}/roles/{role}", o("/roles/vr"), None),
        row(
            "PUT",
            "/api/v1/orgs/{org}/roles/{role}/policies/{policy}",
            o("/roles/vr/policies/vp"),
            None,
        ),
        row(
            "DELETE",
            "/api/v1/orgs/{org}/roles/{role}/policies/{policy}",
            o("/roles/vr/policies/vp"),
            None,
        ),
        row(
            "PUT",
            "/api/v1/orgs/{org}/roles/{role}/inline-policies/{policy}",
            o("/roles/vr/inline-policies/x"),
            Some(json!({"document": doc})),
        ),
        row(
            "DELETE",
            "/api/v1/orgs/{org}/roles/{role}/inline-policies/{policy}",
            o("/roles/vr/inline-policies/x"),
            None,
        ),
        row("GET", "/api/v1/orgs/{org}/bindings", o("/bindings"), None),
        row(
            "POST",
            "/api/v1/orgs/{org}/bindings",
            o("/bindings"),
            Some(json!({"principal": "vu", "role": "OrgAdmin"})),
        ),
        row(
            "DELETE",
            "/api/v1/orgs/{org}/bindings/{id}",
            o(&format!("/bindings/{binding_id}")),
            None,
        ),
        row(
            "GET",
            "/api/v1/projects/{project}/functions",
            p("/functions?cursor=a"),
            None,
        ),
        row(
            "PUT",
            "/api/v1/projects/{project}/functions/{name}",
            p("/functions/victim"),
            None,
        ),
        row(
            "GET",
            "/api/v1/projects/{project}/functions/{name}",
            p("/functions/victim"),
            None,
        ),
        row(
            "PATCH",
            "/api/v1/projects/{project}/functions/{name}",
            p("/functions/victim"),
            Some(json!({"http_auth": "public"})),
        ),
        row(
            "DELETE",
            "/api/v1/projects/{project}/functions/{name}",
            p("/functions/victim"),
            None,
        ),
        row(
            "GET",
            "/api/v1/projects/{project}/functions/{name}/versions",
            p("/functions/victim/versions"),
            None,
        ),
        row(
            "POST",
            "/api/v1/projects/{project}/functions/{name}/invoke",
            p("/functions/victim/invoke"),
            Some(json!({})),
        ),
        row(
            "GET",
            "/api/v1/projects/{project}/functions/{name}/logs",
            p("/functions/victim/logs"),
            None,
        ),
        row(
            "GET",
            "/api/v1/projects/{project}/functions/{name}/logs/stream",
            p("/functions/victim/logs/stream"),
            None,
        ),
        row(
            "GET",
            "/api/v1/projects/{project}/functions/{name}/invocations",
            p("/functions/victim/invocations"),
            None,
        ),
        row("GET", "/api/v1/projects/{project}/routes", p("/routes"), None),
        row(
            "POST",
            "/api/v1/projects/{project}/routes",
            p("/routes"),
            Some(json!({"method": "GET", "path": "/x", "function": "victim"})),
        ),
        row(
            "DELETE",
            "/api/v1/projects/{project}/routes/{id}",
            p(&format!("/routes/{route_id}")),
            None,
        ),
        row("GET", "/api/v1/projects/{project}/domains", p("/domains"), None),
        row(
            "POST",
            "/api/v1/projects/{project}/domains",
            p("/domains"),
            Some(json!({"name": "x.example.com"})),
        ),
        row(
            "GET",
            "/api/v1/projects/{project}/domains/{name}",
            p("/domains/victim.example.com"),
            None,
        ),
        row(
            "DELETE",
            "/api/v1/projects/{project}/domains/{name}",
            p("/domains/victim.example.com"),
            None,
        ),
        row(
            "POST",
            "/api/v1/projects/{project}/domains/{name}/verify",
            p("/domains/victim.example.com/verify"),
            None,
        ),
        row("GET", "/api/v1/projects/{project}/buckets", p("/buckets"), None),
        row(
            "POST",
            "/api/v1/projects/{project}/buckets",
            p("/buckets"),
            Some(json!({"name": "x"})),
        ),
        row(
            "DELETE",
            "/api/v1/projects/{project}/buckets/{bucket}",
            p("/buckets/vault"),
            None,
        ),
        row(
            "GET",
            "/api/v1/projects/{project}/buckets/{bucket}/objects",
            p("/buckets/vault/objects?cursor=a"),
            None,
        ),
        row(
            "GET",
            "/api/v1/projects/{project}/buckets/{bucket}/objects/{*key}",
            p("/buckets/vault/objects/plans.txt"),
            None,
        ),
        row(
            "HEAD",
            "/api/v1/projects/{project}/buckets/{bucket}/objects/{*key}",
            p("/buckets/vault/objects/plans.txt"),
            None,
        ),
        row(
            "PUT",
            "/api/v1/projects/{project}/buckets/{bucket}/objects/{*key}",
            p("/buckets/vault/objects/plans.txt"),
            None,
        ),
        row(
            "DELETE",
            "/api/v1/projects/{project}/buckets/{bucket}/objects/{*key}",
            p("/buckets/vault/objects/plans.txt"),
            None,
        ),
        row("GET", "/api/v1/projects/{project}/secrets", p("/secrets"), None),
        row(
            "POST",
            "/api/v1/projects/{project}/secrets",
            p("/secrets"),
            Some(json!({"name": "x", "secret_string": "y"})),
        ),
        row(
            "GET",
            "/api/v1/projects/{project}/secrets/{name}",
            p("/secrets/vs"),
            None,
        ),
        row(
            "DELETE",
            "/api/v1/projects/{project}/secrets/{name}",
            p("/secrets/vs"),
            None,
        ),
        row(
            "PUT",
            "/api/v1/projects/{project}/secrets/{name}/value",
            p("/secrets/vs/value"),
            Some(json!({"secret_string": "pwned"})),
        ),
        row(
            "POST",
            "/api/v1/projects/{project}/secrets/{name}/reveal",
            p("/secrets/vs/reveal"),
            Some(json!({})),
        ),
        row(
            "DELETE",
            "/api/v1/projects/{project}/secrets/{name}/versions/{version}",
            p("/secrets/vs/versions/1"),
            None,
        ),
        row("GET", "/api/v1/projects/{project}/rules", p("/rules"), None),
        row(
            "POST",
            "/api/v1/projects/{project}/rules",
            p("/rules"),
            Some(rule.clone()),
        ),
        row(
            "GET",
            "/api/v1/projects/{project}/rules/{name}",
            p("/rules/vrule"),
            None,
        ),
        row(
            "PATCH",
            "/api/v1/projects/{project}/rules/{name}",
            p("/rules/vrule"),
            Some(json!({"enabled": false})),
        ),
        row(
            "DELETE",
            "/api/v1/projects/{project}/rules/{name}",
            p("/rules/vrule"),
            None,
        ),
        row(
            "POST",
            "/api/v1/projects/{project}/events",
            p("/events"),
            Some(json!({"entries": [{"source": "x", "detail-type": "y", "detail": {}}]})),
        ),
        row(
            "GET",
            "/api/v1/projects/{project}/dead-letters",
            p("/dead-letters"),
            None,
        ),
        row(
            "DELETE",
            "/api/v1/projects/{project}/dead-letters/{id}",
            p("/dead-letters/00000000"),
            None,
        ),
        row(
            "POST",
            "/api/v1/projects/{project}/dead-letters/{id}/replay",
            p("/dead-letters/00000000/replay"),
            None,
        ),
        row(
            "POST",
            "/api/v1/policies/simulate",
            format!("{v1}/policies/simulate"),
            Some(
                json!({"principal": {"org": "default", "user": "admin"}, "action": "x:Y", "resource": "mrn:x:default::y/z"}),
            ),
        ),
        row(
            "POST",
            "/api/v1/orgs",
            format!("{v1}/orgs"),
            Some(json!({"name": "second"})),
        ),
        row(
            "POST",
            "/api/v1/auth/signing-keys/rotate",
            format!("{v1}/auth/signing-keys/rotate"),
            None,
        ),
        row("GET", "/metrics", "/metrics", None),
        row("GET", "/api/v1/orgs/{org}/quota", o("/quota"), None),
        row(
            "PUT",
            "/api/v1/orgs/{org}/quota",
            o("/quota"),
            Some(json!({"functions": 1000})),
        ),
        row("GET", "/api/v1/projects/{project}/quota", p("/quota"), None),
        row(
            "PUT",
            "/api/v1/projects/{project}/quota",
            p("/quota"),
            Some(json!({"functions": 1000})),
        ),
    ];
    let w = |rest: &str| format!("{v1}/projects/default/workflows/vwf{rest}");
    let workflow_rows = [
        (
            "GET",
            "/api/v1/projects/{project}/workflows",
            p("/workflows"),
            None,
        ),
        ("GET", "/api/v1/projects/{project}/workflows/{name}", w(""), None),
        (
            "PUT",
            "/api/v1/projects/{project}/workflows/{name}",
            w(""),
            Some(definition),
        ),
        (
            "DELETE",
            "/api/v1/projects/{project}/workflows/{name}",
            w(""),
            None,
        ),
        (
            "GET",
            "/api/v1/projects/{project}/workflows/{name}/executions",
            w("/executions"),
            None,
        ),
        (
            "POST",
            "/api/v1/projects/{project}/workflows/{name}/executions",
            w("/executions"),
            Some(json!({"input": {"planted": true}})),
        ),
        (
            "POST",
            "/api/v1/projects/{project}/workflows/{name}/start-sync",
            w("/start-sync"),
            Some(json!({})),
        ),
        (
            "GET",
            "/api/v1/projects/{project}/workflows/{name}/executions/{id}",
            w(&format!("/executions/{execution}")),
            None,
        ),
        (
            "GET",
            "/api/v1/projects/{project}/workflows/{name}/executions/{id}/history",
            w(&format!("/executions/{execution}/history")),
            None,
        ),
        (
            "GET",
            "/api/v1/projects/{project}/workflows/{name}/executions/{id}/logs",
            w(&format!("/executions/{execution}/logs")),
            None,
        ),
        (
            "GET",
            "/api/v1/projects/{project}/workflows/{name}/tasks",
            w("/tasks"),
            None,
        ),
        (
            "POST",
            "/api/v1/projects/{project}/workflows/{name}/executions/{id}/stop",
            w(&format!("/executions/{execution}/stop")),
            Some(json!({})),
        ),
        (
            "POST",
            "/api/v1/task-tokens/success",
            format!("{v1}/task-tokens/success"),
            Some(json!({"token": token, "output": {"planted": true}})),
        ),
        (
            "POST",
            "/api/v1/task-tokens/failure",
            format!("{v1}/task-tokens/failure"),
            Some(json!({"token": token, "error": "Planted"})),
        ),
        (
            "POST",
            "/api/v1/task-tokens/heartbeat",
            format!("{v1}/task-tokens/heartbeat"),
            Some(json!({"token": token})),
        ),
    ];
    for (method, route, path, body) in workflow_rows {
        rows.push(row(method, route, path, body));
    }
    for f in [
        "/fn/{project}/{name}",
        "/fn/{project}/{name}/",
        "/fn/{project}/{name}/{*rest}",
    ] {
        let path = f
            .replace("{project}", "default")
            .replace("{name}", "victim")
            .replace("{*rest}", "x");
        rows.push(row("ANY", f, path, None));
    }
    // About the caller itself, or public: answered, but with nothing of
    // the victim's.
    let own: Vec<(&str, &str, &str, Option<Value>, u16)> = vec![
        ("GET", "/api/v1/orgs", "/api/v1/orgs", None, 200),
        // Lists filter what the caller may see: none of this org's projects.
        (
            "GET",
            "/api/v1/orgs/{org}/projects",
            "/api/v1/orgs/default/projects?cursor=a",
            None,
            200,
        ),
        ("GET", "/api/v1/auth/me", "/api/v1/auth/me", None, 200),
        (
            "POST",
            "/api/v1/auth/login",
            "/api/v1/auth/login",
            Some(json!({"org": "default", "username": "admin", "password": "guess"})),
            401,
        ),
        (
            "POST",
            "/api/v1/auth/refresh",
            "/api/v1/auth/refresh",
            Some(json!({"refresh_token": "mcr_guess"})),
            401,
        ),
        (
            "POST",
            "/api/v1/auth/logout",
            "/api/v1/auth/logout",
            Some(json!({"refresh_token": "mcr_guess"})),
            204,
        ),
        (
            "POST",
            "/api/v1/events/test-pattern",
            "/api/v1/events/test-pattern",
            Some(json!({"pattern": {"source": ["x"]}, "event": {"source": "x"}})),
            200,
        ),
        ("GET", "/healthz", "/healthz", None, 200),
        ("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", None, 200),
        ("GET", "/readyz", "/readyz", None, 200),
    ];
    for (method, route, path, body, status) in own {
        rows.push(Row {
            method,
            route,
            path: path.to_owned(),
            body,
            expect: Expect::Own(status),
        });
    }

    rows
}

async fn a_foreign_org_reaches_nothing(db: Db) {
    let s = Server::start(db).await;
    let admin = s.token.clone();
    let ids = victim(&s).await;
    let rows = rows(&ids);
    let evil = tenant(&s, "evil", "evil").await;

    // Every endpoint has its row, and no row names an endpoint that is gone.
    let table: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.method.to_owned(), r.route.to_owned()))
        .collect();
    let router = endpoints(&s).await;
    let missing: Vec<_> = router.difference(&table).collect();
    let stale: Vec<_> = table.difference(&router).collect();
    assert!(
        missing.is_empty(),
        "endpoints without a hostile-tenant row: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "rows for endpoints the router does not have: {stale:?}"
    );

    let wasm = std::fs::read(guests::ECHO).unwrap();
    for r in &rows {
        let method = if r.method == "ANY" { "POST" } else { r.method };
        let mut req = s.as_token(
            &evil,
            Method::from_bytes(method.as_bytes()).unwrap(),
            &format!("{}{}", s.url, r.path),
        );
        req = match (&r.body, r.route) {
            (Some(b), _) => req.json(b),
            (None, route) if route.ends_with("functions/{name}") && method == "PUT" => {
                req.header("content-type", "application/wasm").body(wasm.clone())
            }
            (None, route) if route.ends_with("{*key}") && method == "PUT" => req.body("overwritten"),
            _ => req,
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let what = format!("{method} {} -> {status} {text}", r.path);
        for secret in ["hunter2", "the victim's plans", "Hello"] {
            assert!(!text.contains(secret), "leaked {secret:?}: {what}");
        }
        match r.expect {
            Expect::Refused => {
                assert!(status == 403 || status == 404, "{what}");
                if method != "HEAD" {
                    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    assert!(body["error"]["code"].is_string(), "{what}");
                    assert!(
                        !text.contains("mrn:") || !text.contains(":default:"),
                        "names the victim's resources: {what}"
                    );
                }
            }
            Expect::Own(want) => {
                assert_eq!(status, want, "{what}");
                // (The API's description is the same for everyone, and
                // has `default` answers.)
                assert!(
                    !text.contains("\"default\"")
                        || r.route.contains("login")
                        || r.route.ends_with("openapi.json"),
                    "{what}"
                );
            }
        }
    }

    // The victim's things are as they were.
    let f = s.get_json(&s.api("/functions/victim")).await;
    assert_eq!(
        (f["active_version"].as_i64(), f["http_auth"].as_str()),
        (Some(1), Some("authenticated")),
        "{f}"
    );
    let (_, secret) = s
        .call(
            &admin,
            Method::POST,
            "/projects/default/secrets/vs/reveal",
            Some(json!({})),
        )
        .await;
    assert_eq!(secret["secret_string"], "hunter2", "{secret}");
    assert_eq!(
        s.authed_text(&s.api("/buckets/vault/objects/plans.txt")).await,
        "the victim's plans"
    );
    for (path, len) in [
        ("/projects/default/routes", 1),
        ("/projects/default/domains", 1),
        ("/orgs/default/bindings", 2),
        ("/projects/default/rules", 1),
    ] {
        let (_, list) = s.call(&admin, Method::GET, path, None).await;
        assert_eq!(
            list["items"].as_array().map(Vec::len),
            Some(len),
            "{path}: {list}"
        );
    }
    // The cursor of a list never names an org the caller may not see.
    let (_, orgs) = s.call(&evil, Method::GET, "/orgs?limit=1", None).await;
    assert_eq!(orgs["items"][0]["name"], "evil", "{orgs}");
    assert!(!orgs.to_string().contains("\"default\""), "{orgs}");
}

/// A body a client might send by mistake or on purpose: the endpoint's own
/// body with one field replaced, dropped or added, or not JSON at all.
fn mutate(body: &Value, rng: &mut rand::rngs::StdRng) -> Vec<u8> {
    use rand::Rng;
    let odd = |rng: &mut rand::rngs::StdRng| -> Value {
        match rng.random_range(0..9) {
            0 => Value::Null,
            1 => json!(i64::MIN),
            2 => json!(f64::MAX),
            3 => json!("x".repeat(200_000)),
            4 => json!("\u{0}\u{202e}../../etc/passwd"),
            5 => (0..300).fold(json!(1), |inner, _| json!([inner])),
            6 => json!({"$or": [], "*": {"..": null}}),
            7 => json!([true, {}, "", -0.0]),
            _ => json!(-1),
        }
    };
    match rng.random_range(0..6) {
        0 => (0..rng.random_range(0..64)).map(|_| rng.random::<u8>()).collect(),
        1 => b"{\"unterminated\": ".to_vec(),
        2 => odd(rng).to_string().into_bytes(),
        _ => {
            let mut v = body.clone();
            if let Some(obj) = v.as_object_mut() {
                let keys: Vec<String> = obj.keys().cloned().collect();
                match (rng.random_range(0..3), keys.is_empty()) {
                    (0, false) => {
                        let k = &keys[rng.random_range(0..keys.len())];
                        obj.insert(k.clone(), odd(rng));
                    }
                    (1, false) => {
                        let k = &keys[rng.random_range(0..keys.len())];
                        obj.remove(k);
                    }
                    _ => {
                        obj.insert("unexpected".into(), odd(rng));
                    }
                }
            }
            v.to_string().into_bytes()
        }
    }
}

/// Every endpoint that takes JSON, called by its own administrator with
/// mutated bodies: 4xx with the JSON error body, never a 5xx, and the
/// server keeps serving. `MINICLOUD_FUZZ_CASES` sets the cases per endpoint
/// (8 in the test command; `scripts/bench.sh` runs more).
async fn no_body_makes_a_5xx(db: Db) {
    use rand::SeedableRng;
    let s = Server::start(db).await;
    let ids = victim(&s).await;
    let cases: usize = std::env::var("MINICLOUD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let seed: u64 = std::env::var("MINICLOUD_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for r in rows(&ids).iter().filter(|r| r.body.is_some()) {
        let Some(body) = &r.body else { continue };
        for _ in 0..cases {
            let sent = mutate(body, &mut rng);
            let resp = s
                .authed(
                    Method::from_bytes(r.method.as_bytes()).unwrap(),
                    &format!("{}{}", s.url, r.path),
                )
                .header("content-type", "application/json")
                .body(sent.clone())
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            let shown = String::from_utf8_lossy(&sent[..sent.len().min(200)]).into_owned();
            let what = format!(
                "{} {} with {shown:?} (seed {seed}) -> {status} {text}",
                r.method, r.path
            );
            assert!(status < 500, "{what}");
            if status >= 400 {
                let err: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                assert!(
                    err["error"]["code"].is_string() && err["error"]["message"].is_string(),
                    "{what}"
                );
            }
        }
    }
    // A NUL character, which PostgreSQL's text cannot hold, is refused at
    // the door wherever it is encoded (found by this fuzzer).
    for path in [
        "/api/v1/projects/de%00fault/functions",
        "/api/v1/orgs/default/users?cursor=%00",
        "/fn/default%00/victim/",
    ] {
        let resp = s
            .authed(Method::GET, &format!("{}{path}", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{path}");
    }
    for probe in ["/healthz", "/readyz"] {
        let health = s.http.get(format!("{}{probe}", s.url)).send().await.unwrap();
        assert_eq!(health.status(), 200, "{probe} after the fuzzing");
    }
}
