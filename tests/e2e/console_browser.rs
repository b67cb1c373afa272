//! The console's main journeys in a real browser: headless Chromium driven
//! through chromedriver (both installed by scripts/tools.sh). Each step
//! writes a screenshot to `target/console-screenshots/<journey>/`, and a
//! failed step says which journey and step it was.

use fantoccini::{Client, ClientBuilder, Locator};
use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

mod journeys {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::journeys(minicloud_tests::Db::Sqlite).await
    }
}

/// Where the screenshots of a journey go.
fn screenshots(journey: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/console-screenshots")
        .join(journey);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// chromedriver on a free port, and a headless Chromium session on it.
struct Browser {
    driver: tokio::process::Child,
    client: Client,
}

impl Browser {
    async fn start() -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("chromedriver does not run ({e}): install it with scripts/tools.sh"));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900"]
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..50 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Self { driver, client };
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("no browser session through chromedriver: {last:?}")
    }

    async fn close(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill().await;
    }
}

fn chromium() -> &'static str {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("Chromium is not installed: run scripts/tools.sh")
}

/// One journey: its steps run in order, each leaves a screenshot.
struct Journey<'a> {
    name: &'static str,
    b: &'a Browser,
    dir: PathBuf,
    n: usize,
}

impl<'a> Journey<'a> {
    fn new(name: &'static str, b: &'a Browser) -> Self {
        Self {
            name,
            b,
            dir: screenshots(name),
            n: 0,
        }
    }

    /// Runs `check`; a failure names the journey and the step.
    async fn step<F, Fut>(&mut self, step: &str, check: F)
    where
        F: FnOnce(&'a Client) -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        self.n += 1;
        let outcome = tokio::time::timeout(Duration::from_secs(30), check(&self.b.client)).await;
        let file = self
            .dir
            .join(format!("{:02}-{}.png", self.n, step.replace(' ', "-")));
        if let Ok(png) = self.b.client.screenshot().await {
            std::fs::write(&file, png).unwrap();
        }
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!(
                "journey {:?}, step {:?}: {e} (screenshot {})",
                self.name,
                step,
                file.display()
            ),
            Err(_) => panic!(
                "journey {:?}, step {:?}: no result in 30 s (screenshot {})",
                self.name,
                step,
                file.display()
            ),
        }
    }
}

fn url(base: &str, path: &str) -> String {
    format!("{base}{path}")
}

/// The text of the first `css` element, waiting for one (a page being
/// replaced may hand out an element that goes stale: it is found again).
async fn text_of(c: &Client, css: &str) -> Result<String, String> {
    let mut last = String::new();
    for _ in 0..5 {
        let el = c
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(css))
            .await
            .map_err(|e| format!("no {css}: {e}"))?;
        match el.text().await {
            Ok(t) => return Ok(t),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last)
}

async fn fill(c: &Client, css: &str, value: &str) -> Result<(), String> {
    let el = c
        .find(Locator::Css(css))
        .await
        .map_err(|e| format!("no {css}: {e}"))?;
    el.clear().await.map_err(|e| e.to_string())?;
    el.send_keys(value).await.map_err(|e| e.to_string())
}

async fn click(c: &Client, css: &str) -> Result<(), String> {
    c.find(Locator::Css(css))
        .await
        .map_err(|e| format!("no {css}: {e}"))?
        .click()
        .await
        .map_err(|e| e.to_string())
}

/// Polls `probe` until it holds (15 s at most).
async fn until<F, Fut>(what: &str, mut probe: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..75 {
        if probe().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("{what}: not within 15 s"))
}

/// Every visible field of the page has a label (a screen reader names it).
async fn labelled(c: &Client) -> Result<(), String> {
    let unlabelled: Value = c
        .execute(
            "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]\
             .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label')).map(e => e.id || e.name);",
            vec![],
        )
        .await
        .map_err(|e| e.to_string())?;
    match unlabelled.as_array() {
        Some(list) if list.is_empty() => Ok(()),
        _ => Err(format!("fields without a label: {unlabelled}")),
    }
}

