//! The JSON invoke API and the handler world.

use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::json;

crate::on_both_databases!(json_handler_round_trip);

async fn json_handler_round_trip(db: Db) {
    let s = Server::start(db).await;
    let deployed = s.deploy("greet", guests::JSON_HANDLER).await;
    assert_eq!(deployed["world"], "handler");
    let invoke = |body: reqwest::Body| {
        s.authed(Method::POST, &s.api("/functions/greet/invoke"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let resp = invoke(json!({ "name": "Ada" }).to_string().into()).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-minicloud-invocation-id"));
    let out: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(out, json!({ "greeting": "Hello, Ada!", "length": 3 }));

    let resp = invoke(json!({ "name": "Ada", "fail": "not today" }).to_string().into())
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "function_error");
    assert_eq!(err["error"]["message"], "not today");

    let resp = invoke(json!({ "nom": "Ada" }).to_string().into()).await.unwrap();
    assert_eq!(resp.status(), 422);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid input"),
        "{err}"
    );

    let resp = invoke("{not json".into()).await.unwrap();
    assert_eq!(resp.status(), 400);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "invalid_json");

    // Each world is called its own way, with a clear error otherwise.
    let resp = s.http.get(s.fn_url("greet", "/")).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    s.deploy("web", guests::HELLO).await;
    let resp = s
        .authed(Method::POST, &s.api("/functions/web/invoke"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = s
        .authed(Method::POST, &s.api("/functions/nobody/invoke"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}
