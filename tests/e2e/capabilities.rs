//! Host capabilities of functions: each allowed by the execution role,
//! denied without it (the guest sees `access-denied`, the refusal is
//! counted and audited), and refused past its per-invocation cap. The
//! `caps` guest (tests/guests/README.md) runs one operation per call.

use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::{Value, json};

crate::on_both_databases!(
    granted_denied_and_audited,
    a_role_made_again_takes_effect_at_once,
    host_limits_are_enforced,
    scenarios
);

/// Invokes the caps guest with one operation; its JSON answer.
async fn op(s: &Server, input: Value) -> Value {
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/default/functions/caps/invoke",
            Some(input),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn denied(v: &Value) -> bool {
    v["error"]["kind"] == "access-denied"
}

async fn granted_denied_and_audited(db: Db) {
    // The outbound fetches go to this server on loopback, which only an
    // operator's allowed range opens.
    let s = Server::start_with(db, &["--outbound-allow-cidr", "127.0.0.0/8"]).await;
    let admin = s.token.clone();
    for b in ["raw", "out"] {
        s.create_bucket(b).await;
    }
    let (status, body) = s
        .call(
            &admin,
            Method::POST,
            "/projects/default/secrets",
            Some(json!({"name": "api-token", "secret_string": "tok-123"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    s.deploy("caps", guests::CAPS).await;

    // Without an execution role nothing is granted, and nothing traps.
    let out = op(
        &s,
        json!({"op": "kv-set", "bucket": "app", "key": "k", "value": "v"}),
    )
    .await;
    assert!(denied(&out), "{out}");
    let out = op(&s, json!({"op": "secret", "name": "api-token"})).await;
    assert!(denied(&out), "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("secrets:GetSecretValue")
    );

    // A role the caller may not pass, or that does not exist, is refused.
    let (status, body) = s
        .call(
            &admin,
            Method::PATCH,
            "/projects/default/functions/caps",
            Some(json!({"role": "nope"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_role");

    s.put_role("caps-role", json!([
            {"Effect": "Allow", "Action": "kv:*", "Resource": "mrn:kv:${mc:org}:${mc:project}:bucket/app/*"},
            {"Effect": "Allow", "Action": "kv:ListKeys", "Resource": "mrn:kv:${mc:org}:${mc:project}:bucket/app"},
            {"Effect": "Allow", "Action": "storage:GetObject", "Resource": "mrn:storage:${mc:org}:${mc:project}:bucket/raw/*"},
            {"Effect": "Allow", "Action": ["storage:PutObject", "storage:DeleteObject"],
             "Resource": "mrn:storage:${mc:org}:${mc:project}:bucket/out/*"},
            {"Effect": "Allow", "Action": "storage:ListBucket", "Resource": "mrn:storage:*:*:bucket/out"},
            {"Effect": "Allow", "Action": "secrets:GetSecretValue", "Resource": "mrn:secrets:*:*:secret/api-token"}
        ]),
    )
    .await;
    let f = s
        .patch("caps", json!({"role": "caps-role", "config": {"greeting": "hi"}}))
        .await;
    assert_eq!(f["role"], "caps-role");

    // Key-value: granted bucket works, another is denied.
    let out = op(
        &s,
        json!({"op": "kv-set", "bucket": "app", "key": "k", "value": "v1"}),
    )
    .await;
    assert_eq!(out, json!({"ok": true}));
    let out = op(&s, json!({"op": "kv-get", "bucket": "app", "key": "k"})).await;
    assert_eq!(out, json!({"value": "v1"}));
    let out = op(&s, json!({"op": "kv-get", "bucket": "app", "key": "missing"})).await;
    assert_eq!(out, json!({"value": null}));
    // Each increment adds 2 to the counter, which starts at 0.
    for expected in [2, 4] {
        let out = op(
            &s,
            json!({"op": "kv-incr", "bucket": "app", "key": "n", "delta": 2}),
        )
        .await;
        assert_eq!(out["value"], expected, "{out}");
    }
    let out = op(
        &s,
        json!({"op": "kv-append", "bucket": "app", "key": "k", "value": "+x"}),
    )
    .await;
    assert_eq!(out, json!({"value": "v1+x"}));
    let out = op(&s, json!({"op": "kv-keys", "bucket": "app"})).await;
    assert_eq!(out, json!({"keys": ["k", "n"]}));
    let out = op(
        &s,
        json!({"op": "kv-set", "bucket": "private", "key": "k", "value": "v"}),
    )
    .await;
    assert!(denied(&out), "{out}");
    let out = op(&s, json!({"op": "kv-delete", "bucket": "app", "key": "k"})).await;
    assert_eq!(out, json!({"ok": true}));
    let out = op(&s, json!({"op": "kv-get", "bucket": "app", "key": "k"})).await;
    assert_eq!(out, json!({"value": null}));

    // Storage: read raw (written through the REST API), write out.
    let resp = s
        .authed(Method::PUT, &s.api("/buckets/raw/objects/in/a.txt"))
        .header("content-type", "text/plain")
        .body("hello object")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let out = op(&s, json!({"op": "get", "bucket": "raw", "key": "in/a.txt"})).await;
    assert_eq!(out, json!({"size": 12, "body": "hello object"}));
    let out = op(&s, json!({"op": "put", "bucket": "out", "key": "d/x.txt", "body": "derived", "content_type": "text/plain"})).await;
    assert_eq!(out["size"], 7, "{out}");
    assert!(out["etag"].as_str().unwrap().starts_with('"'));
    let out = op(
        &s,
        json!({"op": "put", "bucket": "out", "key": "d/y.txt", "body": "ab", "repeat": 100000}),
    )
    .await;
    assert_eq!(out["size"], 200000, "{out}");
    let out = op(
        &s,
        json!({"op": "put", "bucket": "out", "key": "top.txt", "body": "t"}),
    )
    .await;
    assert_eq!(out["size"], 1, "{out}");
    let resp = s
        .authed(Method::GET, &s.api("/buckets/out/objects/d/x.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/plain");
    assert_eq!(resp.headers()["x-minicloud-meta-source"], "caps");
    assert_eq!(resp.text().await.unwrap(), "derived");
    let out = op(
        &s,
        json!({"op": "list", "bucket": "out", "prefix": "", "delimiter": "/"}),
    )
    .await;
    assert_eq!(out, json!({"keys": ["top.txt"], "prefixes": ["d/"]}));
    // Denied: reading out, writing raw, listing raw, a missing bucket.
    for input in [
        json!({"op": "get", "bucket": "out", "key": "d/x.txt"}),
        json!({"op": "put", "bucket": "raw", "key": "x", "body": "no"}),
        json!({"op": "list", "bucket": "raw", "prefix": ""}),
    ] {
        let out = op(&s, input.clone()).await;
        assert!(denied(&out), "{input} -> {out}");
    }
    let out = op(&s, json!({"op": "get", "bucket": "nope", "key": "x"})).await;
    assert_eq!(out["error"]["kind"], "not-found", "{out}");
    let out = op(&s, json!({"op": "get", "bucket": "raw", "key": "../etc/passwd"})).await;
    assert_eq!(out["error"]["kind"], "invalid", "{out}");

    // Secrets, config, logging.
    let out = op(&s, json!({"op": "secret", "name": "api-token"})).await;
    assert_eq!(out, json!({"value": "tok-123"}));
    let (status, _) = s
        .call(
            &admin,
            Method::POST,
            "/projects/default/secrets",
            Some(json!({"name": "other", "secret_string": "x"})),
        )
        .await;
    assert_eq!(status, 201);
    let out = op(&s, json!({"op": "secret", "name": "other"})).await;
    assert!(denied(&out), "{out}");
    let out = op(&s, json!({"op": "config", "key": "greeting"})).await;
    assert_eq!(out, json!({"value": "hi", "all": [["greeting", "hi"]]}));
    let out = op(&s, json!({"op": "log", "message": "leveled line"})).await;
    assert_eq!(out, json!({"ok": true}));
    let logs = minicloud_tests::eventually(std::time::Duration::from_secs(10), || async {
        let logs = s.get_json(&s.api("/functions/caps/logs")).await;
        let lines = logs["items"].as_array().cloned().unwrap_or_default();
        lines.iter().any(|l| l["line"] == "leveled line").then_some(lines)
    })
    .await
    .expect("the log line is stored");
    let line = logs.iter().find(|l| l["line"] == "leveled line").unwrap();
    assert_eq!(
        (line["stream"].as_str(), line["level"].as_str()),
        (Some("log"), Some("info"))
    );
    assert!(logs.iter().any(|l| l["level"] == "warn"));

    // Identity: the invoke API's caller, and its own policies.
    let out = op(&s, json!({"op": "whoami"})).await;
    assert_eq!(
        (out["kind"].as_str(), out["name"].as_str(), out["org"].as_str()),
        (Some("api-key"), Some("admin"), Some("default")),
        "{out}"
    );
    assert!(
        out["mrn"].as_str().unwrap().starts_with("mrn:iam:default::key/"),
        "{out}"
    );
    let out = op(
        &s,
        json!({"op": "authorize", "action": "functions:DeleteFunction",
        "resource": "mrn:functions:default:default:function/caps"}),
    )
    .await;
    assert_eq!(out, json!({"allowed": true}));
    let out = op(
        &s,
        json!({"op": "authorize", "action": "functions:DeleteFunction",
        "resource": "mrn:functions:other-org:default:function/caps"}),
    )
    .await;
    assert_eq!(out, json!({"allowed": false}));

    // Outbound HTTP only to granted hosts.
    let authority = s.url.trim_start_matches("http://").to_owned();
    let out = op(
        &s,
        json!({"op": "fetch", "authority": authority, "path": "/healthz"}),
    )
    .await;
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("HttpRequestDenied"),
        "{out}"
    );
    s.put_role(
        "caps-role",
        json!([{"Effect": "Allow", "Action": "http:Fetch", "Resource": "mrn:http:*:*:host/127.0.0.1"}]),
    )
    .await;
    let out = op(
        &s,
        json!({"op": "fetch", "authority": authority, "path": "/healthz"}),
    )
    .await;
    assert_eq!(out, json!({"status": 200}));
    // The role's policy was replaced: key-value is no longer granted.
    let out = op(&s, json!({"op": "kv-get", "bucket": "app", "key": "k"})).await;
    assert!(denied(&out), "{out}");

    // Every refusal was counted and audited with the function as actor.
    assert!(s.metric("minicloud_capability_denied_total", "kv:PutItem").await >= 1.0);
    let audit = s
        .denials_once(|r| r["action"] == "http:Fetch")
        .await
        .expect("denied host calls are audited");
    let kv = audit
        .iter()
        .find(|r| r["action"] == "kv:PutItem")
        .expect("the denied kv:PutItem is audited");
    assert_eq!(kv["actor_type"], "function");
    assert_eq!(kv["actor_name"], "default/caps");
    assert_eq!(kv["resource"], "mrn:kv:default:default:bucket/private/k");
    assert!(
        audit
            .iter()
            .any(|r| r["action"] == "secrets:GetSecretValue" && r["actor_type"] == "function")
    );
}

/// Every IAM change reaches loaded functions, creations too: a function
/// whose role was deleted, then made again under its name (with its
/// managed policy, in the one request that creates it), gets the role's
/// grants at once.
async fn a_role_made_again_takes_effect_at_once(db: Db) {
    let s = Server::start(db).await;
    let admin = s.token.clone();
    s.deploy("caps", guests::CAPS).await;
    let doc = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kv:*", "Resource": "mrn:kv:${mc:org}:${mc:project}:bucket/app/*"}
    ]});
    let (status, body) = s
        .call(
            &admin,
            Method::POST,
            "/orgs/default/policies",
            Some(json!({"name": "kv-app", "document": doc})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let make_role = || async {
        let (status, body) = s
            .call(
                &admin,
                Method::POST,
                "/orgs/default/roles",
                Some(json!({"name": "late", "policies": ["kv-app"]})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    };
    make_role().await;
    s.patch("caps", json!({"role": "late"})).await;
    let set = json!({"op": "kv-set", "bucket": "app", "key": "k", "value": "v"});
    assert_eq!(op(&s, set.clone()).await, json!({"ok": true}));

    let (status, body) = s
        .call(&admin, Method::DELETE, "/orgs/default/roles/late", None)
        .await;
    assert_eq!(status, 204, "{body}");
    let out = op(&s, set.clone()).await;
    assert!(denied(&out), "a deleted role grants nothing: {out}");

    make_role().await;
    assert_eq!(
        op(&s, set).await,
        json!({"ok": true}),
        "the role made again is in force at once"
    );
}

async fn host_limits_are_enforced(db: Db) {
    let s = Server::start(db).await;
    s.create_bucket("out").await;
    s.deploy("caps", guests::CAPS).await;
    s.put_role(
        "caps-role",
        json!([
            {"Effect": "Allow", "Action": "kv:*", "Resource": "mrn:kv:*:*:bucket/app/*"},
            {"Effect": "Allow", "Action": "storage:PutObject", "Resource": "mrn:storage:*:*:bucket/out/*"}
        ]),
    )
    .await;
    s.patch(
        "caps",
        json!({"role": "caps-role", "host_limits": {"host_calls": 6, "bytes_written": 1000}}),
    )
    .await;
    // open counts as a call: five gets fit, the sixth is refused.
    let out = op(&s, json!({"op": "kv-loop", "bucket": "app", "n": 50})).await;
    assert_eq!(out["calls"], 5, "{out}");
    assert_eq!(out["error"]["kind"], "limit-exceeded", "{out}");
    // The cap is per invocation: the next one starts afresh.
    let out = op(&s, json!({"op": "kv-loop", "bucket": "app", "n": 3})).await;
    assert_eq!(out, json!({"calls": 3}));
    // Bytes written past the cap fail the upload, which never appears.
    let out = op(
        &s,
        json!({"op": "put", "bucket": "out", "key": "big", "body": "x", "repeat": 5000}),
    )
    .await;
    assert!(out["error"].is_object(), "{out}");
    let resp = s
        .authed(Method::HEAD, &s.api("/buckets/out/objects/big"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let out = op(
        &s,
        json!({"op": "put", "bucket": "out", "key": "small", "body": "x", "repeat": 500}),
    )
    .await;
    assert_eq!(out["size"], 500, "{out}");
}

/// Runs every folder of `tests/scenarios/capabilities` (see its README).
async fn scenarios(db: Db) {
    // `http-allowed` fetches this server on loopback.
    let s = Server::start_with(db, &["--outbound-allow-cidr", "127.0.0.0/8"]).await;
    let t = s.token.clone();
    for b in ["raw", "out"] {
        s.create_bucket(b).await;
    }
    let resp = s
        .authed(Method::PUT, &s.api("/buckets/raw/objects/in.txt"))
        .body("hello object")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    for (name, value) in [("api-token", "tok-123"), ("other", "x")] {
        let (status, _) = s
            .call(
                &t,
                Method::POST,
                "/projects/default/secrets",
                Some(json!({"name": name, "secret_string": value})),
            )
            .await;
        assert_eq!(status, 201);
    }
    s.deploy("caps", guests::CAPS).await;
    let server = s.url.trim_start_matches("http://").to_owned();

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/capabilities");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 15, "scenarios missing in {}", root.display());
    let mut failures = Vec::new();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let scenario: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("scenario.json")).unwrap())
                .unwrap_or_else(|e| panic!("{name}/scenario.json: {e}"));
        let expected = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
        let mut lines = expected.lines();
        let kind = lines.next().unwrap_or_default().trim().to_owned();
        let text = lines
            .next()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty());

        let role_name = if scenario["statements"].is_null() {
            ""
        } else {
            s.put_role("caps-role", scenario["statements"].clone()).await;
            "caps-role"
        };
        let limits = scenario.get("host_limits").cloned().unwrap_or_else(|| json!({}));
        s.patch("caps", json!({"role": role_name, "host_limits": limits}))
            .await;
        let input: Value =
            serde_json::from_str(&scenario["op"].to_string().replace("{server}", &server)).unwrap();
        let out = op(&s, input).await;
        let got_kind = out["error"]["kind"].as_str().unwrap_or("ok").to_owned();
        let shown = out.to_string();
        let text_ok = text.as_ref().is_none_or(|t| shown.contains(t.as_str()));
        if got_kind != kind || !text_ok {
            failures.push(format!("{name}: expected {kind} {text:?}, got {shown}"));
        }
    }
    assert!(failures.is_empty(), "scenarios failed:\n{}", failures.join("\n"));
}