async fn journeys(db: Db) {
    let s = Server::start(db).await;
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/orgs/default/users",
            Some(json!({"name": "ada", "password": "a long passphrase"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/orgs/default/bindings",
            Some(json!({"principal": "ada", "role": "OrgAdmin"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    super::workflows::deploy_steps(&s).await;
    let approval = json!({
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task", "Resource": "steps.waitForTaskToken",
                "Parameters": {"token.$": "$$.Task.Token", "request.$": "$.request"},
                "TimeoutSeconds": 300,
                "ResultPath": "$.approval",
                "Next": "Done"
            },
            "Done": {"Type": "Pass", "End": true}
        }
    });
    let (status, body) = super::workflows::put_workflow(&s, "approve", approval).await;
    assert_eq!(status, 201, "{body}");
    let b = Browser::start().await;
    let base = s.url.as_str();

    let mut j = Journey::new("sign-in", &b);
    j.step("the form", |c| async move {
        c.goto(&url(base, "/console/p/default/functions"))
            .await
            .map_err(|e| e.to_string())?;
        let h1 = text_of(c, "h1").await?;
        if h1 != "Sign in to MiniCloud" {
            return Err(format!("a page not signed in shows {h1:?}"));
        }
        labelled(c).await
    })
    .await;
    j.step("signed in", |c| async move {
        fill(c, "#username", "ada").await?;
        fill(c, "#password", "a long passphrase").await?;
        click(c, "form button[type=submit]").await?;
        // Back where the visitor wanted to go.
        until("the functions page", || async {
            text_of(c, "h1").await.is_ok_and(|t| t == "Functions")
        })
        .await
    })
    .await;

    let mut j = Journey::new("deploy", &b);
    j.step("upload", |c| async move {
        labelled(c).await?;
        fill(c, "#deploy-name", "hello").await?;
        let file = std::fs::canonicalize(guests::HELLO).unwrap();
        c.find(Locator::Css("#deploy-file"))
            .await
            .map_err(|e| e.to_string())?
            .send_keys(file.to_str().unwrap())
            .await
            .map_err(|e| e.to_string())?;
        click(c, "#deploy button[type=submit]").await?;
        until("the function's page", || async {
            text_of(c, "h1").await.is_ok_and(|t| t == "Function hello")
        })
        .await
    })
    .await;
    j.step("call it", |c| async move {
        c.goto(&url(base, "/fn/default/hello/from-the-browser"))
            .await
            .map_err(|e| e.to_string())?;
        let body = text_of(c, "body").await?;
        if !body.contains("Hello") {
            return Err(format!("the function answered {body:?}"));
        }
        Ok(())
    })
    .await;
    j.step("logs arrive", |c| async move {
        c.goto(&url(base, "/console/p/default/functions/hello"))
            .await
            .map_err(|e| e.to_string())?;
        until("the call's log line", || async {
            text_of(c, "#logs")
                .await
                .is_ok_and(|t| t.contains("GET /from-the-browser"))
        })
        .await?;
        // A new call's line arrives on the open page.
        reqwest::get(url(base, "/fn/default/hello/while-watching"))
            .await
            .map_err(|e| e.to_string())?;
        until("a line written while the page is open", || async {
            text_of(c, "#logs")
                .await
                .is_ok_and(|t| t.contains("GET /while-watching"))
        })
        .await
    })
    .await;
    j.step("invocations", |c| async move {
        c.refresh().await.map_err(|e| e.to_string())?;
        let stats = text_of(c, ".stats").await?;
        if !stats.contains("p99") {
            return Err(format!("no percentiles: {stats:?}"));
        }
        Ok(())
    })
    .await;

    j.step("settings", |c| async move {
        fill(c, "#timeout", "2500").await?;
        fill(c, "#env", r#"{"GREETING": "hi"}"#).await?;
        click(c, "#settings button[type=submit]").await?;
        until("the new limit on the page", || async {
            text_of(c, "dl.facts")
                .await
                .is_ok_and(|t| t.contains("\"timeout_ms\":2500"))
        })
        .await?;
        let env = c
            .find(Locator::Css("#env"))
            .await
            .map_err(|e| e.to_string())?
            .prop("value")
            .await
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        if !env.contains("GREETING") {
            return Err(format!("the environment is {env:?}"));
        }
        Ok(())
    })
    .await;

    let mut j = Journey::new("route", &b);
    j.step("add", |c| async move {
        c.goto(&url(base, "/console/p/default/routes"))
            .await
            .map_err(|e| e.to_string())?;
        labelled(c).await?;
        fill(c, "#path", "/hi/{name}").await?;
        fill(c, "#function", "hello").await?;
        click(c, "form[action$='/routes'] button[type=submit]").await?;
        until("the route in the table", || async {
            text_of(c, "table").await.is_ok_and(|t| t.contains("/hi/{name}"))
        })
        .await
    })
    .await;

    let mut j = Journey::new("rule", &b);
    j.step("test a pattern", |c| async move {
        c.goto(&url(base, "/console/p/default/rules"))
            .await
            .map_err(|e| e.to_string())?;
        labelled(c).await?;
        // The sample event matches the sample pattern.
        click(c, "#tester button[type=submit]").await?;
        until("the tester's match", || async {
            text_of(c, "#verdict")
                .await
                .is_ok_and(|t| t == "The event matches the pattern.")
        })
        .await?;
        fill(c, "#test-event", r#"{"source": "shop", "detail": {"total": 3}}"#).await?;
        click(c, "#tester button[type=submit]").await?;
        until("no match for a total of 3", || async {
            text_of(c, "#verdict")
                .await
                .is_ok_and(|t| t == "The event does not match the pattern.")
        })
        .await
    })
    .await;
    j.step("create", |c| async move {
        fill(c, "#rule-name", "big-orders").await?;
        fill(c, "#rule-pattern", r#"{"source": ["shop"]}"#).await?;
        fill(c, "#rule-targets", r#"[{"function": "hello"}]"#).await?;
        click(c, "#new-rule button[type=submit]").await?;
        until("the rule in the table", || async {
            text_of(c, "table").await.is_ok_and(|t| t.contains("big-orders"))
        })
        .await
    })
    .await;

    let mut j = Journey::new("bucket", &b);
    j.step("create", |c| async move {
        c.goto(&url(base, "/console/p/default/buckets"))
            .await
            .map_err(|e| e.to_string())?;
        labelled(c).await?;
        fill(c, "#bucket-name", "docs").await?;
        click(c, "form[action$='/buckets'] button[type=submit]").await?;
        until("the bucket's page", || async {
            text_of(c, "h1").await.is_ok_and(|t| t == "Bucket docs")
        })
        .await
    })
    .await;
    j.step("upload", |c| async move {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("notes.txt");
        std::fs::write(&file, "buy milk\n").unwrap();
        fill(c, "#upload-key", "2026/notes.txt").await?;
        c.find(Locator::Css("#upload-file"))
            .await
            .map_err(|e| e.to_string())?
            .send_keys(file.to_str().unwrap())
            .await
            .map_err(|e| e.to_string())?;
        click(c, "#upload button[type=submit]").await?;
        until("the folder on the page", || async {
            text_of(c, "table").await.is_ok_and(|t| t.contains("2026/"))
        })
        .await
    })
    .await;
    j.step("browse", |c| async move {
        click(c, "table a[href*='prefix=2026']").await?;
        until("the object in its folder", || async {
            text_of(c, "table").await.is_ok_and(|t| t.contains("notes.txt"))
        })
        .await?;
        // The download link is the object, through the console's API.
        let href = c
            .find(Locator::Css("table a[download]"))
            .await
            .map_err(|e| e.to_string())?
            .attr("href")
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no download link")?;
        let fetched: Value = c
            .execute(
                "return fetch(arguments[0]).then(r => r.text());",
                vec![Value::String(href)],
            )
            .await
            .map_err(|e| e.to_string())?;
        if fetched != Value::String("buy milk\n".into()) {
            return Err(format!("the download holds {fetched}"));
        }
        Ok(())
    })
    .await;

    let mut j = Journey::new("approval", &b);
    j.step("the graph", |c| async move {
        c.goto(&url(base, "/console/p/default/workflows/approve"))
            .await
            .map_err(|e| e.to_string())?;
        let states = c
            .find_all(Locator::Css("svg.graph g.state"))
            .await
            .map_err(|e| e.to_string())?;
        if states.len() != 2 {
            return Err(format!("{} states drawn, not 2", states.len()));
        }
        labelled(c).await
    })
    .await;
    j.step("start", |c| async move {
        fill(c, "#input", r#"{"request": "deploy v2"}"#).await?;
        click(c, "form[action$='/start'] button[type=submit]").await?;
        until("the running execution", || async {
            text_of(c, "#status").await.is_ok_and(|t| t == "RUNNING")
        })
        .await
    })
    .await;
    j.step("the inbox", |c| async move {
        // The task waits for its token once its function has run.
        until("the task in the inbox", || async {
            c.goto(&url(base, "/console/p/default/approvals")).await.is_ok()
                && text_of(c, "main").await.is_ok_and(|t| t.contains("deploy v2"))
        })
        .await?;
        labelled(c).await
    })
    .await;
    j.step("approve", |c| async move {
        c.find(Locator::Css("input[name=note]"))
            .await
            .map_err(|e| e.to_string())?
            .send_keys("looks good")
            .await
            .map_err(|e| e.to_string())?;
        click(c, "button[value=approve]").await?;
        until("an empty inbox", || async {
            text_of(c, "main")
                .await
                .is_ok_and(|t| t.contains("No tasks waiting"))
        })
        .await
    })
    .await;
    j.step("succeeded", |c| async move {
        c.goto(&url(
            base,
            "/console/p/default/workflows/approve?status=SUCCEEDED",
        ))
        .await
        .map_err(|e| e.to_string())?;
        until("the execution succeeded", || async {
            c.refresh().await.is_ok() && c.find(Locator::Css("table td.ok")).await.is_ok()
        })
        .await?;
        click(c, "table td a").await?;
        let done = c
            .find_all(Locator::Css("svg.graph g.state.done"))
            .await
            .map_err(|e| e.to_string())?;
        if done.is_empty() {
            return Err("no step drawn as done".into());
        }
        Ok(())
    })
    .await;

    let mut j = Journey::new("secret", &b);
    j.step("create", |c| async move {
        c.goto(&url(base, "/console/p/default/secrets"))
            .await
            .map_err(|e| e.to_string())?;
        labelled(c).await?;
        fill(c, "#secret-name", "api-token").await?;
        fill(c, "#secret-value", "s3cr3t-value").await?;
        click(c, "form[action$='/secrets'] button[type=submit]").await?;
        until("the secret's name", || async {
            text_of(c, "table").await.is_ok_and(|t| t.contains("api-token"))
        })
        .await?;
        let source = c.source().await.map_err(|e| e.to_string())?;
        if source.contains("s3cr3t-value") {
            return Err("the value is on the page".into());
        }
        Ok(())
    })
    .await;

    let mut j = Journey::new("org", &b);
    j.step("people and quota", |c| async move {
        c.goto(&url(base, "/console/org"))
            .await
            .map_err(|e| e.to_string())?;
        labelled(c).await?;
        let users = text_of(c, "section[aria-labelledby=users-title] table").await?;
        if !users.contains("ada") {
            return Err(format!("ada is not among the users: {users:?}"));
        }
        text_of(c, "section[aria-labelledby=quota-title] table")
            .await
            .map(drop)
    })
    .await;
    j.step("a new user", |c| async move {
        fill(c, "#user-name", "bob").await?;
        fill(c, "#user-password", "another long passphrase").await?;
        click(c, "form[action='/console/org/users'] button[type=submit]").await?;
        until("bob among the users", || async {
            text_of(c, "section[aria-labelledby=users-title] table")
                .await
                .is_ok_and(|t| t.contains("bob"))
        })
        .await
    })
    .await;
    j.step("simulate", |c| async move {
        for (user, want) in [("bob", "Decision: ImplicitDeny"), ("ada", "Decision: Allow")] {
            fill(c, "#sim-user", user).await?;
            fill(c, "#sim-action", "functions:DeleteFunction").await?;
            fill(c, "#sim-resource", "mrn:functions:default:default:function/hello").await?;
            click(c, "#simulator button[type=submit]").await?;
            until(&format!("the decision for {user}"), || async {
                text_of(c, "#decision").await.is_ok_and(|t| t == want)
            })
            .await?;
        }
        Ok(())
    })
    .await;

    j.step("a role, bound", |c| async move {
        fill(c, "#role-name", "deployer").await?;
        click(c, "form[action='/console/org/roles'] button[type=submit]").await?;
        until("the role's page", || async {
            text_of(c, "h1").await.is_ok_and(|t| t == "Role deployer")
        })
        .await?;
        labelled(c).await?;
        click(c, "#attach-policy option[value=Developer]").await?;
        click(c, "form[action$='/policies'] button[type=submit]").await?;
        until("the policy attached", || async {
            c.find(Locator::Css("form[action$='/policies/Developer/detach']"))
                .await
                .is_ok()
        })
        .await?;
        c.goto(&url(base, "/console/org"))
            .await
            .map_err(|e| e.to_string())?;
        fill(c, "#bind-principal", "bob").await?;
        click(c, "#bind-role option[value=deployer]").await?;
        click(c, "form[action='/console/org/bindings'] button[type=submit]").await?;
        until("bob bound", || async {
            text_of(c, "section[aria-labelledby=bindings-title] table")
                .await
                .is_ok_and(|t| t.contains("bob") && t.contains("deployer"))
        })
        .await?;
        c.goto(&url(base, "/console/p/default/quota"))
            .await
            .map_err(|e| e.to_string())?;
        labelled(c).await?;
        text_of(c, "main table").await.map(drop)
    })
    .await;

    let mut j = Journey::new("audit", &b);
    j.step("the trail", |c| async move {
        c.goto(&url(base, "/console/audit"))
            .await
            .map_err(|e| e.to_string())?;
        let table = text_of(c, "table").await?;
        if !(table.contains("functions:CreateFunction") && table.contains("ada")) {
            return Err(format!("the deploy is not in the trail: {table:?}"));
        }
        labelled(c).await
    })
    .await;
    j.step("verified", |c| async move {
        click(c, "a.button[href*='verify']").await?;
        let ok = text_of(c, "p.ok").await?;
        if !ok.starts_with("The chain holds") {
            return Err(format!("verification says {ok:?}"));
        }
        Ok(())
    })
    .await;

    // First paint of each kind of page, as the browser measured it (printed
    // for scripts/bench.sh; the test asserts nothing of the time).
    let mut j = Journey::new("first-paint", &b);
    j.step("pages", |c| async move {
        for path in [
            "/console",
            "/console/p/default/functions",
            "/console/p/default/functions/hello",
            "/console/p/default/workflows/approve",
            "/console/audit",
            "/console/org",
        ] {
            c.goto(&url(base, path)).await.map_err(|e| e.to_string())?;
            let paint: Value = c
                .execute_async(
                    "const done = arguments[arguments.length - 1];\
                     const n = performance.getEntriesByType('navigation')[0];\
                     const server = n ? n.responseEnd - n.requestStart : null;\
                     new PerformanceObserver((list, obs) => {\
                       for (const e of list.getEntries()) {\
                         if (e.name === 'first-contentful-paint') { obs.disconnect(); done([e.startTime, server]); }\
                       }\
                     }).observe({type: 'paint', buffered: true});\
                     setTimeout(() => done([null, server]), 2000);",
                    vec![],
                )
                .await
                .map_err(|e| e.to_string())?;
            println!("first paint {path}: {} ms (server answer {} ms)", paint[0], paint[1]);
        }
        Ok(())
    })
    .await;

    let mut j = Journey::new("phone", &b);
    j.step("functions on a small screen", |c| async move {
        c.set_window_size(390, 844).await.map_err(|e| e.to_string())?;
        c.goto(&url(base, "/console/p/default/functions"))
            .await
            .map_err(|e| e.to_string())?;
        let overflow: Value = c
            .execute(
                "return document.documentElement.scrollWidth > window.innerWidth + 1;",
                vec![],
            )
            .await
            .map_err(|e| e.to_string())?;
        if overflow != Value::Bool(false) {
            return Err("the page is wider than the phone's screen".into());
        }
        Ok(())
    })
    .await;

    b.close().await;
}
