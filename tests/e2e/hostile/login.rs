//! Attacks on `POST /auth/login`: guessing passwords fast, guessing user
//! names, and hiding in (or forging entries of) the audit log.
//!
//! Every client here connects from a loopback address it picks
//! (`127.0.0.N`; the whole 127/8 is local on Linux), so that the limit per
//! source address and the limit per account can be told apart.

use minicloud_tests::{Db, Server, eventually};
use reqwest::Method;
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

crate::on_both_databases!(refusals_look_alike, logins_are_audited);

/// What a login answered.
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

/// A client whose connections come from `127.0.0.<n>`.
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .build()
        .unwrap()
}

async fn login(s: &Server, from: &reqwest::Client, org: &str, user: &str, password: &str) -> Answer {
    let body = json!({"org": org, "username": user, "password": password});
    post(s, from, "/auth/login", body).await
}

async fn post(s: &Server, from: &reqwest::Client, path: &str, body: Value) -> Answer {
    let resp = from
        .post(format!("{}/api/v1{path}", s.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = resp.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        body,
    }
}

fn admin_password(s: &Server) -> String {
    std::fs::read_to_string(s.data_dir().join("admin-password"))
        .unwrap()
        .trim()
        .to_owned()
}

/// Creates a user of the default org, with a password if given.
async fn create_user(s: &Server, name: &str, password: Option<&str>) {
    let mut body = json!({"name": name});
    if let Some(p) = password {
        body["password"] = p.into();
    }
    let (status, answer) = s
        .call(&s.token, Method::POST, "/orgs/default/users", Some(body))
        .await;
    assert_eq!(status, 201, "{answer}");
}

fn assert_throttled(a: &Answer, what: &str) {
    assert_eq!(a.status, 429, "{what}: {}", a.body);
    assert_eq!(a.code(), "rate_limited", "{what}: {}", a.body);
    let wait = a.retry_after.unwrap_or_else(|| panic!("{what}: no Retry-After"));
    assert!((1..=60).contains(&wait), "{what}: Retry-After {wait}");
    assert!(a.body["error"]["trace_id"].is_string(), "{what}: {}", a.body);
}

/// Five attempts a minute per address and per account (the store plays no
/// part in the limits, so SQLite alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_is_rate_limited() {
    let s = Server::start_with(Db::Sqlite, &["--login-attempts-per-minute", "5"]).await;
    let password = admin_password(&s);
    create_user(&s, "bob", Some("bob's long password")).await;

    // One account, guessed from one address: five refusals, then 429.
    let first = client_from(1);
    for n in 0..5 {
        let a = login(&s, &first, "default", "admin", &format!("guess number {n}")).await;
        assert_eq!(a.status, 401, "guess {n}: {}", a.body);
    }
    // The account stays limited from a fresh address, even with the right
    // password: a guesser spread over many addresses gets nowhere faster.
    let second = client_from(2);
    assert_throttled(
        &login(&s, &second, "default", "admin", &password).await,
        "admin from .2",
    );

    // One address guessing many names: the address limit.
    let third = client_from(3);
    for n in 0..5 {
        let a = login(&s, &third, "default", &format!("ghost{n}"), "some password").await;
        assert_eq!(a.status, 401, "ghost{n}: {}", a.body);
    }
    assert_throttled(
        &login(&s, &third, "default", "ghost5", "some password").await,
        "ghost5 from .3",
    );
    // ...even for a real user with the right password.
    assert_throttled(
        &login(&s, &third, "default", "bob", "bob's long password").await,
        "bob from .3",
    );

    // The account is still limited from yet another address.
    assert_throttled(
        &login(&s, &client_from(5), "default", "admin", &password).await,
        "admin from .5",
    );

    // Another user from another address is not held up by either.
    let fourth = client_from(4);
    let a = login(&s, &fourth, "default", "bob", "bob's long password").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["access_token"].is_string());

    // Every attempt is counted, refused ones by their reason.
    assert_eq!(
        s.metric("minicloud_login_total", "outcome=\"rate_limited\"")
            .await,
        4.0
    );
    assert_eq!(
        s.metric("minicloud_login_total", "outcome=\"failure\"").await,
        10.0
    );
    assert_eq!(
        s.metric("minicloud_login_total", "outcome=\"success\"").await,
        1.0
    );

    // Refusals by a limit are audited too, the first of each limit's key
    // in a minute: one for the account (from .2, not again from .5), one
    // for the address .3 (not again for bob).
    let audit = format!("{}/api/v1/orgs/default/audit?action=auth:Login&limit=100", s.url);
    let reasons = |page: &Value| -> Vec<(String, String, i64)> {
        let mut found: Vec<_> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| {
                let params: Value = serde_json::from_str(r["params"].as_str()?).ok()?;
                let reason = params["reason"].as_str()?;
                reason.starts_with("throttled").then(|| {
                    let who = params["body"]["username"].as_str().unwrap_or_default();
                    (
                        reason.to_owned(),
                        who.to_owned(),
                        r["outcome"].as_i64().unwrap_or_default(),
                    )
                })
            })
            .collect();
        found.sort();
        found
    };
    let throttled = eventually(Duration::from_secs(10), || async {
        let found = reasons(&s.get_json(&audit).await);
        (found.len() >= 2).then_some(found)
    })
    .await
    .expect("throttled attempts audited");
    assert_eq!(
        throttled,
        [
            ("throttled_account".to_owned(), "admin".to_owned(), 429),
            ("throttled_address".to_owned(), "ghost5".to_owned(), 429),
        ]
    );

    // Refreshes: three times the logins' rate per address (15 here),
    // whether the tokens are real or guessed; other addresses go on.
    let sixth = client_from(6);
    for n in 0..15 {
        let a = post(
            &s,
            &sixth,
            "/auth/refresh",
            json!({"refresh_token": format!("mcr_guess{n}")}),
        )
        .await;
        assert_eq!(a.status, 401, "refresh {n}: {}", a.body);
    }
    let a = post(
        &s,
        &sixth,
        "/auth/refresh",
        json!({"refresh_token": "mcr_guess15"}),
    )
    .await;
    assert_throttled(&a, "refresh 16 from .6");
    let a = post(
        &s,
        &client_from(7),
        "/auth/refresh",
        json!({"refresh_token": "mcr_x"}),
    )
    .await;
    assert_eq!(a.status, 401, "{}", a.body);
}

