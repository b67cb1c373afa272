//! Every org's invocation records and log lines are stored in shared
//! batches, one transaction each: a guest's output that the database
//! refused would fail the batch, and with it the records of every tenant
//! invoked at the time. A NUL character, which PostgreSQL's `text`
//! refuses, is stored as U+FFFD.

use super::{deploy_as, tenant};
use minicloud_tests::{Db, Server, eventually, guests};
use std::time::Duration;

crate::on_both_databases!(a_guests_nul_costs_no_one_their_records);

/// An evil org's guest prints a NUL while our function is called: both
/// invocations are recorded, and the evil line is kept, NUL replaced.
async fn a_guests_nul_costs_no_one_their_records(db: Db) {
    let s = Server::start(db).await;
    s.deploy("hello", guests::HELLO).await;
    let evil = tenant(&s, "evil", "evil").await;
    deploy_as(&s, &evil, "evil", "nul", guests::FAULTS).await;
    let (ours, theirs) = tokio::join!(
        s.http.get(s.fn_url("hello", "/")).send(),
        s.http.get(format!("{}/fn/evil/nul/nul", s.url)).send()
    );
    assert_eq!(ours.unwrap().status(), 200);
    let theirs = theirs.unwrap();
    assert_eq!(theirs.status(), 200);
    let id = theirs.headers()["x-minicloud-invocation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    // A GET of an API path as `token`, asserting 200.
    let get_as = |token: String, path: String| {
        let s = &s;
        async move {
            let (status, body) = s.call(&token, reqwest::Method::GET, &path, None).await;
            assert_eq!(status, 200, "GET {path}: {body}");
            body
        }
    };
    let recorded = |project: &'static str, function: &'static str, token: String| {
        let page = get_as(
            token,
            format!("/projects/{project}/functions/{function}/invocations"),
        );
        async move { (page.await["items"].as_array().map_or(0, Vec::len) > 0).then_some(()) }
    };
    let both = eventually(Duration::from_secs(10), || async {
        recorded("default", "hello", s.token.clone()).await?;
        recorded("evil", "nul", evil.clone()).await
    })
    .await;
    assert!(both.is_some(), "both invocations recorded: {}", s.log());
    let logs = get_as(
        evil.clone(),
        format!("/projects/evil/functions/nul/logs?invocation_id={id}"),
    )
    .await;
    let lines: Vec<&str> = logs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["line"].as_str())
        .collect();
    assert_eq!(lines, ["before\u{FFFD}after"], "{logs}");
}
