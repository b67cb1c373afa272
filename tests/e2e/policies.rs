//! The policy simulator: decisions with the statements behind them, AWS
//! ARNs accepted, and invalid documents refused with the JSON path.

use minicloud_tests::{Db, Server};
use reqwest::Method;
use serde_json::{Value, json};

crate::on_both_databases!(policy_simulator);

async fn policy_simulator(db: Db) {
    let s = Server::start(db).await;
    let url = format!("{}/api/v1/policies/simulate", s.url);
    let simulate = |body: Value| {
        let req = s.authed(Method::POST, &url).json(&body);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let s3 = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadOwn", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::reports/${aws:username}/*"},
            {"Sid": "Office", "Effect": "Deny", "Action": "s3:*", "Resource": "*",
             "Condition": {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}
        ]
    });
    let (status, body) = simulate(json!({
        "policies": [s3],
        "action": "S3:GetObject",
        "resource": "arn:aws:s3:::reports/alice/q3.pdf",
        "context": {"aws:username": "alice", "aws:SourceIp": "203.0.113.9"}
    }))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decision"], "Allow");
    assert_eq!(
        body["statements"],
        json!([{"policy": "policies[0]", "statement": "ReadOwn"}])
    );

    let (_, body) = simulate(json!({
        "policies": [s3],
        "action": "s3:GetObject",
        "resource": "arn:aws:s3:::reports/alice/q3.pdf",
        "context": {"aws:username": "alice", "aws:SourceIp": "198.51.100.1"}
    }))
    .await;
    assert_eq!(body["decision"], "ExplicitDeny");
    assert_eq!(
        body["statements"],
        json!([{"policy": "policies[0]", "statement": "Office"}])
    );

    let (_, body) = simulate(json!({
        "policies": [s3],
        "action": "s3:GetObject",
        "resource": "arn:aws:s3:::reports/bob/q3.pdf",
        "context": {"aws:username": "alice", "aws:SourceIp": "203.0.113.9"}
    }))
    .await;
    assert_eq!(body["decision"], "ImplicitDeny");
    assert_eq!(body["statements"], json!([]));

    // Multivalued keys and our own resource names.
    let tags = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow",
        "Action": "functions:TagResource", "Resource": "mrn:functions:default:*",
        "Condition": {"ForAllValues:StringEquals": {"mc:TagKeys": ["team", "env"]}}}});
    let (_, body) = simulate(json!({
        "policies": [tags], "action": "functions:TagResource",
        "resource": "mrn:functions:default:default:function/hello",
        "context": {"mc:TagKeys": ["team", "env"]}
    }))
    .await;
    assert_eq!(body["decision"], "Allow");
    let (_, body) = simulate(json!({
        "policies": [tags], "action": "functions:TagResource",
        "resource": "mrn:functions:default:default:function/hello",
        "context": {"mc:TagKeys": ["team", "owner"]}
    }))
    .await;
    assert_eq!(body["decision"], "ImplicitDeny");

    // Invalid documents: 400 with the JSON path of the problem.
    let ok =
        json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}});
    for (bad, path) in [
        (
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                "Condition": {"StringEqualz": {"mc:username": "a"}}}]}),
            "policies[1].Statement[0].Condition.StringEqualz",
        ),
        (
            json!({"Version": "2012-10-17", "Statement": {"Effect": "Permit", "Action": "*", "Resource": "*"}}),
            "policies[1].Statement[0].Effect",
        ),
        (json!("not a document"), "policies[1]"),
    ] {
        let (status, body) = simulate(json!({
            "policies": [ok, bad], "action": "functions:GetFunction", "resource": "*"
        }))
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_policy");
        assert_eq!(body["error"]["path"], path, "{body}");
        assert!(body["error"]["trace_id"].is_string());
    }
    let (status, body) = simulate(json!({"policies": [ok], "action": "x", "resource": "*"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_action"))
    );
    let (status, body) =
        simulate(json!({"policies": [ok], "action": "s3:Get", "resource": "bucket/key"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_resource"))
    );

    // A stored principal: its bindings and their scopes decide.
    let admin = |m: Method, path: &str| s.authed(m, &format!("{}/api/v1{path}", s.url));
    let resp = admin(Method::POST, "/orgs/default/users")
        .json(&json!({"name": "dev"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let resp = admin(Method::POST, "/orgs/default/bindings")
        .json(&json!({"principal": "dev", "role": "Developer", "project": "default"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let key: Value = admin(Method::POST, "/orgs/default/users/dev/keys")
        .json(&json!({"name": "k"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for principal in [
        json!({"org": "default", "user": "dev"}),
        json!({"org": "default", "key": key["id"]}),
    ] {
        let (status, body) = simulate(json!({"principal": principal, "action": "functions:GetFunction",
            "resource": "mrn:functions:default:default:function/hello"}))
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["decision"], "Allow");
        assert_eq!(
            body["statements"],
            json!([{"policy": "Developer", "statement": "Functions"}])
        );
        let (_, body) = simulate(json!({"principal": principal, "action": "iam:CreateUser",
            "resource": "mrn:iam:default::user/eve"}))
        .await;
        assert_eq!(body["decision"], "ImplicitDeny");
    }
    let (status, _) = simulate(
        json!({"principal": {"org": "default", "user": "dev"}, "policies": [ok],
        "action": "functions:GetFunction", "resource": "*"}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = simulate(json!({"principal": {"org": "default", "user": "nobody"},
        "action": "functions:GetFunction", "resource": "mrn:functions:default:default:function/x"}))
    .await;
    assert_eq!(status, 404);

    // Simulating is an API call like any other: it needs credentials.
    let resp = s.http.post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(resp.status(), 401);
}
