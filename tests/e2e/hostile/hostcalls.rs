//! Host calls: a function of another org, even with a role that grants
//! everything, reaches only its own project's buckets, keys, secrets and
//! events. Every backend a function gets is scoped to its project when it
//! is loaded, so names it chooses cannot leave it.

use super::{function_with_every_grant, tenant};
use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::{Value, json};

crate::on_both_databases!(a_function_reaches_only_its_own_project);

async fn a_function_reaches_only_its_own_project(db: Db) {
    let s = Server::start(db).await;
    // The victim's things, under names the attacker knows.
    s.create_bucket("vault").await;
    let put = s
        .authed(Method::PUT, &s.api("/buckets/vault/objects/plans.txt"))
        .body("the victim's plans")
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let (status, _) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/default/secrets",
            Some(json!({"name": "db", "secret_string": "hunter2"})),
        )
        .await;
    assert_eq!(status, 201);
    s.put_role(
        "kv-writer",
        json!([{"Effect": "Allow", "Action": "kv:*", "Resource": "*"}]),
    )
    .await;
    s.deploy_with("keeper", "?role=kv-writer", guests::CAPS).await;
    let (status, out) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/default/functions/keeper/invoke",
            Some(json!({"op": "kv-set", "bucket": "app", "key": "k", "value": "victim's value"})),
        )
        .await;
    assert_eq!(status, 200, "{out}");

    // The attacker: its own org, a role granting every action on every
    // resource, and the caps guest.
    let evil = tenant(&s, "evil", "evil").await;
    function_with_every_grant(&s, &evil, "evil", "evil", "probe", guests::CAPS).await;
    let probe = |input: Value| {
        let evil = evil.clone();
        let s = &s;
        async move {
            let (status, out) = s
                .call(
                    &evil,
                    Method::POST,
                    "/projects/evil/functions/probe/invoke",
                    Some(input),
                )
                .await;
            assert_eq!(status, 200, "{out}");
            out
        }
    };
    // Names of another project are names in the function's own one:
    // buckets and secrets it does not have are not found, and its own
    // key-value bucket has no such key.
    let (not_found, no_value) = ("not-found", "no value");
    let attempts = [
        (
            json!({"op": "get", "bucket": "vault", "key": "plans.txt"}),
            not_found,
        ),
        (
            json!({"op": "head", "bucket": "vault", "key": "plans.txt"}),
            not_found,
        ),
        (json!({"op": "list", "bucket": "vault", "prefix": ""}), not_found),
        (
            json!({"op": "delete", "bucket": "vault", "key": "plans.txt"}),
            not_found,
        ),
        (
            json!({"op": "put", "bucket": "vault", "key": "plans.txt", "body": "overwritten"}),
            not_found,
        ),
        (json!({"op": "secret", "name": "db"}), not_found),
        (json!({"op": "kv-get", "bucket": "app", "key": "k"}), no_value),
    ];
    for (attempt, expected) in attempts {
        let out = probe(attempt.clone()).await;
        let text = out.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("victim") && !text.contains("plans"),
            "{attempt} leaked: {out}"
        );
        let as_expected = if expected == not_found {
            out["error"]["kind"] == not_found
        } else {
            out.get("value").is_some_and(Value::is_null)
        };
        assert!(
            as_expected,
            "{attempt} reached something ({expected} expected): {out}"
        );
    }
    // Judged with the caller's own policies, another org's names are never
    // allowed, whatever the caller's grants say.
    let out = probe(json!({"op": "authorize", "action": "secrets:GetSecretValue",
        "resource": "mrn:secrets:default:default:secret/db"}))
    .await;
    assert_eq!(out, json!({"allowed": false}), "{out}");

    // The victim's things are as they were.
    assert_eq!(
        s.authed_text(&s.api("/buckets/vault/objects/plans.txt")).await,
        "the victim's plans"
    );
    let (_, out) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/default/functions/keeper/invoke",
            Some(json!({"op": "kv-get", "bucket": "app", "key": "k"})),
        )
        .await;
    assert!(out.to_string().contains("victim's value"), "{out}");
}
