//! SIGUSR2 hands the listening socket to a successor: no request fails
//! while the server is replaced, every event accepted meanwhile runs once,
//! and a successor that cannot start leaves the old server serving.

use crate::rules::{count, create_rule, deploy_sink, kv};
use minicloud_tests::{Db, Server, eventually, guests};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

crate::on_both_databases!(hand_over_loses_no_request, events_cross_a_hand_over_once);

async fn hand_over_loses_no_request(db: Db) {
    let mut s = Server::start(db).await;
    s.deploy("hello", guests::HELLO).await;
    let first = s.pid();
    assert_eq!(s.pid_file(), Some(first), "the pid file names the server");

    // Callers throughout, four on fresh connections (each one finds the
    // port open and gets an answer) and two that keep theirs open (the
    // old server tells them to reconnect as it stops).
    let fresh = minicloud_tests::fresh_connections();
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..6)
        .map(|i| {
            let http = if i < 4 {
                fresh.clone()
            } else {
                reqwest::Client::new()
            };
            let stop = stop.clone();
            let url = s.fn_url("hello", &format!("/?name=caller{i}"));
            tokio::spawn(async move {
                let (mut answered, mut failed) = (0u32, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    match http.get(&url).send().await {
                        Ok(r) if r.status() == 200 => match r.text().await {
                            Ok(t) if t == format!("Hello, caller{i}! (from MiniCloud)\n") => answered += 1,
                            other => failed.push(format!("{other:?}")),
                        },
                        other => failed.push(format!("{other:?}")),
                    }
                }
                (answered, failed)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let successor = s.hand_over().await;
    assert_ne!(successor, first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut answered = 0;
    for caller in callers {
        let (ok, failed) = caller.await.unwrap();
        assert!(
            failed.is_empty(),
            "calls failed during the hand-over: {failed:?}\n{}",
            s.log()
        );
        answered += ok;
    }
    assert!(answered > 20, "only {answered} calls were answered");

    // The successor answered calls, and loaded the function once, from
    // the compiled artifact.
    let served = s
        .metric("minicloud_invocations_total", "function=\"hello\"")
        .await;
    assert!(
        served >= 1.0,
        "the successor answered no call:\n{}",
        s.metrics().await
    );
    assert_eq!(
        s.metric("minicloud_compilations_total", "").await,
        0.0,
        "the successor compiled again"
    );
    assert_eq!(s.metric("minicloud_artifact_loads_total", "").await, 1.0);

    // It is a whole server: deploys work, and it can be replaced in turn
    // and stopped.
    s.deploy("echo", guests::ECHO).await;
    let third = s.hand_over().await;
    assert_ne!(third, successor);
    assert_eq!(
        s.post_text(&s.fn_url("echo", "/"), "still here").await,
        "still here"
    );
    assert!(s.stop().await, "the successor did not stop cleanly:\n{}", s.log());
}

/// systemd's `Type=notify` protocol, with the test as the service
/// manager: ready once serving, the successor's pid as the hand-over
/// completes (and nothing from the process leaving), stopping on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_manager_follows_the_hand_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let manager = tokio::net::UnixDatagram::bind(&path).unwrap();
    let next = || async {
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(30), manager.recv(&mut buf))
            .await
            .expect("no message from the server within 30 s")
            .unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    };
    let mut s = Server::start_with_env(Db::Sqlite, &[], &[("NOTIFY_SOCKET", path.to_str().unwrap())]).await;
    assert_eq!(next().await, "READY=1");
    let successor = s.hand_over().await;
    assert_eq!(next().await, format!("MAINPID={successor}"));
    let mut buf = [0u8; 256];
    let quiet = tokio::time::timeout(Duration::from_millis(300), manager.recv(&mut buf)).await;
    assert!(quiet.is_err(), "the old server sent more as it left: {quiet:?}");
    assert!(s.stop().await, "the successor did not stop cleanly:\n{}", s.log());
    assert_eq!(next().await, "STOPPING=1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_hand_over_keeps_the_old_server() {
    // A copy of the binary, replaced (as an upgrade would) by one that
    // cannot start.
    let bin = tempfile::tempdir().unwrap();
    let path = bin.path().join("minicloud");
    std::fs::copy(minicloud_tests::binary(), &path).unwrap();
    let mut s = Server::start_from(Db::Sqlite, &path).await;
    s.deploy("hello", guests::HELLO).await;
    let broken = bin.path().join("broken");
    std::fs::write(&broken, "#!/bin/sh\necho 'cannot start' >&2\nexit 3\n").unwrap();
    std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::rename(&broken, &path).unwrap();

    let pid = s.pid();
    s.signal("USR2");
    let failed = minicloud_tests::eventually(Duration::from_secs(30), || async {
        s.log().contains("hand-over failed").then_some(())
    })
    .await;
    assert!(failed.is_some(), "the failure was not reported:\n{}", s.log());
    assert!(s.log().contains("cannot start"), "{}", s.log());
    assert_eq!(s.pid(), pid);
    assert_eq!(s.pid_file(), Some(pid), "the pid file must still name the server");
    let text = s.get_text(&s.fn_url("hello", "/?name=after")).await;
    assert_eq!(text, "Hello, after! (from MiniCloud)\n");
    assert!(s.stop().await, "the server did not stop cleanly:\n{}", s.log());
}

async fn events_cross_a_hand_over_once(db: Db) {
    let mut s = Server::start(db).await;
    deploy_sink(&s).await;
    let rule = create_rule(
        &s,
        json!({"name": "handover", "sources": {"api": true}, "targets": [{"function": "sink"}],
               "retry": {"initial_backoff_ms": 200, "max_backoff_ms": 200}}),
    )
    .await;
    let rule_id = rule["id"].as_str().unwrap().to_owned();

    // Publishers on fresh connections before, during and after the
    // hand-over. Each event's first attempt fails and its second comes
    // 200 ms later, so that as the old server stops, deliveries are
    // running, finishing and waiting to try again there.
    let http = minicloud_tests::fresh_connections();
    let stop = Arc::new(AtomicBool::new(false));
    let publishers: Vec<_> = (0..2)
        .map(|p| {
            let (http, stop, url, token) = (http.clone(), stop.clone(), s.api("/events"), s.token.clone());
            tokio::spawn(async move {
                let (mut accepted, mut failed) = (Vec::new(), Vec::new());
                let mut batch = 0;
                while !stop.load(Ordering::Relaxed) {
                    let entries: Vec<Value> = (0..20)
                        .map(|i| json!({"source": "shop", "detail-type": "Handover", "detail": {"publisher": p, "batch": batch, "i": i, "fail_times": 1}}))
                        .collect();
                    batch += 1;
                    let sent = http.post(&url).bearer_auth(&token).json(&json!({"entries": entries})).send().await;
                    match sent {
                        Ok(r) if r.status() == 200 => {
                            let body: Value = r.json().await.unwrap();
                            accepted.extend(body["entries"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()));
                        }
                        other => failed.push(format!("{other:?}")),
                    }
                }
                (accepted, failed)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.hand_over().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut accepted = Vec::new();
    for publisher in publishers {
        let (ids, failed) = publisher.await.unwrap();
        assert!(
            failed.is_empty(),
            "publishes failed during the hand-over: {failed:?}\n{}",
            s.log()
        );
        accepted.extend(ids);
    }
    assert!(
        accepted.len() >= 100,
        "only {} events were accepted",
        accepted.len()
    );

    // Every accepted event succeeds, soon: what the old server held is
    // given back as it stops, not left to its leases (30 s) to run out.
    let key = |id: &String| format!("{id}/{rule_id}/sink");
    let finished = eventually(Duration::from_secs(15), || async {
        let kv = kv(&s).await;
        accepted
            .iter()
            .all(|id| count(&kv, &format!("done/{}", key(id))) >= 1)
            .then_some(kv)
    })
    .await;
    let Some(kv) = finished else {
        let kv = kv(&s).await;
        let missing = accepted
            .iter()
            .filter(|id| count(&kv, &format!("done/{}", key(id))) == 0)
            .count();
        panic!(
            "{missing} of {} accepted events did not run within 15 s:\n{}",
            accepted.len(),
            s.log()
        );
    };
    // Once: two attempts (the planned failure, then the success), and
    // no attempt ran on both servers.
    let repeated: Vec<_> = accepted
        .iter()
        .filter(|id| {
            count(&kv, &format!("runs/{}", key(id))) != 2 || count(&kv, &format!("done/{}", key(id))) != 1
        })
        .collect();
    assert!(
        repeated.is_empty(),
        "{} of {} events did not run exactly twice with one success: {:?}",
        repeated.len(),
        accepted.len(),
        &repeated[..repeated.len().min(5)]
    );
    assert!(s.stop().await, "the successor did not stop cleanly:\n{}", s.log());
}
