//! Policy evaluation for a realistic principal: five policies, twenty
//! statements, conditions on source address, transport, time, tags and
//! policy variables. Each host call will pay this once.

use minicloud_policy::{Context, Policy, Request, evaluate};
use serde_json::json;
use std::time::{Duration, Instant};

fn principal() -> Vec<(String, Policy)> {
    let docs = [
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "ReadFunctions", "Effect": "Allow", "Action": ["functions:Get*", "functions:List*"],
             "Resource": "mrn:functions:acme:*"},
            {"Sid": "Invoke", "Effect": "Allow", "Action": "functions:InvokeFunction",
             "Resource": "mrn:functions:acme:${mc:project}:function/*",
             "Condition": {"Bool": {"mc:SecureTransport": "true"}}},
            {"Sid": "Deploy", "Effect": "Allow", "Action": ["functions:CreateFunction", "functions:UpdateFunction"],
             "Resource": "mrn:functions:acme:web:function/*",
             "Condition": {"IpAddress": {"mc:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}},
            {"Sid": "NoProdDelete", "Effect": "Deny", "Action": "functions:DeleteFunction",
             "Resource": "mrn:functions:acme:prod:*"}
        ]}),
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Home", "Effect": "Allow", "Action": "storage:*",
             "Resource": "mrn:storage:acme:web:bucket/home/${mc:username}/*"},
            {"Sid": "Shared", "Effect": "Allow", "Action": ["storage:GetObject", "storage:ListObjects"],
             "Resource": "mrn:storage:acme:web:bucket/shared/*"},
            {"Sid": "NoPublic", "Effect": "Deny", "Action": "storage:PutObjectAcl", "Resource": "*"},
            {"Sid": "Tagged", "Effect": "Allow", "Action": "storage:PutObject", "Resource": "*",
             "Condition": {"ForAllValues:StringLike": {"mc:TagKeys": ["team", "cost-*"]}}}
        ]}),
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Kv", "Effect": "Allow", "Action": "kv:*", "Resource": "mrn:kv:acme:web:store/*"},
            {"Sid": "Secrets", "Effect": "Allow", "Action": "secrets:GetSecretValue",
             "Resource": "mrn:secrets:acme:web:secret/app/*",
             "Condition": {"StringEquals": {"mc:PrincipalTag/team": "web"}}},
            {"Sid": "NoRotate", "Effect": "Deny", "Action": "secrets:RotateSecret", "Resource": "*",
             "Condition": {"StringNotEquals": {"mc:PrincipalType": "User"}}},
            {"Sid": "Office", "Effect": "Allow", "Action": "events:PutEvents", "Resource": "*",
             "Condition": {"DateGreaterThan": {"mc:CurrentTime": "2026-01-01T00:00:00Z"},
                           "DateLessThan": {"mc:CurrentTime": "2027-01-01T00:00:00Z"}}}
        ]}),
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Http", "Effect": "Allow", "Action": "http:Fetch",
             "Resource": ["mrn:http:acme:web:host/api.example.com", "mrn:http:acme:web:host/*.internal"]},
            {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:Get*", "logs:Filter*"], "Resource": "*"},
            {"Sid": "NotIam", "Effect": "Deny", "NotAction": ["functions:*", "storage:*", "kv:*", "secrets:*",
              "events:*", "http:*", "logs:*", "workflows:*"], "Resource": "*"},
            {"Sid": "Workflows", "Effect": "Allow", "Action": "workflows:StartExecution",
             "Resource": "mrn:workflows:acme:web:workflow/*",
             "Condition": {"NumericLessThanEquals": {"mc:MaxConcurrency": 10}}}
        ]}),
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Audit", "Effect": "Deny", "Action": "iam:*", "Resource": "*",
             "Condition": {"BoolIfExists": {"mc:MultiFactorAuthPresent": "false"}}},
            {"Sid": "Regions", "Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"NotIpAddress": {"mc:SourceIp": ["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"]}}},
            {"Sid": "Tags", "Effect": "Allow", "Action": "functions:TagResource", "Resource": "*",
             "Condition": {"StringEquals": {"mc:ResourceTag/owner": "${mc:username}"}}},
            {"Sid": "Own", "Effect": "Allow", "Action": "functions:UntagResource", "Resource": "*",
             "Condition": {"StringLike": {"mc:RequestTag/env": ["dev*", "test*"]}}}
        ]}),
    ];
    docs.iter()
        .enumerate()
        .map(|(i, d)| (format!("policy-{i}"), Policy::from_value(d).unwrap()))
        .collect()
}

/// Median and p99 time of one decision, over requests that exercise
/// allows, denies and implicit denies.
pub fn decisions() -> (Duration, Duration, usize) {
    let policies = principal();
    let ctx = Context::new()
        .with("mc:username", "alice")
        .with("mc:userid", "u-123")
        .with("mc:project", "web")
        .with("mc:PrincipalType", "User")
        .with("mc:PrincipalTag/team", "web")
        .with("mc:SourceIp", "10.1.2.3")
        .with("mc:SecureTransport", "true")
        .with("mc:CurrentTime", "2026-11-23T10:00:00Z")
        .with_many("mc:TagKeys", ["team", "cost-center"]);
    let requests = [
        (
            "functions:InvokeFunction",
            "mrn:functions:acme:web:function/hello",
        ),
        (
            "storage:GetObject",
            "mrn:storage:acme:web:bucket/home/alice/notes.txt",
        ),
        ("secrets:GetSecretValue", "mrn:secrets:acme:web:secret/app/db"),
        ("iam:CreatePolicy", "mrn:iam:acme::policy/x"),
        ("http:Fetch", "mrn:http:acme:web:host/evil.example.com"),
        ("functions:DeleteFunction", "mrn:functions:acme:prod:function/api"),
    ];
    let named: Vec<(&str, &Policy)> = policies.iter().map(|(n, p)| (n.as_str(), p)).collect();
    let mut times = Vec::with_capacity(60_000);
    let mut allowed = 0;
    for i in 0..66_000 {
        let (action, resource) = requests[i % requests.len()];
        let req = Request {
            action,
            resource,
            context: &ctx,
        };
        let start = Instant::now();
        let decision = std::hint::black_box(evaluate(named.iter().copied(), &req));
        let took = start.elapsed();
        if i >= 6_000 {
            times.push(took);
            allowed += usize::from(decision.is_allowed());
        }
    }
    times.sort();
    (
        times[times.len() / 2],
        times[times.len() * 99 / 100],
        allowed * 100 / times.len(),
    )
}
