//! Custom routes take effect without a restart, survive one, and refuse
//! conflicts.

use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::json;

crate::on_both_databases!(custom_routes);

async fn custom_routes(db: Db) {
    let mut s = Server::start(db).await;
    s.deploy("hello", guests::HELLO).await;
    s.deploy("echo", guests::ECHO).await;
    let create = |body: serde_json::Value| s.authed(Method::POST, &s.api("/routes")).json(&body).send();
    let resp = create(json!({ "method": "GET", "path": "/hello/{name}", "function": "hello" }))
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let route: serde_json::Value = resp.json().await.unwrap();
    let resp = create(json!({ "method": "ANY", "path": "/echo", "function": "echo" }))
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);

    let text = s
        .on_project("default", Method::GET, "/hello/Ada")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "Hello, Ada! (from MiniCloud)\n");
    let echoed = s
        .on_project("default", Method::PUT, "/echo")
        .body("via route")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.text().await.unwrap(), "via route");
    // The method is part of the route.
    let resp = s
        .on_project("default", Method::POST, "/hello/Ada")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    // Routes answer only on their project's host.
    let resp = s.http.get(format!("{}/hello/Ada", s.url)).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(route["host"], "default.localhost");

    for (body, status) in [
        (
            json!({ "method": "GET", "path": "/hello/{other}", "function": "hello" }),
            409,
        ),
        (
            json!({ "method": "GET", "path": "/api/v1/x", "function": "hello" }),
            400,
        ),
        (
            json!({ "method": "BREW", "path": "/tea", "function": "hello" }),
            400,
        ),
        (
            json!({ "method": "GET", "path": "/nobody", "function": "nobody" }),
            404,
        ),
        (
            json!({ "method": "GET", "path": "no-slash", "function": "hello" }),
            400,
        ),
    ] {
        let resp = create(body.clone()).await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{body}");
    }

    let list = s.get_json(&s.api("/routes")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);

    s.restart().await;
    let text = s
        .on_project("default", Method::GET, "/hello/Bo")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "Hello, Bo! (from MiniCloud)\n");

    let id = route["id"].as_str().unwrap();
    let resp = s
        .authed(Method::DELETE, &s.api(&format!("/routes/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = s
        .on_project("default", Method::GET, "/hello/Bo")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}
