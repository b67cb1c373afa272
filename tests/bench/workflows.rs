//! Workflows through the real server: the cost of one step (journal,
//! schedule, invoke, journal) from each execution's own history, three-step
//! executions per second under load, a 1,000-item Map, and what a JSONata
//! state costs over a JSONPath one (its expressions evaluated in a worker
//! process), on SQLite and PostgreSQL. The baseline is the same handler
//! invoked in process.

use minicloud_runtime::{Limits, Runtime, RuntimeConfig};
use minicloud_tests::guests;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Sequential executions whose steps are timed.
const TIMED: usize = 200;
/// Executions started at once for the throughput figure.
const BURST: usize = 2_000;
/// Clients starting them.
const CLIENTS: usize = 32;
/// Pass states in the chains that compare JSONata with JSONPath.
const CHAIN: usize = 20;

pub async fn workflows() {
    let baseline = crate::on_one_worker(in_process_p50()).await;
    println!("workflows, 3 task steps of the json-handler example (a fresh instance each):");
    println!(
        "  baseline: in-process invocation of the same handler p50 {:.3} ms",
        crate::ms(baseline)
    );
    for db in ["sqlite", "postgres"] {
        let data = tempfile::tempdir().unwrap();
        let port = crate::free_port();
        let mut cmd = crate::serve_command(data.path(), port);
        // The burst starts executions far faster than a principal's API
        // rate: the benchmark measures the engine, not the limit.
        cmd.args(["--rate-limit-rps", "0"]);
        let pg = if db == "postgres" {
            let (name, url) = minicloud_tests::create_pg_database().await;
            cmd.args(["--database-url", &url]);
            Some(name)
        } else {
            None
        };
        let (child, url) = crate::spawn_until(cmd, "minicloud listening on http://");
        let api = Api::new(data.path(), &url);
        let figures = measure(&api).await;
        crate::stop(child);
        if let Some(name) = pg {
            minicloud_tests::drop_pg_database(&name);
        }
        println!(
            "  {db}: per step p50 {:.2} ms, p99 {:.2} ms ({:.1}x the invocation alone); \
             {:.0} three-step executions/s ({BURST} started by {CLIENTS} clients); \
             1,000-item Map {:.2} s ({:.2} ms per item); \
             a JSONata Pass state {}, a JSONPath one {} (p50 of {CHAIN}-state chains)",
            crate::ms(figures.step_p50),
            crate::ms(figures.step_p99),
            figures.step_p50.as_secs_f64() / baseline.as_secs_f64(),
            figures.per_second,
            figures.map.as_secs_f64(),
            crate::ms(figures.map) / 1000.0,
            per_state_text(figures.jsonata_state),
            per_state_text(figures.jsonpath_state),
        );
    }
    println!();
}

