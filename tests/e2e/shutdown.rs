//! SIGTERM lets in-flight invocations finish and stores their records,
//! within one grace period.

use minicloud_tests::{Db, Server, guests};
use std::time::Duration;

crate::on_both_databases!(graceful_shutdown_finishes_in_flight_work);

async fn graceful_shutdown_finishes_in_flight_work(db: Db) {
    let mut s = Server::start(db).await;
    s.deploy("faults", guests::FAULTS).await;
    let slow = {
        let http = s.http.clone();
        let url = s.fn_url("faults", "/slow?ms=1500");
        tokio::spawn(async move {
            let resp = http.get(url).send().await.unwrap();
            let id = resp.headers()["x-minicloud-invocation-id"]
                .to_str()
                .unwrap()
                .to_owned();
            (resp.status().as_u16(), resp.text().await.unwrap(), id)
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(s.stop().await, "the server did not exit cleanly:\n{}", s.log());
    let (status, text, id) = slow.await.unwrap();
    assert_eq!(
        (status, text.as_str()),
        (200, "slept"),
        "the in-flight call was cut off"
    );

    s.restart().await;
    let records = s.get_json(&s.api("/functions/faults/invocations")).await;
    let ids: Vec<&str> = records["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&id.as_str()),
        "the record of the in-flight call was lost: {ids:?}"
    );
}

/// The grace period bounds the whole stop: a call that outlasts it is cut
/// off, and the server exits soon after the period, not after the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_is_bounded_by_the_grace_period() {
    let mut s = Server::start_with(Db::Sqlite, &["--shutdown-grace-secs", "2"]).await;
    s.deploy("faults", guests::FAULTS).await;
    let slow = {
        let http = s.http.clone();
        let url = s.fn_url("faults", "/slow?ms=8000");
        tokio::spawn(async move { http.get(url).send().await.map(|r| r.status()) })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let stopping = std::time::Instant::now();
    assert!(s.stop().await, "the server did not exit cleanly:\n{}", s.log());
    let took = stopping.elapsed();
    // Waiting for requests, then for invocations, each the whole period,
    // took twice as long (4 s).
    assert!(
        took < Duration::from_millis(3_500),
        "the stop took {took:?} with a grace period of 2 s:\n{}",
        s.log()
    );
    assert!(
        s.log().contains("after the grace period"),
        "the cut-off was not logged:\n{}",
        s.log()
    );
    let _ = slow.await.unwrap();
}