/// An unknown name, a real user with a wrong password, a user without a
/// password and an unknown org all answer alike: nothing tells which names
/// exist (timing is left to benchmarks; the server verifies a dummy hash
/// when there is no user).
async fn refusals_look_alike(db: Db) {
    let s = Server::start(db).await;
    create_user(&s, "keyonly", None).await;
    let from = client_from(1);
    let answers = [
        (
            "unknown user",
            login(&s, &from, "default", "nobody", "a password").await,
        ),
        (
            "wrong password",
            login(&s, &from, "default", "admin", "a password").await,
        ),
        (
            "no password",
            login(&s, &from, "default", "keyonly", "a password").await,
        ),
        (
            "unknown org",
            login(&s, &from, "nowhere", "admin", "a password").await,
        ),
    ];
    let (_, first) = &answers[0];
    for (what, a) in &answers {
        assert_eq!(a.status, 401, "{what}: {}", a.body);
        assert_eq!(a.code(), first.code(), "{what}: {}", a.body);
        assert_eq!(
            a.body["error"]["message"], first.body["error"]["message"],
            "{what}"
        );
        assert_eq!(a.retry_after, None, "{what}");
        let keys: Vec<&String> = a.body["error"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["code", "message", "trace_id"], "{what}: {}", a.body);
    }
    assert_eq!(first.code(), "unauthenticated");
    assert_eq!(
        s.metric("minicloud_login_total", "outcome=\"unknown_org\"").await,
        1.0
    );
}

