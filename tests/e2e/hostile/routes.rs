//! Routes: each project's routes live on its own host, so no tenant can
//! shadow, overlap or capture another's paths, and no guest ever receives
//! a caller's platform credentials.

use super::{add_route, deploy_as, tenant};
use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::json;

crate::on_both_databases!(routes_cannot_reach_across_tenants);

async fn routes_cannot_reach_across_tenants(db: Db) {
    let s = Server::start(db).await;
    let evil = tenant(&s, "evil", "evil").await;
    s.deploy("victim", guests::HELLO).await;
    deploy_as(&s, &evil, "evil", "trap", guests::FAULTS).await;
    for (method, path) in [("ANY", "/webhook"), ("GET", "/orders/{id}")] {
        let route = json!({"method": method, "path": path, "function": "victim"});
        assert_eq!(add_route(&s, &s.token, "default", route).await.0, 201);
    }
    // The attacker takes the more specific method, the static path and a
    // catch-all: all accepted, in its own space.
    for (method, path) in [
        ("POST", "/webhook"),
        ("GET", "/orders/42"),
        ("ANY", "/{*rest}"),
        ("ANY", "/webhook"),
        ("GET", "/login"),
    ] {
        let route = json!({"method": method, "path": path, "function": "trap"});
        let (status, body) = add_route(&s, &evil, "evil", route).await;
        assert_eq!(status, 201, "{method} {path}: {body}");
        assert_eq!(body["host"], "evil.localhost");
    }
    // A path the attacker took first is still free in every other project
    // (no tenant can squat on a path).
    let route = json!({"method": "GET", "path": "/login", "function": "victim"});
    let (status, body) = add_route(&s, &s.token, "default", route).await;
    assert_eq!(status, 201, "{body}");
    // The victim's callers still reach the victim.
    for (method, path) in [
        (Method::POST, "/webhook"),
        (Method::GET, "/orders/42"),
        (Method::GET, "/login"),
    ] {
        let resp = s
            .on_project("default", method.clone(), path)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{method} {path}");
        let text = resp.text().await.unwrap();
        assert!(text.starts_with("Hello"), "{method} {path} reached {text:?}");
    }
    // Paths the API does not match are nobody's on the platform's own
    // address: the platform answers 404 itself, and the token stays here.
    for path in ["/api/v1/auth/me/", "/anything", "/webhook"] {
        let resp = s
            .http
            .get(format!("{}{path}", s.url))
            .bearer_auth(&s.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
    }
    // A host that is no single project's label reaches no route either.
    let resp = s
        .http
        .get(format!("{}/webhook", s.url))
        .header("host", "x.evil.localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // On the attacker's own host, its guest gets neither the caller's
    // credentials nor forged platform headers.
    let resp = s
        .on_project("evil", Method::GET, "/headers")
        .bearer_auth(&s.token)
        .header("proxy-authorization", "Basic eDp5")
        .header("x-minicloud-param-rest", "forged")
        .header("x-minicloud-caller", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = resp.text().await.unwrap();
    assert!(!seen.contains(&s.token), "{seen}");
    assert!(!seen.contains("authorization"), "{seen}");
    assert!(
        !seen.contains("forged") && !seen.contains("x-minicloud-caller"),
        "{seen}"
    );
    // The route's own parameter does arrive, set by the platform.
    assert!(seen.contains("x-minicloud-param-rest: headers"), "{seen}");
    // Through /fn too, public or not; nor the console's session cookies
    // (with `--secure-cookies` they go to every path of the host).
    let seen = s
        .http
        .get(format!("{}/fn/evil/trap/headers", s.url))
        .bearer_auth(&s.token)
        .header("cookie", "mc_console=victims; theme=dark")
        .header("cookie", "__Host-mc_console=victims; __Host-MC_login=x")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!seen.contains("authorization"), "{seen}");
    assert!(seen.contains("cookie: theme=dark"), "{seen}");
    assert!(!seen.to_lowercase().contains("mc_"), "{seen}");
    // A function cannot set the console's cookies, on its host or /fn.
    for resp in [
        s.on_project("evil", Method::GET, "/cookies")
            .bearer_auth(&s.token)
            .send()
            .await
            .unwrap(),
        s.http
            .get(format!("{}/fn/evil/trap/cookies", s.url))
            .bearer_auth(&s.token)
            .send()
            .await
            .unwrap(),
    ] {
        let set: Vec<&str> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(set, ["theme=dark; Path=/"], "only the function's own cookie");
    }

    // Platform paths stay unroutable.
    for path in ["/api/v1/x", "/fn/x", "/healthz", "/metrics", "/readyz"] {
        let route = json!({"method": "GET", "path": path, "function": "trap"});
        assert_eq!(add_route(&s, &evil, "evil", route).await.0, 400, "{path}");
    }
    // And another project's table is not the attacker's to write.
    let route = json!({"method": "GET", "path": "/x", "function": "victim"});
    assert_eq!(add_route(&s, &evil, "default", route).await.0, 403);
}

crate::on_both_databases!(a_public_route_needs_the_right_to_make_its_function_public);

/// A Developer may add routes, but a public route to a function that wants
/// authenticated callers would open it: that takes functions:UpdateFunction.
async fn a_public_route_needs_the_right_to_make_its_function_public(db: Db) {
    let s = Server::start(db).await;
    s.deploy_with("guarded", "?http_auth=authenticated", guests::HELLO)
        .await;
    s.put_role(
        "router",
        json!([{"Effect": "Allow", "Action": ["functions:CreateRoute", "functions:GetFunction"], "Resource": "*"}]),
    )
    .await;
    let router = s.user_token("router-user", "router", Some("default")).await;
    let public = json!({"method": "GET", "path": "/open", "function": "guarded", "auth": "public"});
    let (status, body) = add_route(&s, &router, "default", public.clone()).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        s.on_project("default", Method::GET, "/open")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // As the function says, or stricter: fine.
    for auth in [None, Some("authenticated")] {
        let mut route = json!({"method": "GET", "path": "/door", "function": "guarded"});
        if let Some(a) = auth {
            route["auth"] = a.into();
            route["path"] = "/door2".into();
        }
        assert_eq!(add_route(&s, &router, "default", route).await.0, 201);
    }
    assert_eq!(
        s.on_project("default", Method::GET, "/door")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // Someone who may change the function may open it.
    assert_eq!(add_route(&s, &s.token, "default", public).await.0, 201);
}