struct Figures {
    step_p50: Duration,
    step_p99: Duration,
    per_second: f64,
    map: Duration,
    /// A Pass state with a JSONata `Output`, and one with JSONPath
    /// `Parameters` that compute the same.
    jsonata_state: Option<Duration>,
    jsonpath_state: Option<Duration>,
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(data: &std::path::Path, url: &str) -> Self {
        let token = std::fs::read_to_string(data.join("admin-token"))
            .unwrap()
            .trim()
            .to_owned();
        Self {
            http: reqwest::Client::new(),
            base: format!("http://{url}/api/v1/projects/default"),
            token,
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

fn task(next: Option<&str>) -> Value {
    let mut t =
        json!({"Type": "Task", "Resource": "step", "Parameters": {"name": "bench"}, "ResultPath": null});
    match next {
        Some(n) => t["Next"] = json!(n),
        None => t["End"] = json!(true),
    }
    t
}

async fn measure(api: &Api) -> Figures {
    let wasm = std::fs::read(guests::JSON_HANDLER).unwrap();
    let resp = api
        .http
        .put(format!("{}/functions/step", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "application/wasm")
        .body(wasm)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "deploy: {}", resp.status());
    let three =
        json!({"StartAt": "A", "States": {"A": task(Some("B")), "B": task(Some("C")), "C": task(None)}});
    let (status, body) = api
        .send(
            reqwest::Method::PUT,
            "/workflows/three",
            Some(json!({"definition": three})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let map = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ResultPath": null,
        "ItemProcessor": {"StartAt": "T", "States": {"T": task(None)}}}}});
    let (status, body) = api
        .send(
            reqwest::Method::PUT,
            "/workflows/map",
            Some(json!({"definition": map})),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // One step: from a task state's entry to the next's, as the journal
    // recorded them (journal write, schedule, invoke, answer, decision).
    let mut steps = Vec::with_capacity(TIMED * 2);
    for _ in 0..TIMED {
        let (status, row) = api
            .send(
                reqwest::Method::POST,
                "/workflows/three/start-sync",
                Some(json!({})),
            )
            .await;
        assert_eq!(
            (status, row["status"].as_str()),
            (200, Some("SUCCEEDED")),
            "{row}"
        );
        let id = row["id"].as_str().unwrap();
        let (_, history) = api
            .send(
                reqwest::Method::GET,
                &format!("/workflows/three/executions/{id}/history?limit=100"),
                None,
            )
            .await;
        let entered: Vec<chrono::DateTime<chrono::Utc>> = history["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "TaskStateEntered" || e["type"] == "ExecutionSucceeded")
            .map(|e| e["details"]["at"].as_str().unwrap().parse().unwrap())
            .collect();
        for pair in entered.windows(2) {
            steps.push((pair[1] - pair[0]).to_std().unwrap_or_default());
        }
    }
    steps.sort();

    // Throughput: many executions at once.
    let started = Instant::now();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (http, url, token, next) = (
                api.http.clone(),
                format!("{}/workflows/three/executions", api.base),
                api.token.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < BURST {
                    let resp = http
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status(), 201);
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    loop {
        let (_, page) = api
            .send(
                reqwest::Method::GET,
                "/workflows/three/executions?status=RUNNING&limit=1",
                None,
            )
            .await;
        if page["items"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the burst did not end"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let per_second = BURST as f64 / started.elapsed().as_secs_f64();

    let items: Vec<u32> = (0..1000).collect();
    let started = Instant::now();
    let (status, row) = api
        .send(
            reqwest::Method::POST,
            "/workflows/map/start-sync",
            Some(json!({"input": items})),
        )
        .await;
    let map = started.elapsed();
    assert_eq!(
        (status, row["status"].as_str()),
        (200, Some("SUCCEEDED")),
        "{row}"
    );
    Figures {
        step_p50: crate::percentile(&steps, 0.5),
        step_p99: crate::percentile(&steps, 0.99),
        per_second,
        map,
        jsonata_state: per_state(
            api,
            "chain-jsonata",
            json!({"Type": "Pass", "QueryLanguage": "JSONata",
                "Output": {"n": "{% $states.input.n + 1 %}", "tag": "{% $uppercase('x') %}"}}),
        )
        .await,
        jsonpath_state: per_state(
            api,
            "chain-jsonpath",
            json!({"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)", "tag": "X"}}),
        )
        .await,
    }
}

/// The p50 time of one `state` in a chain of [`CHAIN`] of them, from start-sync calls (less a one-state chain's, so the API and
/// the execution's start are left out); `None` when the long chain's p50
/// was not above the short one's (the states' cost under the noise).
async fn per_state(api: &Api, name: &str, state: Value) -> Option<Duration> {
    let mut p50s = Vec::new();
    for length in [1, CHAIN] {
        let states: serde_json::Map<String, Value> = (0..length)
            .map(|i| {
                let mut link = state.clone();
                if i + 1 < length {
                    link["Next"] = json!(format!("S{}", i + 1));
                } else {
                    link["End"] = json!(true);
                }
                (format!("S{i}"), link)
            })
            .collect();
        let workflow = format!("{name}-{length}");
        let definition = json!({"StartAt": "S0", "States": states});
        let (status, body) = api
            .send(
                reqwest::Method::PUT,
                &format!("/workflows/{workflow}"),
                Some(json!({"definition": definition})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let mut times = Vec::with_capacity(100);
        for _ in 0..100 {
            let started = Instant::now();
            let (status, row) = api
                .send(
                    reqwest::Method::POST,
                    &format!("/workflows/{workflow}/start-sync"),
                    Some(json!({"input": {"n": 1}})),
                )
                .await;
            times.push(started.elapsed());
            assert_eq!(
                (status, row["status"].as_str()),
                (200, Some("SUCCEEDED")),
                "{row}"
            );
        }
        times.sort();
        p50s.push(crate::percentile(&times, 0.5));
    }
    p50s[1]
        .checked_sub(p50s[0])
        .filter(|d| !d.is_zero())
        .map(|d| d / (CHAIN as u32 - 1))
}

/// A state's time as printed: milliseconds, or that the chains could not
/// tell it from the noise.
fn per_state_text(time: Option<Duration>) -> String {
    match time {
        Some(t) => format!("{:.3} ms", crate::ms(t)),
        None => "under the noise".to_owned(),
    }
}

/// The same handler invoked in process: p50 of 2,000 calls.
async fn in_process_p50() -> Duration {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let compiled = runtime
        .compile(&std::fs::read(guests::JSON_HANDLER).unwrap())
        .unwrap();
    let function = runtime
        .function(&compiled.component, compiled.world, Limits::default(), Vec::new())
        .unwrap();
    let mut times = Vec::with_capacity(2_000);
    for _ in 0..2_200 {
        let ctx = crate::anonymous_context(std::sync::Arc::new(crate::Collect::default()));
        let start = Instant::now();
        function
            .invoke_json(json!({"name": "bench"}).to_string(), ctx, ())
            .await
            .unwrap();
        times.push(start.elapsed());
    }
    let mut times = times.split_off(200);
    times.sort();
    crate::percentile(&times, 0.5)
}