/// Failed and successful logins land in the org's audit chain; a failed
/// one names the attempted user only as a parameter, never as the actor.
async fn logins_are_audited(db: Db) {
    let s = Server::start(db).await;
    let password = admin_password(&s);
    let from = client_from(1);
    let wrong = login(&s, &from, "default", "admin", "not the password").await;
    assert_eq!(wrong.status, 401);
    let ghost = login(&s, &from, "default", "ghost", "not the password").await;
    assert_eq!(ghost.status, 401);
    // An attempt on an org that does not exist has no chain to go into.
    assert_eq!(login(&s, &from, "nowhere", "admin", &password).await.status, 401);
    let ok = login(&s, &from, "default", "admin", &password).await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    // Refusals are answered before their records are written (the write's
    // time would tell which orgs exist): wait for all three.
    let audit = format!("{}/api/v1/orgs/default/audit?action=auth:Login", s.url);
    let page = eventually(Duration::from_secs(10), || async {
        let page = s.get_json(&audit).await;
        (page["items"].as_array()?.len() == 3).then_some(page)
    })
    .await
    .expect("three login records");
    let items = page["items"].as_array().unwrap();
    let named = |reason: Option<&str>| {
        items
            .iter()
            .find(|r| {
                let params: Value = serde_json::from_str(r["params"].as_str().unwrap()).unwrap();
                params["reason"].as_str() == reason
            })
            .unwrap_or_else(|| panic!("a record with reason {reason:?}: {page:#}"))
    };
    let (allowed, ghost_record, wrong_record) = (
        named(None),
        named(Some("unknown_user")),
        named(Some("wrong_password")),
    );

    assert_eq!(allowed["decision"], "Allow");
    assert_eq!(allowed["outcome"], 200);
    assert_eq!(allowed["actor_type"], "user");
    assert_eq!(allowed["actor_name"], "admin");
    assert_eq!(allowed["resource"], "mrn:iam:default::login");

    for (record, answer, name) in [(ghost_record, &ghost, "ghost"), (wrong_record, &wrong, "admin")] {
        assert_eq!(record["decision"], "Deny", "{record:#}");
        assert_eq!(record["outcome"], 401, "{record:#}");
        assert_eq!(record["action"], "auth:Login");
        // Not the user: nobody proved to be anyone.
        assert_eq!(record["actor_type"], "anonymous", "{record:#}");
        assert_eq!(record["actor_id"], "", "{record:#}");
        assert_eq!(record["actor_name"], "", "{record:#}");
        assert_eq!(record["source_ip"], "127.0.0.1");
        assert_eq!(record["trace_id"], answer.body["error"]["trace_id"], "{record:#}");
        let params: Value = serde_json::from_str(record["params"].as_str().unwrap()).unwrap();
        assert_eq!(params["body"]["username"], name, "{params}");
        assert_eq!(params["body"]["password"], "[redacted]", "{params}");
        assert!(!record["params"].as_str().unwrap().contains("not the password"));
    }
    let reasons: Vec<Value> = [ghost_record, wrong_record]
        .iter()
        .map(|r| serde_json::from_str::<Value>(r["params"].as_str().unwrap()).unwrap()["reason"].clone())
        .collect();
    assert_eq!(reasons, [json!("unknown_user"), json!("wrong_password")]);

    // Looking for what the user did finds the login it made, not the
    // attempts made in its name; an invented name finds nothing.
    let by_admin = s
        .get_json(&format!(
            "{}/api/v1/orgs/default/audit?action=auth:Login&actor=admin",
            s.url
        ))
        .await;
    assert_eq!(by_admin["items"].as_array().unwrap().len(), 1, "{by_admin:#}");
    let by_ghost = s
        .get_json(&format!("{}/api/v1/orgs/default/audit?actor=ghost", s.url))
        .await;
    assert_eq!(by_ghost["items"], json!([]), "{by_ghost:#}");

    let verified = s
        .get_json(&format!("{}/api/v1/orgs/default/audit/verify", s.url))
        .await;
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(
        s.metric("minicloud_login_total", "outcome=\"unknown_org\"").await,
        1.0
    );
}
