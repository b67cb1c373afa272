//! The web console over plain HTTP (the browser journeys are in
//! `console_browser`): signing in through the sign-in form, the session
//! cookie, the CSRF token every change needs, the Content-Security-Policy
//! on every page, buttons only for what the user may do, and the API
//! behind the console answering exactly as to any client (another org's
//! project stays out of reach).

use minicloud_tests::{Db, Server, guests};
use reqwest::{Method, StatusCode, redirect};
use serde_json::json;
use std::collections::HashMap;

crate::on_both_databases!(console_over_http);

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
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
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
