//! HTTP triggers are public or authenticated, per function and per route;
//! an authenticated call needs functions:InvokeFunction on the function.

use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::json;

crate::on_both_databases!(authenticated_triggers);

/// A GET of `path`: `/fn/...` on the server's address, anything else on
/// the default project's host (where its custom routes answer).
async fn get(s: &Server, path: &str, token: Option<&str>) -> u16 {
    let mut req = if path.starts_with("/fn/") {
        s.http.get(format!("{}{path}", s.url))
    } else {
        s.on_project("default", reqwest::Method::GET, path)
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().status().as_u16()
}

async fn authenticated_triggers(db: Db) {
    let s = Server::start(db).await;
    let admin = s.token.clone();
    // Public by default, as in the foundation.
    let deployed = s.deploy("hello", guests::HELLO).await;
    assert_eq!(deployed["http_auth"], "public");
    assert_eq!(get(&s, "/fn/default/hello/", None).await, 200);

    // Authenticated: no token 401, a bad one 401, an allowed one 200.
    let (status, body) = s
        .call(
            &admin,
            Method::PATCH,
            "/projects/default/functions/hello",
            Some(json!({"http_auth": "authenticated"})),
        )
        .await;
    assert_eq!(
        (status, body["http_auth"].as_str()),
        (200, Some("authenticated")),
        "{body}"
    );
    assert_eq!(get(&s, "/fn/default/hello/", None).await, 401);
    assert_eq!(get(&s, "/fn/default/hello/", Some("mck_nope_nope")).await, 401);
    assert_eq!(get(&s, "/fn/default/hello/", Some(&admin)).await, 200);

    // A principal without functions:InvokeFunction on it: 403, audited.
    assert_eq!(
        s.call(
            &admin,
            Method::POST,
            "/orgs/default/users",
            Some(json!({"name": "viewer"}))
        )
        .await
        .0,
        201
    );
    let (status, _) = s
        .call(
            &admin,
            Method::POST,
            "/orgs/default/bindings",
            Some(json!({"principal": "viewer", "role": "ReadOnly"})),
        )
        .await;
    assert_eq!(status, 201);
    let (_, key) = s
        .call(
            &admin,
            Method::POST,
            "/orgs/default/users/viewer/keys",
            Some(json!({"name": "k"})),
        )
        .await;
    let viewer = key["token"].as_str().unwrap().to_owned();
    assert_eq!(get(&s, "/fn/default/hello/", Some(&viewer)).await, 403);
    let (_, audit) = s
        .call(
            &admin,
            Method::GET,
            "/orgs/default/audit?action=functions:InvokeFunction",
            None,
        )
        .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(audit["items"][0]["decision"], "Deny");
    assert_eq!(audit["items"][0]["actor_name"], "viewer");
    // Granting the action opens the door.
    let invoke = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow",
        "Action": "functions:InvokeFunction", "Resource": "mrn:functions:default:default:function/hello"}});
    assert_eq!(
        s.call(
            &admin,
            Method::POST,
            "/orgs/default/roles",
            Some(json!({"name": "caller"}))
        )
        .await
        .0,
        201
    );
    let (status, _) = s
        .call(
            &admin,
            Method::PUT,
            "/orgs/default/roles/caller/inline-policies/invoke",
            Some(json!({"document": invoke})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .call(
            &admin,
            Method::POST,
            "/orgs/default/bindings",
            Some(json!({"principal": "viewer", "role": "caller"})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(get(&s, "/fn/default/hello/", Some(&viewer)).await, 200);

    // A route may override its function either way.
    s.deploy("open", guests::HELLO).await;
    for (path, function, auth) in [
        ("/door", "hello", "public"),
        ("/guarded", "open", "authenticated"),
    ] {
        let (status, body) = s
            .call(
                &admin,
                Method::POST,
                "/projects/default/routes",
                Some(json!({"method": "GET", "path": path, "function": function, "auth": auth})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["auth"], auth);
    }
    assert_eq!(get(&s, "/door", None).await, 200);
    assert_eq!(get(&s, "/guarded", None).await, 401);
    assert_eq!(get(&s, "/guarded", Some(&admin)).await, 200);
    assert_eq!(get(&s, "/fn/default/open/", None).await, 200);

    // Set at deploy; bad values refused.
    let resp = s
        .deploy_bytes(
            "late",
            "?http_auth=authenticated",
            std::fs::read(guests::HELLO).unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 201);
    assert_eq!(get(&s, "/fn/default/late/", None).await, 401);
    let resp = s
        .deploy_bytes(
            "odd",
            "?http_auth=sometimes",
            std::fs::read(guests::HELLO).unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 400);
}
