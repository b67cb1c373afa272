//! SIGTERM lets in-flight invocations finish and stores their records.

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
