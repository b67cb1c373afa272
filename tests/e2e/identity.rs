//! Identities: login, refresh and logout; every bad token is a 401; API
//! keys expire and revoke; rate limits per principal; and the isolation
//! matrix: a principal of one project or org cannot reach another's.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use minicloud_controlplane::capabilities::secrets::Keyring;
use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

crate::on_both_databases!(
    sessions_and_bad_tokens,
    isolation_matrix,
    roles_policies_and_denies,
    attribute_based_access,
    administrator_is_guarded
);

async fn login(s: &Server, org: &str, user: &str, password: &str) -> (u16, Value) {
    let resp = s
        .http
        .post(format!("{}/api/v1/auth/login", s.url))
        .json(&json!({"org": org, "username": user, "password": password}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn post_public(s: &Server, path: &str, body: Value) -> u16 {
    s.http
        .post(format!("{}/api/v1{path}", s.url))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The newest signing key, read from the server's database.
async fn signing_key(s: &Server) -> (String, Vec<u8>) {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.database_url()).await.unwrap();
    let row = sqlx::query(
        "SELECT kid, secret FROM signing_keys WHERE retired_ms IS NULL ORDER BY created_ms DESC, kid DESC",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let (kid, stored) = (row.get::<String, _>("kid"), row.get::<String, _>("secret"));
    pool.close().await;
    // Sealed under the master key: the database alone mints no token.
    assert!(stored.starts_with("sealed:"), "{stored}");
    let keyring = Keyring::load(None, &s.data_dir().join("master-key")).unwrap();
    let secret = minicloud_controlplane::iam::tokens::open_key(&keyring, &kid, &stored).unwrap();
    assert!(
        minicloud_controlplane::iam::tokens::open_key(&Keyring::new([9; 32]), &kid, &stored).is_none(),
        "another master key does not open it"
    );
    (kid, secret)
}

fn sign(kid: &str, secret: &[u8], claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

async fn sessions_and_bad_tokens(db: Db) {
    let s = Server::start(db).await;
    let password = std::fs::read_to_string(s.data_dir().join("admin-password")).unwrap();
    let password = password.trim();

    assert_eq!(login(&s, "default", "admin", "wrong password!").await.0, 401);
    assert_eq!(login(&s, "nope", "admin", password).await.0, 401);
    let (status, session) = login(&s, "default", "admin", password).await;
    assert_eq!(status, 200, "{session}");
    let access = session["access_token"].as_str().unwrap().to_owned();
    let refresh = session["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(session["token_type"], "Bearer");
    let (status, me) = s.call(&access, Method::GET, "/auth/me", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (me["user"].as_str(), me["principal_type"].as_str()),
        (Some("admin"), Some("user"))
    );
    assert_eq!(me["source_ip"], "127.0.0.1");
    let user_id = me["user_id"].as_str().unwrap().to_owned();

    // Refresh rotates: the new pair works, the old refresh token does not.
    let resp = s
        .http
        .post(format!("{}/api/v1/auth/refresh", s.url))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let renewed: Value = resp.json().await.unwrap();
    assert_eq!(
        post_public(&s, "/auth/refresh", json!({"refresh_token": refresh})).await,
        401
    );
    let refresh2 = renewed["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        post_public(&s, "/auth/logout", json!({"refresh_token": refresh2})).await,
        204
    );
    assert_eq!(
        post_public(&s, "/auth/refresh", json!({"refresh_token": refresh2})).await,
        401
    );

    // Forged and broken access tokens.
    let (kid, secret) = signing_key(&s).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = |exp: i64| json!({"sub": user_id, "org": "org-default", "iat": now - 10, "exp": exp, "typ": "access"});
    let good = sign(&kid, &secret, &claims(now + 600));
    assert_eq!(
        s.call(&good, Method::GET, "/auth/me", None).await.0,
        200,
        "a well-signed token works"
    );
    let expired = sign(&kid, &secret, &claims(now - 120));
    let wrong_key = sign(&kid, b"not the server's key at all, 32b", &claims(now + 600));
    let unknown_kid = sign("no-such-key", &secret, &claims(now + 600));
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    parts[1] = b64(claims(now + 99_999).to_string().as_bytes());
    let tampered = parts.join(".");
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT", "kid": kid})
            .to_string()
            .as_bytes()),
        b64(claims(now + 600).to_string().as_bytes())
    );
    for (what, token) in [
        ("expired", expired),
        ("wrong key", wrong_key),
        ("unknown key id", unknown_kid),
        ("tampered", tampered),
        ("alg none", none),
        ("garbage", "a.b.c".to_owned()),
    ] {
        let (status, body) = s.call(&token, Method::GET, "/auth/me", None).await;
        assert_eq!(status, 401, "{what} token: {body}");
        assert_eq!(body["error"]["code"], "unauthenticated", "{what}");
    }

    // Key rotation keeps tokens of the previous key working.
    let (status, _) = s
        .call(&s.token, Method::POST, "/auth/signing-keys/rotate", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(s.call(&access, Method::GET, "/auth/me", None).await.0, 200);

    // API keys: shown once, revocable, expiring, last use recorded.
    let (status, key) = s
        .call(
            &s.token,
            Method::POST,
            "/orgs/default/users/admin/keys",
            Some(json!({"name": "ci", "expires_in_secs": 2})),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let token = key["token"].as_str().unwrap().to_owned();
    let key_id = key["id"].as_str().unwrap().to_owned();
    assert_eq!(
        s.call(&token, Method::GET, "/auth/me", None).await.1["principal_type"],
        "api_key"
    );
    let (_, keys) = s
        .call(&s.token, Method::GET, "/orgs/default/users/admin/keys", None)
        .await;
    assert!(
        keys.to_string().find(&token[token.len() - 16..]).is_none(),
        "secrets are never listed"
    );
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert_eq!(
        s.call(&token, Method::GET, "/auth/me", None).await.0,
        401,
        "expired key"
    );
    let (_, key2) = s
        .call(
            &s.token,
            Method::POST,
            "/orgs/default/users/admin/keys",
            Some(json!({"name": "tmp"})),
        )
        .await;
    let token2 = key2["token"].as_str().unwrap().to_owned();
    assert_eq!(s.call(&token2, Method::GET, "/auth/me", None).await.0, 200);
    let path = format!("/orgs/default/users/admin/keys/{}", key2["id"].as_str().unwrap());
    assert_eq!(s.call(&s.token, Method::DELETE, &path, None).await.0, 204);
    assert_eq!(
        s.call(&token2, Method::GET, "/auth/me", None).await.0,
        401,
        "revoked key"
    );
    let wrong_secret = format!("mck_{key_id}_{}", "0".repeat(64));
    assert_eq!(s.call(&wrong_secret, Method::GET, "/auth/me", None).await.0, 401);
    let (_, keys) = s
        .call(&s.token, Method::GET, "/orgs/default/users/admin/keys", None)
        .await;
    let used = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["last_used_ms"].is_i64());
    assert!(used, "last use is recorded: {keys}");
}

/// Sets up org `acme` with projects `a` and `b`, and returns an API key of
/// user `dev`, a Developer in project `a` only.
async fn developer_in_a(s: &Server) -> String {
    let admin = &s.token;
    assert_eq!(
        s.call(admin, Method::POST, "/orgs", Some(json!({"name": "acme"})))
            .await
            .0,
        201
    );
    for p in ["a", "b"] {
        assert_eq!(
            s.call(
                admin,
                Method::POST,
                "/orgs/acme/projects",
                Some(json!({"name": p}))
            )
            .await
            .0,
            201
        );
    }
    let (status, body) = s
        .call(
            admin,
            Method::POST,
            "/orgs/acme/users",
            Some(json!({"name": "dev"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = s
        .call(
            admin,
            Method::POST,
            "/orgs/acme/bindings",
            Some(json!({"principal": "dev", "role": "Developer", "project": "a"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, key) = s
        .call(
            admin,
            Method::POST,
            "/orgs/acme/users/dev/keys",
            Some(json!({"name": "laptop"})),
        )
        .await;
    key["token"].as_str().unwrap().to_owned()
}

async fn isolation_matrix(db: Db) {
    let s = Server::start(db).await;
    let dev = developer_in_a(&s).await;
    let wasm = std::fs::read(guests::HELLO).unwrap();
    let deploy = |project: &str, token: &str| {
        s.as_token(
            token,
            Method::PUT,
            &format!("{}/api/v1/projects/{project}/functions/hello", s.url),
        )
        .header("content-type", "application/wasm")
        .body(wasm.clone())
        .send()
    };
    assert_eq!(
        deploy("a", &dev).await.unwrap().status(),
        201,
        "a Developer deploys in its project"
    );
    assert_eq!(deploy("b", &s.token).await.unwrap().status(), 201);
    let (status, route) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/b/routes",
            Some(json!({"method": "GET", "path": "/b-hello", "function": "hello"})),
        )
        .await;
    assert_eq!(status, 201);
    let route_id = route["id"].as_str().unwrap().to_owned();

    // Everything in project a works for dev.
    for (method, path) in [
        (Method::GET, "/projects/a/functions"),
        (Method::GET, "/projects/a/functions/hello"),
        (Method::GET, "/projects/a/functions/hello/versions"),
        (Method::GET, "/projects/a/functions/hello/logs"),
        (Method::GET, "/projects/a/functions/hello/invocations"),
        (Method::GET, "/projects/a/routes"),
    ] {
        assert_eq!(
            s.call(&dev, method.clone(), path, None).await.0,
            200,
            "{method} {path}"
        );
    }

    // Nothing in project b, in another project, org or the platform does.
    let b_route = format!("/projects/b/routes/{route_id}");
    let denied: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/projects/b/functions", None),
        (Method::GET, "/projects/b/functions/hello", None),
        (
            Method::PATCH,
            "/projects/b/functions/hello",
            Some(json!({"env": {"A": "1"}})),
        ),
        (Method::DELETE, "/projects/b/functions/hello", None),
        (Method::GET, "/projects/b/functions/hello/versions", None),
        (
            Method::POST,
            "/projects/b/functions/hello/invoke",
            Some(json!({})),
        ),
        (Method::GET, "/projects/b/functions/hello/logs", None),
        (Method::GET, "/projects/b/functions/hello/invocations", None),
        (Method::GET, "/projects/b/routes", None),
        (
            Method::POST,
            "/projects/b/routes",
            Some(json!({"method": "GET", "path": "/x", "function": "hello"})),
        ),
        (Method::DELETE, &b_route, None),
        (Method::GET, "/projects/default/functions", None),
        (Method::GET, "/orgs/acme", None),
        (Method::DELETE, "/orgs/acme/projects/b", None),
        (Method::POST, "/orgs/acme/projects", Some(json!({"name": "c"}))),
        (Method::GET, "/orgs/acme/users", None),
        (Method::POST, "/orgs/acme/users", Some(json!({"name": "eve"}))),
        (
            Method::POST,
            "/orgs/acme/bindings",
            Some(json!({"principal": "dev", "role": "OrgAdmin"})),
        ),
        (
            Method::POST,
            "/orgs/acme/policies",
            Some(json!({"name": "p", "document": {}})),
        ),
        (Method::GET, "/orgs/default", None),
        (Method::GET, "/orgs/default/projects/default", None),
        (Method::POST, "/orgs", Some(json!({"name": "mine"}))),
        (Method::POST, "/auth/signing-keys/rotate", None),
        (Method::GET, "/orgs/acme/users/dev", None),
        (
            Method::PATCH,
            "/orgs/acme/users/dev",
            Some(json!({"tags": {"team": "x"}})),
        ),
        (Method::DELETE, "/orgs/acme/users/dev", None),
        (Method::GET, "/orgs/acme/users/dev/keys", None),
        (
            Method::POST,
            "/orgs/acme/users/dev/keys",
            Some(json!({"name": "more"})),
        ),
        (Method::DELETE, "/orgs/acme/users/dev/keys/x", None),
        (Method::GET, "/orgs/acme/policies", None),
        (Method::GET, "/orgs/acme/policies/ReadOnly", None),
        (
            Method::PUT,
            "/orgs/acme/policies/p",
            Some(json!({"document": {}})),
        ),
        (Method::DELETE, "/orgs/acme/policies/p", None),
        (Method::GET, "/orgs/acme/roles", None),
        (Method::POST, "/orgs/acme/roles", Some(json!({"name": "r"}))),
        (Method::GET, "/orgs/acme/roles/r", None),
        (Method::DELETE, "/orgs/acme/roles/r", None),
        (Method::PUT, "/orgs/acme/roles/r/policies/ReadOnly", None),
        (
            Method::PUT,
            "/orgs/acme/roles/r/inline-policies/p",
            Some(json!({"document": {}})),
        ),
        (Method::GET, "/orgs/acme/bindings", None),
        (Method::DELETE, "/orgs/acme/bindings/x", None),
        (Method::GET, "/orgs/acme/audit", None),
        (Method::GET, "/orgs/acme/audit/verify", None),
        (Method::DELETE, "/orgs/acme", None),
        (Method::GET, "/projects/default/routes", None),
        (
            Method::POST,
            "/policies/simulate",
            Some(
                json!({"principal": {"org": "default", "user": "admin"}, "action": "x:Y", "resource": "mrn:x:default::y/z"}),
            ),
        ),
    ];
    for (method, path, body) in denied {
        let (status, resp) = s.call(&dev, method.clone(), path, body).await;
        assert!(
            status == 403 || status == 404,
            "{method} {path} gave {status}: {resp}"
        );
        if status == 403 {
            assert_eq!(resp["error"]["code"], "access_denied", "{method} {path}");
        }
    }
    let put = deploy("b", &dev).await.unwrap();
    assert_eq!(put.status(), 403, "deploy into another project");
    // Project b's function is untouched and its route still serves.
    assert_eq!(
        s.call(&s.token, Method::GET, "/projects/b/functions/hello", None)
            .await
            .0,
        200
    );
    let hello = s.on_project("b", Method::GET, "/b-hello").send().await.unwrap();
    assert_eq!(hello.status(), 200);

    // Lists never show another tenant's rows.
    let (_, orgs) = s.call(&dev, Method::GET, "/orgs", None).await;
    assert_eq!(orgs["items"], json!([]), "{orgs}");
    let (_, projects) = s.call(&dev, Method::GET, "/orgs/acme/projects", None).await;
    let names: Vec<&str> = projects["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a"]);

    // An OrgAdmin of another org reaches nothing in acme.
    let admin = &s.token;
    assert_eq!(
        s.call(admin, Method::POST, "/orgs", Some(json!({"name": "rival"})))
            .await
            .0,
        201
    );
    assert_eq!(
        s.call(
            admin,
            Method::POST,
            "/orgs/rival/users",
            Some(json!({"name": "boss"}))
        )
        .await
        .0,
        201
    );
    let (status, _) = s
        .call(
            admin,
            Method::POST,
            "/orgs/rival/bindings",
            Some(json!({"principal": "boss", "role": "OrgAdmin"})),
        )
        .await;
    assert_eq!(status, 201);
    let (_, key) = s
        .call(
            admin,
            Method::POST,
            "/orgs/rival/users/boss/keys",
            Some(json!({"name": "k"})),
        )
        .await;
    let boss = key["token"].as_str().unwrap().to_owned();
    assert_eq!(
        s.call(
            &boss,
            Method::POST,
            "/orgs/rival/projects",
            Some(json!({"name": "r1"}))
        )
        .await
        .0,
        201
    );
    assert_eq!(s.call(&boss, Method::GET, "/orgs/rival/users", None).await.0, 200);
    for (method, path) in [
        (Method::GET, "/projects/a/functions"),
        (Method::GET, "/projects/b/functions/hello"),
        (Method::GET, "/orgs/acme"),
        (Method::GET, "/orgs/acme/users"),
        (Method::GET, "/orgs/acme/bindings"),
    ] {
        let status = s.call(&boss, method.clone(), path, None).await.0;
        assert!(status == 403 || status == 404, "{method} {path} gave {status}");
    }
    let (_, orgs) = s.call(&boss, Method::GET, "/orgs", None).await;
    assert_eq!(
        orgs["items"],
        json!([{"name": "rival", "created_ms": orgs["items"][0]["created_ms"]}])
    );
    // A binding cannot reach across orgs either.
    let (status, _) = s
        .call(
            admin,
            Method::POST,
            "/orgs/rival/bindings",
            Some(json!({"principal": "boss", "role": "Developer", "project": "a"})),
        )
        .await;
    assert_eq!(status, 404);
}

async fn roles_policies_and_denies(db: Db) {
    let s = Server::start_with(db, &["--rate-limit-rps", "1", "--rate-limit-burst", "200"]).await;
    let admin = &s.token;
    let dev = developer_in_a(&s).await;

    // Writing a policy validates it, with the JSON path of the problem.
    let (status, body) = s
        .call(
            admin,
            Method::POST,
            "/orgs/acme/policies",
            Some(json!({"name": "bad",
        "document": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
            "Resource": "*", "Condition": {"StringEqualz": {"mc:username": "x"}}}]}})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["path"], "document.Statement[0].Condition.StringEqualz",
        "{body}"
    );
    let (status, body) = s
        .call(
            admin,
            Method::POST,
            "/orgs/acme/policies",
            Some(json!({"name": "arn",
        "document": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
            "Resource": ["mrn:functions:acme:a:*", "arn:aws:s3:::bucket/*"]}]}})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["path"], "document.Statement[0].Resource[1]",
        "{body}"
    );

    // An explicit deny, attached through a custom role, beats the built-in
    // Developer allow.
    let no_delete = json!({"Version": "2012-10-17", "Statement": {"Sid": "KeepFunctions", "Effect": "Deny",
        "Action": "functions:DeleteFunction", "Resource": "mrn:functions:acme:a:function/*"}});
    let (status, body) = s
        .call(
            admin,
            Method::POST,
            "/orgs/acme/policies",
            Some(json!({"name": "no-delete", "document": no_delete})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = s
        .call(
            admin,
            Method::POST,
            "/orgs/acme/roles",
            Some(json!({"name": "careful", "policies": ["no-delete"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = s
        .call(
            admin,
            Method::POST,
            "/orgs/acme/bindings",
            Some(json!({"principal": "dev", "role": "careful"})),
        )
        .await;
    assert_eq!(status, 201);
    let wasm = std::fs::read(guests::HELLO).unwrap();
    let put = s
        .as_token(
            &dev,
            Method::PUT,
            &format!("{}/api/v1/projects/a/functions/hello", s.url),
        )
        .header("content-type", "application/wasm")
        .body(wasm)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let (status, body) = s
        .call(&dev, Method::DELETE, "/projects/a/functions/hello", None)
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("KeepFunctions"),
        "{body}"
    );

    // An inline policy of a role grants what the built-ins do not.
    let read_users = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow",
        "Action": ["iam:ListUsers", "iam:GetUser"], "Resource": "mrn:iam:${mc:PrincipalOrg}::user/*"}});
    assert_eq!(s.call(&dev, Method::GET, "/orgs/acme/users", None).await.0, 403);
    let (status, body) = s
        .call(
            admin,
            Method::PUT,
            "/orgs/acme/roles/careful/inline-policies/read-users",
            Some(json!({"document": read_users})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.call(&dev, Method::GET, "/orgs/acme/users", None).await.0, 200);
    // Detaching the deny gives the delete back.
    assert_eq!(
        s.call(
            admin,
            Method::DELETE,
            "/orgs/acme/roles/careful/policies/no-delete",
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        s.call(&dev, Method::DELETE, "/projects/a/functions/hello", None)
            .await
            .0,
        204
    );
    let (_, role) = s.call(admin, Method::GET, "/orgs/acme/roles/careful", None).await;
    assert_eq!(role["policies"], json!([]));
    assert_eq!(role["inline_policies"][0]["name"], "read-users");
    // Built-in policies are readable and reserved.
    let (status, body) = s
        .call(admin, Method::GET, "/orgs/acme/policies/ReadOnly", None)
        .await;
    assert_eq!((status, body["builtin"].as_bool()), (200, Some(true)));
    let (status, _) = s
        .call(
            admin,
            Method::POST,
            "/orgs/acme/bindings",
            Some(json!({"principal": "dev", "role": "Administrator"})),
        )
        .await;
    assert_eq!(status, 400);

    // Rate limits are per principal: dev exhausting its bucket leaves the
    // admin untouched.
    let mut limited = None;
    for _ in 0..300 {
        let resp = s
            .as_token(&dev, Method::GET, &format!("{}/api/v1/auth/me", s.url))
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            limited = Some(resp);
            break;
        }
    }
    let limited = limited.expect("the burst of 200 ran out");
    assert!(limited.headers().contains_key("retry-after"));
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(s.call(admin, Method::GET, "/auth/me", None).await.0, 200);
    assert!(s.metric("minicloud_rate_limited_total", "").await >= 1.0);
}

/// Tags on users and functions reach policies as principal and resource
/// tags; tag-setting requests carry request tags and tag keys.
async fn attribute_based_access(db: Db) {
    let s = Server::start(db).await;
    let admin = &s.token;
    assert_eq!(
        s.call(admin, Method::POST, "/orgs", Some(json!({"name": "acme"})))
            .await
            .0,
        201
    );
    assert_eq!(
        s.call(
            admin,
            Method::POST,
            "/orgs/acme/projects",
            Some(json!({"name": "a"}))
        )
        .await
        .0,
        201
    );
    let wasm = std::fs::read(guests::HELLO).unwrap();
    for (name, team) in [("f1", "web"), ("f2", "data")] {
        let put = s
            .authed(
                Method::PUT,
                &format!("{}/api/v1/projects/a/functions/{name}", s.url),
            )
            .header("content-type", "application/wasm")
            .body(wasm.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201);
        let (status, body) = s
            .call(
                admin,
                Method::PATCH,
                &format!("/projects/a/functions/{name}"),
                Some(json!({"tags": {"team": team}})),
            )
            .await;
        assert_eq!(
            (status, body["tags"]["team"].as_str()),
            (200, Some(team)),
            "{body}"
        );
    }
    let (status, body) = s
        .call(
            admin,
            Method::POST,
            "/orgs/acme/users",
            Some(json!({"name": "tina", "tags": {"team": "web"}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let same_team = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "OwnTeam", "Effect": "Allow", "Action": ["functions:GetFunction", "functions:UpdateFunction"],
         "Resource": "mrn:functions:acme:*",
         "Condition": {"StringEquals": {"mc:ResourceTag/team": "${mc:PrincipalTag/team}"}}},
        {"Sid": "TagWithin", "Effect": "Allow", "Action": "functions:TagResource",
         "Resource": "mrn:functions:acme:*",
         "Condition": {"ForAllValues:StringEquals": {"mc:TagKeys": ["team", "env"]},
                       "StringEquals": {"mc:RequestTag/team": "${mc:PrincipalTag/team}"}}}
    ]});
    assert_eq!(
        s.call(
            admin,
            Method::POST,
            "/orgs/acme/roles",
            Some(json!({"name": "team"}))
        )
        .await
        .0,
        201
    );
    let (status, _) = s
        .call(
            admin,
            Method::PUT,
            "/orgs/acme/roles/team/inline-policies/same-team",
            Some(json!({"document": same_team})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .call(
            admin,
            Method::POST,
            "/orgs/acme/bindings",
            Some(json!({"principal": "tina", "role": "team"})),
        )
        .await;
    assert_eq!(status, 201);
    let (_, key) = s
        .call(
            admin,
            Method::POST,
            "/orgs/acme/users/tina/keys",
            Some(json!({"name": "k"})),
        )
        .await;
    let tina = key["token"].as_str().unwrap().to_owned();

    assert_eq!(
        s.call(&tina, Method::GET, "/projects/a/functions/f1", None)
            .await
            .0,
        200
    );
    assert_eq!(
        s.call(&tina, Method::GET, "/projects/a/functions/f2", None)
            .await
            .0,
        403
    );
    // Tags beyond the allowed keys, or for another team, are refused.
    let (status, _) = s
        .call(
            &tina,
            Method::PATCH,
            "/projects/a/functions/f1",
            Some(json!({"tags": {"team": "web", "owner": "tina"}})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = s
        .call(
            &tina,
            Method::PATCH,
            "/projects/a/functions/f1",
            Some(json!({"tags": {"team": "data"}})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = s
        .call(
            &tina,
            Method::PATCH,
            "/projects/a/functions/f1",
            Some(json!({"tags": {"team": "web", "env": "dev"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tags"], json!({"team": "web", "env": "dev"}));
    // Moving tina to another team moves her access with it.
    let (status, _) = s
        .call(
            admin,
            Method::PATCH,
            "/orgs/acme/users/tina",
            Some(json!({"tags": {"team": "data"}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        s.call(&tina, Method::GET, "/projects/a/functions/f1", None)
            .await
            .0,
        403
    );
    assert_eq!(
        s.call(&tina, Method::GET, "/projects/a/functions/f2", None)
            .await
            .0,
        200
    );
    let (status, body) = s
        .call(
            admin,
            Method::PATCH,
            "/orgs/acme/users/tina",
            Some(json!({"tags": {"bad key!": "x"}})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_tags"))
    );
}

/// An admin of the `default` org cannot take over the platform
/// administrator, who lives there: only an Administrator manages one.
async fn administrator_is_guarded(db: Db) {
    let s = Server::start(db).await;
    let admin = &s.token;
    assert_eq!(
        s.call(
            admin,
            Method::POST,
            "/orgs/default/users",
            Some(json!({"name": "boss"}))
        )
        .await
        .0,
        201
    );
    assert_eq!(
        s.call(
            admin,
            Method::POST,
            "/orgs/default/users",
            Some(json!({"name": "dev"}))
        )
        .await
        .0,
        201
    );
    let (status, _) = s
        .call(
            admin,
            Method::POST,
            "/orgs/default/bindings",
            Some(json!({"principal": "boss", "role": "OrgAdmin"})),
        )
        .await;
    assert_eq!(status, 201);
    let (_, key) = s
        .call(
            admin,
            Method::POST,
            "/orgs/default/users/boss/keys",
            Some(json!({"name": "k"})),
        )
        .await;
    let boss = key["token"].as_str().unwrap().to_owned();
    // The org admin manages ordinary users...
    assert_eq!(
        s.call(
            &boss,
            Method::POST,
            "/orgs/default/users/dev/keys",
            Some(json!({"name": "k"}))
        )
        .await
        .0,
        201
    );
    // ...but not the platform administrator.
    for (method, path, body) in [
        (
            Method::POST,
            "/orgs/default/users/admin/keys",
            Some(json!({"name": "mine"})),
        ),
        (
            Method::PATCH,
            "/orgs/default/users/admin",
            Some(json!({"tags": {"x": "y"}})),
        ),
        (Method::DELETE, "/orgs/default/users/admin", None),
    ] {
        let (status, body) = s.call(&boss, method.clone(), path, body).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
    }
    // Nor strip the administrator's role.
    let (_, bindings) = s.call(admin, Method::GET, "/orgs/default/bindings", None).await;
    let admin_binding = bindings["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["role_id"] == "builtin:Administrator")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/orgs/default/bindings/{admin_binding}");
    let (status, body) = s.call(&boss, Method::DELETE, &path, None).await;
    assert_eq!(status, 403);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Administrator role"),
        "{body}"
    );
    assert_eq!(s.call(admin, Method::GET, "/auth/me", None).await.0, 200);
    // Nor can the administrator strip itself: the role could not be given
    // again.
    let (status, body) = s.call(admin, Method::DELETE, &path, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("last_administrator")),
        "{body}"
    );
    assert_eq!(s.call(admin, Method::GET, "/auth/me", None).await.0, 200);
    // The administrator still manages itself.
    assert_eq!(
        s.call(
            admin,
            Method::POST,
            "/orgs/default/users/admin/keys",
            Some(json!({"name": "k2"}))
        )
        .await
        .0,
        201
    );
}
