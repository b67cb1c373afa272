//! The web console over plain HTTP (the browser journeys are in
//! `console_browser`): signing in through the sign-in form, the session
//! cookie, the CSRF token every change needs, the Content-Security-Policy
//! on every page, buttons only for what the user may do, and the API
//! behind the console answering exactly as to any client (another org's
//! project stays out of reach); sessions kept on the server (a copied
//! cookie dies at sign-out, requests renewing at once share one renewal).

use minicloud_tests::{Db, Server, eventually, guests};
use reqwest::{Method, StatusCode, redirect};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

crate::on_both_databases!(console_over_http, sessions_live_on_the_server);

/// A client that keeps cookies and does not follow redirects.
struct Visitor {
    http: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
}

impl Visitor {
    fn new(s: &Server) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(redirect::Policy::none())
                .build()
                .unwrap(),
            base: s.url.clone(),
            cookies: HashMap::new(),
        }
    }

    fn keep(&mut self, resp: &reqwest::Response) {
        for v in resp.headers().get_all("set-cookie") {
            let text = v.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(
        &mut self,
        req: reqwest::RequestBuilder,
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let resp = req.header("cookie", self.cookie_header()).send().await.unwrap();
        self.keep(&resp);
        let (status, headers) = (resp.status(), resp.headers().clone());
        (status, headers, resp.text().await.unwrap())
    }

    async fn get(&mut self, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post_form(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let req = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    /// Signs in through the form; panics unless it leads to the console.
    async fn sign_in(&mut self, org: &str, user: &str, password: &str) {
        let (status, _, page) = self.get("/console/login").await;
        assert_eq!(status, 200);
        let token = attribute(&page, "name=\"csrf\" value=\"");
        let (status, headers, body) = self
            .post_form(
                "/console/login",
                &[
                    ("csrf", &token),
                    ("next", "/console"),
                    ("org", org),
                    ("username", user),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(status, 303, "{body}");
        assert_eq!(headers["location"], "/console");
        assert!(self.cookies.contains_key("mc_console"));
    }
}

/// The value after `marker` up to the next `"`.
fn attribute(page: &str, marker: &str) -> String {
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in {page}"))
        + marker.len();
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

async fn user_with_password(s: &Server, org: &str, name: &str, role: &str) {
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            &format!("/orgs/{org}/users"),
            Some(json!({"name": name, "password": "a long passphrase"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            &format!("/orgs/{org}/bindings"),
            Some(json!({"principal": name, "role": role})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn console_over_http(db: Db) {
    let s = Server::start(db).await;
    s.deploy("hello", guests::HELLO).await;
    user_with_password(&s, "default", "ada", "OrgAdmin").await;
    user_with_password(&s, "default", "rita", "ReadOnly").await;

    // Not signed in: pages lead to the sign-in form, the script's API is 401.
    let mut anon = Visitor::new(&s);
    let (status, headers, _) = anon.get("/console/p/default/functions").await;
    assert_eq!(status, 303);
    assert!(
        headers["location"]
            .to_str()
            .unwrap()
            .starts_with("/console/login?next=")
    );
    let (status, _, _) = anon.get("/console/api/projects/default/functions").await;
    assert_eq!(status, 401);
    // A sign-in form posted without the form's own token is refused.
    let (status, _, _) = anon
        .post_form(
            "/console/login",
            &[
                ("csrf", "x"),
                ("org", "default"),
                ("username", "ada"),
                ("password", "a long passphrase"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    // A wrong password: the form again, with the API's reason.
    let (_, _, page) = anon.get("/console/login").await;
    let token = attribute(&page, "name=\"csrf\" value=\"");
    let (status, _, page) = anon
        .post_form(
            "/console/login",
            &[
                ("csrf", &token),
                ("org", "default"),
                ("username", "ada"),
                ("password", "wrong"),
            ],
        )
        .await;
    assert_eq!(status, 401);
    assert!(page.contains("role=\"alert\""), "{page}");

    let mut ada = Visitor::new(&s);
    ada.sign_in("default", "ada", "a long passphrase").await;
    let (status, headers, page) = ada.get("/console/p/default/functions").await;
    assert_eq!(status, 200);
    let csp = headers["content-security-policy"].to_str().unwrap();
    // Scripts from the assets' folder alone (not `/fn/...` of the origin).
    let host = s.url.trim_start_matches("http://");
    assert!(
        csp.contains(&format!("script-src {host}/console/assets/;"))
            && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(
        page.contains("/console/p/default/functions/hello"),
        "the function is listed"
    );
    assert!(page.contains("id=\"deploy\""), "an admin may deploy");
    assert!(!page.contains("<script>"), "no inline script");
    let csrf = attribute(&page, "data-csrf=\"");

    // The script's API: a change needs the CSRF header, then is the API's.
    let wasm = std::fs::read(guests::HELLO).unwrap();
    let http = ada.http.clone();
    let put = |with: Option<&str>| {
        let mut req = http
            .put(format!("{}/console/api/projects/default/functions/hello2", s.url))
            .header("content-type", "application/wasm")
            .body(wasm.clone());
        if let Some(token) = with {
            req = req.header("x-csrf-token", token);
        }
        req
    };
    let (status, _, _) = ada.send(put(None)).await;
    assert_eq!(status, 403, "no CSRF header");
    let (status, _, _) = ada.send(put(Some("0000"))).await;
    assert_eq!(status, 403, "another CSRF token");
    let (status, _, body) = ada.send(put(Some(&csrf))).await;
    assert_eq!(status, 201, "{body}");
    // The deploy is in the audit trail as ada's, like any API call.
    let (status, _, audit) = ada.get("/console/audit?actor=ada").await;
    assert_eq!(status, 200);
    assert!(audit.contains("functions:CreateFunction"), "{audit}");

    // Forms need the token too.
    let (status, _, _) = ada
        .post_form(
            "/console/p/default/routes",
            &[
                ("csrf", "forged"),
                ("method", "GET"),
                ("path", "/hi"),
                ("function", "hello"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    let (status, _, _) = ada
        .post_form(
            "/console/p/default/routes",
            &[
                ("csrf", &csrf),
                ("method", "GET"),
                ("path", "/hi/{name}"),
                ("function", "hello"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (_, _, routes) = ada.get("/console/p/default/routes").await;
    assert!(routes.contains("/hi/{name}"), "{routes}");
    // The API's refusal, on the form: a path of the platform's own.
    let (status, _, page) = ada
        .post_form(
            "/console/p/default/routes",
            &[
                ("csrf", &csrf),
                ("method", "GET"),
                ("path", "/api/x"),
                ("function", "hello"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("belong to the platform"), "{page}");

    // Escaped output: what a visitor sends comes back as text.
    let (_, _, page) = anon
        .get("/console/login?next=%2Fconsole%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        .await;
    assert!(!page.contains("<script>alert"), "{page}");

    // A ReadOnly user reads, and sees no button it could not use.
    let mut rita = Visitor::new(&s);
    rita.sign_in("default", "rita", "a long passphrase").await;
    let (status, _, page) = rita.get("/console/p/default/functions").await;
    assert_eq!(status, 200);
    assert!(page.contains("/console/p/default/functions/hello"));
    assert!(!page.contains("id=\"deploy\""), "no deploy form for ReadOnly");
    let (_, _, routes) = rita.get("/console/p/default/routes").await;
    assert!(routes.contains("/hi/{name}"));
    assert!(
        !routes.contains("Add a route") && !routes.contains(">Delete<"),
        "{routes}"
    );
    let (status, _, org) = rita.get("/console/org").await;
    assert_eq!(status, 200);
    assert!(org.contains("ada") && !org.contains("Create the user"), "{org}");
    let rita_csrf = attribute(&page, "data-csrf=\"");
    let req = rita
        .http
        .delete(format!("{}/console/api/projects/default/functions/hello", s.url))
        .header("x-csrf-token", &rita_csrf);
    let (status, _, _) = rita.send(req).await;
    assert_eq!(status, 403, "the API refuses what the console does not show");

    // Another org's admin reaches nothing of this org through the console.
    let (status, _) = s
        .call(&s.token, Method::POST, "/orgs", Some(json!({"name": "rival"})))
        .await;
    assert_eq!(status, 201);
    user_with_password(&s, "rival", "eve", "OrgAdmin").await;
    let mut eve = Visitor::new(&s);
    eve.sign_in("rival", "eve", "a long passphrase").await;
    let (status, _, page) = eve.get("/console/p/default/functions").await;
    assert!(status == 403 || status == 404, "{status}");
    assert!(!page.contains("hello"), "{page}");
    let (status, _, _) = eve
        .get("/console/api/projects/default/functions/hello/logs/stream")
        .await;
    assert!(status == 403 || status == 404, "{status}");
    // Nor its quota, its tasks, or the pages that change access (those act
    // on the signed-in user's own org alone).
    let (status, _, page) = eve.get("/console/p/default/quota").await;
    assert!(status == 403 || status == 404, "{status}");
    assert!(!page.contains("Set the quota"), "{page}");
    let (status, _, _) = eve.get("/console/api/projects/default/workflows/x/tasks").await;
    assert!(status == 403 || status == 404, "{status}");
    let (_, _, org) = eve.get("/console/org").await;
    assert!(org.contains("Org rival") && !org.contains(">ada<"), "{org}");

    // What tenants wrote never runs as the console: a function's answer
    // on the platform's own origin is sandboxed, an object read through
    // the console's API is a download, the console does not answer on a
    // project's host, and signing in never leads to a tenant's page.
    let resp = s.http.get(s.fn_url("hello", "/")).send().await.unwrap();
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.starts_with("sandbox"), "{csp}");
    let page_html = "<script src=x.js></script>";
    let put_html = ada
        .http
        .put(format!(
            "{}/console/api/projects/default/buckets/site/objects/x.html",
            s.url
        ))
        .header("content-type", "text/html")
        .header("x-csrf-token", &csrf)
        .body(page_html);
    let (status, _, _) = ada
        .send(
            ada.http
                .post(format!("{}/console/api/projects/default/buckets", s.url))
                .header("x-csrf-token", &csrf)
                .json(&json!({"name": "site"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _, _) = ada.send(put_html).await;
    assert_eq!(status, 201);
    let (status, headers, body) = ada
        .get("/console/api/projects/default/buckets/site/objects/x.html")
        .await;
    assert_eq!((status.as_u16(), body.as_str()), (200, page_html));
    assert_eq!(headers["content-disposition"], "attachment");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("sandbox")
    );
    let on_project_host = ada
        .http
        .get(format!("{}/console/login", s.url))
        .header("host", "default.localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(on_project_host.status(), 404);
    for next in [
        "/console/api/projects/default/buckets/site/objects/x.html",
        "/console/../fn/default/hello",
        "/console/%2e%2e/fn/default/hello",
        "//evil.example/console",
    ] {
        let mut v = Visitor::new(&s);
        let (_, _, page) = v.get("/console/login").await;
        let token = attribute(&page, "name=\"csrf\" value=\"");
        let (status, headers, _) = v
            .post_form(
                "/console/login",
                &[
                    ("csrf", &token),
                    ("next", next),
                    ("org", "default"),
                    ("username", "ada"),
                    ("password", "a long passphrase"),
                ],
            )
            .await;
        assert_eq!(
            (status.as_u16(), headers["location"].to_str().unwrap()),
            (303, "/console"),
            "next={next}"
        );
    }

    // Signing out ends the session on the server.
    let (status, _, _) = ada.post_form("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(status, 303);
    let (status, _, _) = ada.get("/console/p/default/functions").await;
    assert_eq!(status, 303, "signed out");
}

/// The cookie holds an opaque id: no token in it, a copy stops working when
/// its session signs out, a planted second cookie of the same name is not
/// trusted, and requests that renew one session at once all go on (one
/// renewal; the refresh token works once).
async fn sessions_live_on_the_server(db: Db) {
    // Access tokens of 2 s: always within the renewal margin (30 s), and
    // gone within 1.5 s of a renewal, so a page needs a renewal that works
    // (a session keeps its old token only while it has a second left).
    let s = Server::start_with(db, &["--access-token-ttl-secs", "2"]).await;
    user_with_password(&s, "default", "ada", "OrgAdmin").await;
    let mut ada = Visitor::new(&s);
    ada.sign_in("default", "ada", "a long passphrase").await;
    let id = ada.cookies["mc_console"].clone();
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "an opaque id, no token: {id}"
    );

    // Another browser with a copy of the cookie is the same session...
    let mut copy = Visitor::new(&s);
    copy.cookies = ada.cookies.clone();
    let (status, _, page) = copy.get("/console/p/default/functions").await;
    assert_eq!(status, 200);
    let csrf = attribute(&page, "data-csrf=\"");
    // ...but a second cookie of the same name (one a sibling host could
    // plant) makes neither count.
    let req = ada
        .http
        .get(format!("{}/console/p/default/functions", s.url))
        .header(
            "cookie",
            format!("mc_console={id}; mc_console={}", "0".repeat(64)),
        );
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 303, "two session cookies");
    let cleared: Vec<&str> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("mc_console=;") && c.contains("Domain=localhost")),
        "a cookie planted for the parent domain is cleared: {cleared:?}"
    );

    // Renewal: when the access token is about to go, requests at once all
    // answer: renewed one at a time (each with the refresh token the one
    // before stored: a refresh token works once, so renewals that raced
    // would send some of these to the sign-in form).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let cookie = ada.cookie_header();
    let pages = futures::future::join_all((0..8).map(|_| {
        ada.http
            .get(format!("{}/console/p/default/functions", s.url))
            .header("cookie", cookie.clone())
            .send()
    }))
    .await;
    for resp in pages {
        let resp = resp.unwrap();
        assert_eq!(resp.status(), 200, "a concurrent renewal refused");
        assert!(
            resp.headers().get("set-cookie").is_none(),
            "renewal leaves the cookie as it is"
        );
    }
    let (status, _, _) = ada.get("/console/org").await;
    assert_eq!(status, 200, "still signed in after the renewal");

    // Signing out (from the copy) ends the session for every holder of the
    // cookie at once, whatever its access token's time left.
    let (status, _, _) = copy.post_form("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(status, 303);
    let (status, headers, _) = ada.get("/console/p/default/functions").await;
    assert_eq!(status, 303, "the copied session ended");
    assert!(
        headers["location"]
            .to_str()
            .unwrap()
            .starts_with("/console/login")
    );

    // Signing in again gets a new id; the one before stays dead.
    ada.sign_in("default", "ada", "a long passphrase").await;
    assert_ne!(ada.cookies["mc_console"], id);
    let mut old = Visitor::new(&s);
    old.cookies.insert("mc_console".into(), id);
    let (status, _, _) = old.get("/console/org").await;
    assert_eq!(status, 303);
}

crate::on_both_databases!(access_and_quotas_through_the_console);

/// The org's access changed through the console's forms, each one the
/// API's call: a role created, a policy attached and an inline one
/// written, a user bound and unbound (bindings listed by name), a managed
/// policy created and edited, tags; quotas changed by the platform
/// administrator alone; a ReadOnly user sees none of the forms.
async fn access_and_quotas_through_the_console(db: Db) {
    let s = Server::start(db).await;
    s.deploy("hello", guests::HELLO).await;
    user_with_password(&s, "default", "ada", "OrgAdmin").await;
    user_with_password(&s, "default", "rita", "ReadOnly").await;
    let mut ada = Visitor::new(&s);
    ada.sign_in("default", "ada", "a long passphrase").await;
    let (status, _, org) = ada.get("/console/org").await;
    assert_eq!(status, 200);
    let csrf = attribute(&org, "data-csrf=\"");
    assert!(
        org.contains("Create the role") && org.contains("Create the policy"),
        "{org}"
    );
    assert!(
        org.contains("<td>rita</td><td>ReadOnly</td>"),
        "bindings by name: {org}"
    );
    assert!(
        !org.contains("Set the quota"),
        "an org admin does not set its own quota"
    );

    // A managed policy: bad JSON is the form's error, then created and edited.
    let doc = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "functions:GetFunction", "Resource": "*"}]}"#;
    let (status, _, page) = ada
        .post_form(
            "/console/org/policies",
            &[("csrf", &csrf), ("name", "peek"), ("document", "{nope")],
        )
        .await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not JSON"), "{page}");
    let (status, _, page) = ada
        .post_form(
            "/console/org/policies",
            &[("csrf", &csrf), ("name", "peek"), ("document", doc)],
        )
        .await;
    assert_eq!(status, 303, "{page}");
    let edited = doc.replace("GetFunction", "ListFunctions");
    let (status, _, _) = ada
        .post_form(
            "/console/org/policies/peek",
            &[("csrf", &csrf), ("document", &edited)],
        )
        .await;
    assert_eq!(status, 303);
    let (_, policy) = s
        .call(&s.token, Method::GET, "/orgs/default/policies/peek", None)
        .await;
    assert_eq!(
        policy["document"]["Statement"][0]["Action"], "functions:ListFunctions",
        "{policy}"
    );

    // A role: created, the policy attached, an inline policy written.
    let (status, headers, _) = ada
        .post_form("/console/org/roles", &[("csrf", &csrf), ("name", "auditor")])
        .await;
    assert_eq!(
        (status.as_u16(), headers["location"].to_str().unwrap()),
        (303, "/console/org/roles/auditor")
    );
    let (status, _, _) = ada
        .post_form(
            "/console/org/roles/auditor/policies",
            &[("csrf", &csrf), ("policy", "peek")],
        )
        .await;
    assert_eq!(status, 303);
    let (status, _, _) = ada
        .post_form(
            "/console/org/roles/auditor/inline",
            &[("csrf", &csrf), ("name", "logs"), ("document", doc)],
        )
        .await;
    assert_eq!(status, 303);
    let (status, _, page) = ada.get("/console/org/roles/auditor").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("peek") && page.contains("logs") && page.contains("Detach"),
        "{page}"
    );
    let (_, role) = s
        .call(&s.token, Method::GET, "/orgs/default/roles/auditor", None)
        .await;
    assert_eq!(role["policies"], json!(["peek"]), "{role}");
    assert_eq!(role["inline_policies"][0]["name"], "logs", "{role}");

    // Bound to rita in one project, listed by names, then unbound.
    let (status, _, _) = ada
        .post_form(
            "/console/org/bindings",
            &[
                ("csrf", &csrf),
                ("principal", "rita"),
                ("role", "auditor"),
                ("project", "default"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (_, list) = s
        .call(&s.token, Method::GET, "/orgs/default/bindings", None)
        .await;
    let bound = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["role"] == "auditor")
        .unwrap_or_else(|| panic!("{list}"))
        .clone();
    assert_eq!(
        (&bound["principal"], &bound["project"]),
        (&json!("rita"), &json!("default")),
        "{bound}"
    );
    let (_, _, page) = ada.get("/console/org/roles/auditor").await;
    assert!(page.contains("rita"), "the role's holders: {page}");
    let id = bound["id"].as_str().unwrap();
    let (status, _, _) = ada
        .post_form(&format!("/console/org/bindings/{id}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(status, 303);
    let (_, list) = s
        .call(&s.token, Method::GET, "/orgs/default/bindings", None)
        .await;
    assert!(!list.to_string().contains("auditor"), "{list}");

    // Tags, on a function and on a user.
    let (status, _, _) = ada
        .post_form(
            "/console/p/default/functions/hello/tags",
            &[("csrf", &csrf), ("tags", r#"{"team": "blue"}"#)],
        )
        .await;
    assert_eq!(status, 303);
    let (_, f) = s
        .call(&s.token, Method::GET, "/projects/default/functions/hello", None)
        .await;
    assert_eq!(f["tags"], json!({"team": "blue"}), "{f}");
    let (status, _, _) = ada
        .post_form(
            "/console/org/users/rita/tags",
            &[("csrf", &csrf), ("tags", r#"{"desk": "7"}"#)],
        )
        .await;
    assert_eq!(status, 303);
    let (_, u) = s
        .call(&s.token, Method::GET, "/orgs/default/users/rita", None)
        .await;
    assert_eq!(u["tags"], json!({"desk": "7"}), "{u}");

    // The function page charts the last hour.
    let called = s.http.get(s.fn_url("hello", "/")).send().await.unwrap();
    assert_eq!(called.status(), 200);
    // (Invocation records are written in batches.)
    let url = format!("{}/console/p/default/functions/hello", s.url);
    let cookie = ada.cookie_header();
    let charted = eventually(Duration::from_secs(10), || async {
        let page = ada
            .http
            .get(&url)
            .header("cookie", &cookie)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (page.contains("Last hour: 1 invocation · 0 errors") && page.contains("polyline")).then_some(())
    })
    .await;
    assert!(charted.is_some(), "the call is charted");

    // A ReadOnly user sees no form that changes access.
    let mut rita = Visitor::new(&s);
    rita.sign_in("default", "rita", "a long passphrase").await;
    let (_, _, org) = rita.get("/console/org").await;
    for form in [
        "Create the role",
        "Create the policy",
        ">Bind<",
        "Unbind",
        "Set the quota",
    ] {
        assert!(!org.contains(form), "ReadOnly sees {form}: {org}");
    }
    let (_, _, role) = rita.get("/console/org/roles/auditor").await;
    assert!(
        !role.contains("Detach") && !role.contains("Delete the role"),
        "{role}"
    );
    let rita_csrf = attribute(&org, "data-csrf=\"");
    let (status, _, _) = rita
        .post_form("/console/org/roles/auditor/delete", &[("csrf", &rita_csrf)])
        .await;
    assert_eq!(status, 403, "the API refuses what the console does not show");

    // Quotas: the platform administrator sets a project's; the project's
    // page shows it to those who may read the project.
    let password = std::fs::read_to_string(s.data_dir().join("admin-password")).unwrap();
    let mut admin = Visitor::new(&s);
    admin.sign_in("default", "admin", password.trim()).await;
    let (_, _, page) = admin.get("/console/p/default/quota").await;
    assert!(page.contains("Set the quota"), "{page}");
    let admin_csrf = attribute(&page, "data-csrf=\"");
    let (status, _, page) = admin
        .post_form(
            "/console/p/default/quota",
            &[("csrf", &admin_csrf), ("functions", "seven"), ("rules", "")],
        )
        .await;
    assert_eq!(status, 400, "{page}");
    let (status, _, _) = admin
        .post_form(
            "/console/p/default/quota",
            &[("csrf", &admin_csrf), ("functions", "7"), ("rules", "")],
        )
        .await;
    assert_eq!(status, 303);
    let (_, q) = s
        .call(&s.token, Method::GET, "/projects/default/quota", None)
        .await;
    assert_eq!(
        (&q["override"]["functions"], &q["limits"]["functions"]),
        (&json!(7), &json!(7)),
        "{q}"
    );
    assert!(q["override"]["rules"].is_null(), "{q}");
    let (status, _, page) = ada.get("/console/p/default/quota").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("(set)") && !page.contains("Set the quota"),
        "{page}"
    );
    let (status, _, _) = ada
        .post_form(
            "/console/p/default/quota",
            &[("csrf", &csrf), ("functions", "1000")],
        )
        .await;
    assert_eq!(status, 403, "an org admin cannot raise its project's quota");

    // Projects and orgs: an org admin makes projects in its org, the
    // platform administrator makes orgs.
    let (_, _, home) = ada.get("/console").await;
    assert!(home.contains("Create the project"), "{home}");
    let (status, headers, _) = ada
        .post_form("/console/projects", &[("csrf", &csrf), ("name", "shop")])
        .await;
    assert_eq!(
        (status.as_u16(), headers["location"].to_str().unwrap()),
        (303, "/console/p/shop/functions")
    );
    let (_, _, org) = ada.get("/console/org").await;
    assert!(!org.contains("Create the org"), "{org}");
    let (status, _, _) = ada
        .post_form("/console/orgs", &[("csrf", &csrf), ("name", "acme")])
        .await;
    assert_eq!(status, 403, "an org admin makes no orgs");
    let (_, _, org) = admin.get("/console/org").await;
    assert!(org.contains("Create the org"), "{org}");
    let (status, _, _) = admin
        .post_form("/console/orgs", &[("csrf", &admin_csrf), ("name", "acme")])
        .await;
    assert_eq!(status, 303);
    let (_, orgs) = s.call(&s.token, Method::GET, "/orgs", None).await;
    assert!(orgs.to_string().contains("\"acme\""), "{orgs}");
    let (_, _, home) = rita.get("/console").await;
    assert!(!home.contains("Create the project"), "{home}");
}
