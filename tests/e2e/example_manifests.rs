//! Every example's `minicloud.toml`, applied with the CLI to a fresh
//! server the way a person would (`minicloud apply` of the example's own
//! folder, with the built guests where `../target` points), then planned
//! again (nothing left to change), and one thing each example does once
//! set up.

use super::cli::{Ran, expect};
use minicloud_tests::{Db, Server, eventually, guests, nats};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

macro_rules! on_sqlite {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario(minicloud_tests::Db::Sqlite).await
                }
            }
        )*
    };
}

on_sqlite!(
    hello,
    echo,
    json_handler,
    upload_processor,
    url_shortener,
    webhook_relay,
    whoami,
    doc_indexer,
    deploy_approval,
    travel_saga,
    order_pipeline,
    python_counter,
);

const WAIT: Duration = Duration::from_secs(20);

/// The folder the tests' guests were built in (`tests/build.rs`): it holds
/// `wasm32-wasip2/release/*.wasm` and `python-counter.wasm`, as the
/// examples' own `target` folder does.
fn guests_folder() -> PathBuf {
    let folder = Path::new(guests::HELLO)
        .ancestors()
        .nth(3)
        .expect("a guest is at <folder>/wasm32-wasip2/release/<name>.wasm")
        .to_path_buf();
    assert_eq!(Path::new(guests::PYTHON_COUNTER).parent(), Some(folder.as_path()));
    folder
}

/// An example's manifest copied beside the built guests, and a CLI signed
/// in to the server as its admin.
struct Example {
    s: Server,
    /// Holds the config and the copy.
    home: tempfile::TempDir,
    /// The copy's `minicloud.toml`.
    file: String,
}

impl Example {
    /// Copies `examples/<name>` (its `minicloud.toml` and `workflow.json`)
    /// into `T/<name>` with `T/target` the guests' folder, and signs in.
    async fn new(s: Server, name: &str) -> Example {
        let home = tempfile::tempdir().unwrap();
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples")
            .join(name);
        let copy = home.path().join("t").join(name);
        std::fs::create_dir_all(&copy).unwrap();
        for file in ["minicloud.toml", "workflow.json"] {
            if source.join(file).exists() {
                std::fs::copy(source.join(file), copy.join(file)).unwrap();
            }
        }
        std::os::unix::fs::symlink(guests_folder(), home.path().join("t/target")).unwrap();
        let example = Example {
            s,
            file: copy.join("minicloud.toml").to_str().unwrap().to_owned(),
            home,
        };
        let (url, token) = (example.s.url.clone(), example.s.token.clone());
        example
            .run(&["login", "--endpoint", &url, "--token-stdin"], &token, 0)
            .await;
        example
    }

    fn config(&self) -> PathBuf {
        self.home.path().join("config")
    }

    async fn run(&self, args: &[&str], stdin: &str, code: i32) -> Ran {
        expect(&self.config(), args, stdin, code).await
    }

