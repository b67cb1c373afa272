//! Outbound HTTP used as a way in: a function whose role grants `http:Fetch`
//! on every host tries the platform's own API on loopback (by address, by
//! name, in IPv6 and IPv4-mapped forms), the cloud metadata service and the
//! private network. Every try is refused by address before any connection
//! (`destination-IP-prohibited`, a guest error, never a trap), counted,
//! audited and explained in the function's logs, and the server keeps
//! serving. Only a range the operator allowed (`--outbound-allow-cidr`) is
//! reached.
//!
//! No packet leaves the machine: non-loopback addresses are refused before
//! connecting, which the tests check by the refusal's code and its speed.

use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A refusal comes at once; a connection attempt would take up to the
/// 10 s connect timeout.
const QUICK: Duration = Duration::from_secs(5);

/// The caps guest, with a role that grants fetching any host.
async fn fetcher(s: &Server) {
    s.deploy("caps", guests::CAPS).await;
    s.put_role(
        "fetch-anything",
        json!([{"Effect": "Allow", "Action": "http:Fetch", "Resource": "mrn:http:*:*:host/*"}]),
    )
    .await;
    let f = s.patch("caps", json!({"role": "fetch-anything"})).await;
    assert_eq!(f["role"], "fetch-anything");
}

/// Fetches `http://<authority>/healthz` from inside the function: its JSON
/// answer and how long the invocation took.
async fn fetch(s: &Server, authority: &str) -> (Value, Duration) {
    let started = Instant::now();
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/default/functions/caps/invoke",
            Some(json!({"op": "fetch", "authority": authority, "path": "/healthz"})),
        )
        .await;
    // A refusal is the guest's error value, not a failed invocation.
    assert_eq!(status, 200, "{authority}: {body}");
    (body, started.elapsed())
}

fn prohibited(out: &Value) -> bool {
    out["error"]["kind"] == "http"
        && out["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("DestinationIpProhibited"))
}

fn port(s: &Server) -> String {
    s.url.rsplit(':').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_and_private_networks_are_out_of_reach() {
    let s = Server::start(Db::Sqlite).await;
    fetcher(&s).await;
    let port = port(&s);
    let targets = [
        // The platform's own API, however the address is spelled.
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("127.1:{port}"),
        format!("[::1]:{port}"),
        format!("[::ffff:127.0.0.1]:{port}"),
        format!("0.0.0.0:{port}"),
        // Cloud metadata, directly and through IPv6 forms.
        "169.254.169.254".to_owned(),
        "169.254.169.254:80".to_owned(),
        "[::ffff:169.254.169.254]".to_owned(),
        "[64:ff9b::a9fe:a9fe]".to_owned(),
        "[fe80::1]".to_owned(),
        // Private, shared and unique-local ranges.
        "10.0.0.1".to_owned(),
        "10.0.0.1:8080".to_owned(),
        "172.16.0.1".to_owned(),
        "192.168.0.1".to_owned(),
        "100.64.0.1".to_owned(),
        "[fd00::1]".to_owned(),
    ];
    for authority in &targets {
        let (out, took) = fetch(&s, authority).await;
        assert!(prohibited(&out), "{authority} was not refused by address: {out}");
        assert!(took < QUICK, "{authority}: the refusal took {took:?}");
    }

    // Counted and audited like any refused host call.
    let denied = s.metric("minicloud_capability_denied_total", "http:Fetch").await;
    assert!(denied >= targets.len() as f64, "{denied}");
    let audit = s
        .denials_once(|r| r["resource"] == "mrn:http:default:default:host/169.254.169.254")
        .await
        .expect("the refused metadata fetch is audited");
    let record = audit
        .iter()
        .find(|r| r["resource"] == "mrn:http:default:default:host/169.254.169.254")
        .unwrap();
    assert_eq!(record["action"], "http:Fetch");
    assert_eq!(record["actor_type"], "function");

    // The developer reads why in the function's logs.
    let logs = minicloud_tests::eventually(Duration::from_secs(10), || async {
        let logs = s.get_json(&s.api("/functions/caps/logs?limit=1000")).await;
        let lines = logs["items"].as_array().cloned().unwrap_or_default();
        lines
            .iter()
            .filter_map(|l| l["line"].as_str().map(str::to_owned))
            .find(|l| l.contains("169.254.169.254 is a link-local address"))
    })
    .await
    .expect("the refusal is explained in the function's logs");
    assert!(logs.contains("which functions may not reach"), "{logs}");

    // The server, and the function, are fine.
    let resp = s.http.get(format!("{}/healthz", s.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let (out, _) = fetch(&s, "10.0.0.1").await;
    assert!(prohibited(&out), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_ranges_the_operator_allows_are_reached() {
    let s = Server::start_with(Db::Sqlite, &["--outbound-allow-cidr", "127.0.0.0/8"]).await;
    fetcher(&s).await;
    let port = port(&s);
    for authority in [format!("127.0.0.1:{port}"), format!("[::ffff:127.0.0.1]:{port}")] {
        let (out, _) = fetch(&s, &authority).await;
        assert_eq!(out, json!({"status": 200}), "{authority}");
    }
    // The allowed range is that range only.
    for authority in [
        format!("[::1]:{port}"),
        "169.254.169.254".into(),
        "10.0.0.1".into(),
    ] {
        let (out, took) = fetch(&s, &authority).await;
        assert!(prohibited(&out), "{authority} was not refused by address: {out}");
        assert!(took < QUICK, "{authority}: the refusal took {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_range_stops_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let mut child = std::process::Command::new(minicloud_tests::binary())
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--outbound-allow-cidr", "127.0.0.0/8,10.0.0.0/33"])
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    let status = status.unwrap_or_else(|| panic!("the server kept running: {stderr}"));
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("--outbound-allow-cidr") && stderr.contains("\"10.0.0.0/33\""),
        "{stderr}"
    );
}
