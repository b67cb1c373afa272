//! Noisy neighbours: one tenant's calls while another tenant runs its worst
//! guests (a spinning loop, endless allocation, a flood of log lines,
//! a stack overflow). Reports the quiet tenant's p99 alone and beside the
//! noise, and their ratio; the target is at most 2x.

use super::{free_port, load, start_minicloud, stop};
use minicloud_tests::guests;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Callers of the noisy tenant, each calling its worst guests in turn.
const NOISY_CALLERS: usize = 8;

/// The noisy tenant's guests; `MINICLOUD_NOISE=/loop,/alloc` picks some, to
/// tell which one costs the neighbour most.
const FAULTS: [&str; 4] = ["/loop", "/alloc", "/logs?n=100000", "/stack"];

fn faults() -> Vec<String> {
    match std::env::var("MINICLOUD_NOISE") {
        Ok(list) if !list.trim().is_empty() => list.split(',').map(|f| f.trim().to_owned()).collect(),
        _ => FAULTS.iter().map(|f| (*f).to_owned()).collect(),
    }
}

pub async fn neighbours() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let (child, url) = start_minicloud(data.path(), port);
    let token = std::fs::read_to_string(data.path().join("admin-token"))
        .unwrap()
        .trim()
        .to_owned();
    let http = reqwest::Client::new();
    let api = format!("http://{url}/api/v1");
    for (path, body) in [
        ("/orgs", serde_json::json!({"name": "noisy"})),
        ("/orgs/noisy/projects", serde_json::json!({"name": "noisy"})),
    ] {
        let resp = http
            .post(format!("{api}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "POST {path}: {}", resp.status());
    }
    for (project, name, guest, query) in [
        ("default", "hello", guests::HELLO, ""),
        (
            "noisy",
            "faults",
            guests::FAULTS,
            "?timeout_ms=1000&memory_mib=64",
        ),
    ] {
        let resp = http
            .put(format!("{api}/projects/{project}/functions/{name}{query}"))
            .bearer_auth(&token)
            .header("content-type", "application/wasm")
            .body(std::fs::read(guest).unwrap())
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "deploy {project}/{name}: {}",
            resp.status()
        );
    }
    let quiet_path = "/fn/default/hello/";
    let _warm = load(&url, quiet_path).await;
    let quiet = load(&url, quiet_path).await;

    let noisy = Arc::new(AtomicBool::new(true));
    let noise_calls = Arc::new(AtomicUsize::new(0));
    let faults = Arc::new(faults());
    let callers: Vec<_> = (0..NOISY_CALLERS)
        .map(|i| {
            let faults = faults.clone();
            let (noisy, calls, http) = (noisy.clone(), noise_calls.clone(), http.clone());
            let base = format!("http://{url}/fn/noisy/faults");
            tokio::spawn(async move {
                let mut n = i;
                while noisy.load(Ordering::Relaxed) {
                    let path = &faults[n % faults.len()];
                    n += 1;
                    // The answers are failures by design; only their cost
                    // to the neighbour is measured.
                    if let Ok(r) = http.get(format!("{base}{path}")).send().await {
                        let _ = r.bytes().await;
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let busy = load(&url, quiet_path).await;
    noisy.store(false, Ordering::Relaxed);
    for c in callers {
        let _ = c.await;
    }
    stop(child);

    let ratio = busy.p99.as_secs_f64() / quiet.p99.as_secs_f64();
    println!(
        "noisy neighbours: the quiet tenant's hello while another org runs loop, alloc, logs flood, stack overflow:"
    );
    println!(
        "  quiet alone:        {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
        quiet.rps,
        crate::ms(quiet.p50),
        crate::ms(quiet.p99)
    );
    println!(
        "  beside the noise:   {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} noisy calls)",
        busy.rps,
        crate::ms(busy.p50),
        crate::ms(busy.p99),
        noise_calls.load(Ordering::Relaxed)
    );
    println!(
        "  p99 beside the noise / alone: {ratio:.2}x (target: at most 2x) {}\n",
        if ratio <= 2.0 { "met" } else { "MISSED" }
    );
}