    /// Creates the project's secret `name` through the API.
    async fn secret(&self, name: &str, value: &str) {
        let (status, body) = self
            .s
            .call(
                &self.s.token,
                Method::POST,
                "/projects/default/secrets",
                Some(json!({"name": name, "secret_string": value})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    /// `minicloud apply`, then a plan that finds nothing to change.
    async fn apply(&self) {
        self.run(&["apply", "--no-build", "-f", &self.file], "", 0).await;
        let again = self
            .run(&["plan", "--no-build", "-f", &self.file, "-o", "json"], "", 0)
            .await
            .json();
        assert_eq!(again["changes"], json!([]), "{again}");
        assert_eq!(again["not_in_manifest"], json!([]), "{again}");
    }

    /// `minicloud ... -o json`, expecting success.
    async fn json(&self, args: &[&str]) -> Value {
        let args: Vec<&str> = args.iter().copied().chain(["-o", "json"]).collect();
        self.run(&args, "", 0).await.json()
    }
}

/// Sets up example `name` on a fresh server.
async fn applied(db: Db, name: &str) -> Example {
    let example = Example::new(Server::start(db).await, name).await;
    example.apply().await;
    example
}

/// The example's own `workflow.json`.
fn workflow_json(name: &str) -> Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
        .join("workflow.json");
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

async fn hello(db: Db) {
    let e = applied(db, "hello").await;
    let resp =
        e.s.on_project("default", Method::GET, "/hello/Ada")
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), 200, "the route serves");
    assert!(resp.text().await.unwrap().starts_with("Hello, Ada!"));
}

async fn echo(db: Db) {
    let e = applied(db, "echo").await;
    let resp =
        e.s.http
            .post(e.s.fn_url("echo", "/"))
            .body("ping")
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ping");
}

async fn json_handler(db: Db) {
    let e = applied(db, "json-handler").await;
    let out = e.json(&["invoke", "greet", "--data", r#"{"name":"Ada"}"#]).await;
    assert_eq!(out["greeting"], "Hello, Ada!", "{out}");
}

async fn upload_processor(db: Db) {
    let e = applied(db, "upload-processor").await;
    let resp =
        e.s.authed(Method::PUT, &e.s.api("/buckets/uploads/objects/notes/today.txt"))
            .body("buy milk\ncall ada back\n")
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), 201);
    let out = e
        .json(&[
            "invoke",
            "processor",
            "--data",
            r#"{"bucket":"uploads","key":"notes/today.txt"}"#,
        ])
        .await;
    assert_eq!(out["summary"]["words"], 5, "{out}");
}

async fn url_shortener(db: Db) {
    let e = applied(db, "url-shortener").await;
    let created =
        e.s.http
            .post(e.s.fn_url("shortener", "/"))
            .body("https://example.com/a/long/path")
            .send()
            .await
            .unwrap();
    assert_eq!(created.status(), 201, "the role grants the links bucket");
}

async fn webhook_relay(db: Db) {
    let e = Example::new(Server::start(db).await, "webhook-relay").await;
    // The secret is named, not held: without it nothing is applied.
    let ran = e.run(&["apply", "--no-build", "-f", &e.file], "", 2).await;
    assert!(
        ran.stderr.contains("minicloud secrets create webhook-token"),
        "{}",
        ran.stderr
    );
    e.secret("webhook-token", "s3cr3t").await;
    e.apply().await;
    let relay = e.json(&["functions", "get", "relay"]).await;
    assert_eq!(
        (relay["role"].as_str(), relay["config"]["target_url"].as_str()),
        (Some("relay"), Some("https://hooks.example.com/in")),
        "{relay}"
    );
}

async fn whoami(db: Db) {
    let e = applied(db, "whoami").await;
    let resp = e.s.http.get(e.s.fn_url("whoami", "/")).send().await.unwrap();
    assert_eq!(resp.status(), 401, "callers present a token");
    let me: Value =
        e.s.authed(Method::GET, &e.s.fn_url("whoami", "/"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(me["name"], "admin", "{me}");
}

async fn doc_indexer(db: Db) {
    let e = applied(db, "doc-indexer").await;
    let resp =
        e.s.authed(Method::PUT, &e.s.api("/buckets/uploads/objects/notes/today.txt"))
            .body("buy milk\ncall ada back\n")
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), 201);
    // Both rules and both functions: the indexer's count lands.
    let words = eventually(WAIT, || async {
        super::rules::kv_bucket(&e.s, "index")
            .await
            .remove("words/notes/today.txt")
    })
    .await
    .expect("the object went through both rules and both functions");
    assert_eq!(words, "5");
}

async fn deploy_approval(db: Db) {
    let e = applied(db, "deploy-approval").await;
    let workflow = e.json(&["workflows", "get", "deploy-approval"]).await;
    assert_eq!(
        workflow["definition"],
        workflow_json("deploy-approval"),
        "{workflow}"
    );
    // Its function runs with its role: a release without a build fails
    // before anyone is asked.
    let ran = e
        .run(
            &[
                "workflows",
                "start",
                "deploy-approval",
                "--input",
                r#"{"site":"www","version":"v9","requested_by":"dev"}"#,
                "--wait",
                "-o",
                "json",
            ],
            "",
            1,
        )
        .await;
    assert_eq!(ran.json()["error"], "Deploy.BuildMissing", "{}", ran.stdout);
    let approver = e.json(&["roles", "get", "release-approver"]).await;
    assert_eq!(
        approver["inline_policies"][0]["document"]["Statement"][0]["Action"],
        json!(["workflows:SendTaskSuccess", "workflows:SendTaskFailure"])
    );
}

async fn travel_saga(db: Db) {
    let e = applied(db, "travel-saga").await;
    let trip = |car: &str| {
        json!({"trip": "lisbon-1", "flight": {"from": "BER", "to": "LIS"},
               "hotel": {"nights": 3}, "car": {"class": car}})
        .to_string()
    };
    let booked = e
        .json(&[
            "workflows",
            "start",
            "travel",
            "--input",
            &trip("compact"),
            "--wait",
        ])
        .await;
    assert_eq!(
        booked["output"]["bookings"]["car"]["reference"], "CAR-00003",
        "{booked}"
    );
}

async fn order_pipeline(db: Db) {
    // Subjects need NATS; this test's stream and subject are its own, as
    // the test server is shared.
    let stream = super::nats::unique("manifest");
    let s = super::nats::start(db, &stream).await;
    let e = Example::new(s, "order-pipeline").await;
    let subject = format!("mc.default.{stream}.orders.created");
    let text = std::fs::read_to_string(&e.file).unwrap();
    assert!(text.contains("\"mc.default.orders.created\""));
    std::fs::write(&e.file, text.replace("mc.default.orders.created", &subject)).unwrap();
    e.apply().await;
    let workflow = e.json(&["workflows", "get", "orders"]).await;
    assert_eq!(workflow["definition"], workflow_json("order-pipeline"));

    let js = async_nats::jetstream::new(nats().await);
    let order = json!({"id": "o-1", "customer": "ada", "items": [{"sku": "tea", "qty": 2}, {"sku": "mug", "qty": 1}]});
    js.publish(subject.clone(), order.to_string().into())
        .await
        .unwrap()
        .await
        .unwrap();
    let ended = eventually(WAIT, || async {
        let list = e.json(&["workflows", "executions", "orders"]).await;
        let first = list.as_array()?.first()?.clone();
        (first["status"] != "RUNNING").then_some(first)
    })
    .await
    .expect("the rule started the workflow, which ended");
    super::nats::drop_stream(&stream).await;
    assert_eq!(ended["status"], "SUCCEEDED", "{ended}");
    assert_eq!(ended["output"]["total_cents"], 2100, "{ended}");
}

async fn python_counter(db: Db) {
    let e = applied(db, "python-counter").await;
    let out = e
        .json(&["invoke", "counter", "--data", r#"{"page":"home"}"#])
        .await;
    assert_eq!(
        (out["visits"].as_i64(), out["greeting"].as_str()),
        (Some(1), Some("Hello from Python!")),
        "{out}"
    );
}
