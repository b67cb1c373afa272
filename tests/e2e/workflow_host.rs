//! What the host does to a workflow is not the tenant's failure: JSONata
//! workers killed from outside while they evaluate (as the kernel's
//! out-of-memory killer or an operator would) make the engine take the
//! decision again, and every execution ends with the output its
//! definition gives.
//!
//! The pool itself tries a kept worker's evaluation again on a fresh one;
//! only when that one is killed too is the decision the host's. So the
//! test kills every worker it finds, again and again, for a moment: every
//! evaluation under way then loses both workers.

use super::workflows::{ended, put_workflow, start};
use minicloud_tests::{Db, Server};
use serde_json::json;
use std::time::Duration;

/// Pass states in the chain; each one's expression counts a range.
const CHAIN: usize = 12;
/// The range each state counts: tens of milliseconds of a worker's time.
const RANGE: u64 = 300_000;
/// How long every worker is killed as soon as it is found: less than the
/// pauses before the engine's first three tries of a decision (0.25 s,
/// 0.5 s, 1 s), so no decision fails five times in a row.
const KILLING: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_from_outside_fail_no_state() {
    let s = Server::start(Db::Sqlite).await;
    let states: serde_json::Map<String, serde_json::Value> = (0..CHAIN)
        .map(|i| {
            let mut state = json!({"Type": "Pass",
                "Output": {"n": format!("{{% $states.input.n + $count([1..{RANGE}]) %}}")}});
            if i + 1 < CHAIN {
                state["Next"] = json!(format!("S{}", i + 1));
            } else {
                state["End"] = json!(true);
            }
            (format!("S{i}"), state)
        })
        .collect();
    let definition = json!({"QueryLanguage": "JSONata", "StartAt": "S0", "States": states});
    let (status, body) = put_workflow(&s, "busy", definition).await;
    assert_eq!(status, 201, "{body}");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let row = start(&s, "busy", json!({"input": {"n": 0}})).await;
        ids.push(row["id"].as_str().unwrap().to_owned());
    }
    // Once the first evaluation runs, every worker dies as it is found.
    let found = std::time::Instant::now() + Duration::from_secs(10);
    while workers_of(s.pid()).is_empty() {
        assert!(std::time::Instant::now() < found, "no JSONata worker started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut killed = 0;
    let until = std::time::Instant::now() + KILLING;
    while std::time::Instant::now() < until {
        for pid in workers_of(s.pid()) {
            killed += usize::from(kill(pid));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(killed > 1, "{killed} workers killed");
    for id in ids {
        let done = ended(&s, "busy", &id, Duration::from_secs(60)).await;
        assert_eq!(
            (done["status"].as_str(), &done["output"]),
            (Some("SUCCEEDED"), &json!({"n": CHAIN as u64 * RANGE})),
            "{done}"
        );
    }
    // The engine took decisions again: without that, the states that
    // lost both their workers would have failed.
    let retries = s.metric("minicloud_workflow_host_retries_total", "").await;
    assert!(retries >= 1.0, "{killed} kills, {retries} decisions taken again");
}

/// The server's JSONata workers: its children running `jsonata-worker`.
fn workers_of(server: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // `pid (comm) state ppid ...`: the parent follows the name.
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            parent == Some(server) && String::from_utf8_lossy(&cmdline).contains("jsonata-worker")
        })
        .collect()
}

/// `kill -KILL pid`; whether it was sent.
fn kill(pid: u32) -> bool {
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}
