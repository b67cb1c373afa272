//! Idle executions are parked: a node lets an execution that waits (for a
//! token, a long Wait) go from memory, and any node takes it back when a
//! signal is stored for it or just before its timer is due, provided its
//! engine can read the execution's journal (and its definition).

use super::workflows::{deploy_steps, ended, history, put_workflow, start, token_of};
use minicloud_tests::{Db, Server, eventually};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

crate::on_both_databases!(
    idle_executions_are_parked,
    newer_engines_executions_are_left_alone,
    newer_engines_definitions_are_left_alone
);

/// The server's database.
async fn database(s: &Server) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&s.database_url()).await.unwrap()
}

/// The row of execution `id` (bound as `$1`) that `query` reads.
async fn select(s: &Server, query: &str, id: &str) -> sqlx::any::AnyRow {
    let pool = database(s).await;
    let row = sqlx::query(query).bind(id).fetch_one(&pool).await.unwrap();
    pool.close().await;
    row
}

/// Runs `statement` on the row of execution `id` (bound as `$1`).
async fn update(s: &Server, statement: &str, id: &str) {
    let pool = database(s).await;
    let done = sqlx::query(statement).bind(id).execute(&pool).await.unwrap();
    assert_eq!(done.rows_affected(), 1, "{statement}");
    pool.close().await;
}

/// The lease owner and lease end of execution `id`, from the database.
async fn lease(s: &Server, id: &str) -> (String, i64) {
    use sqlx::Row;
    let row = select(
        s,
        "SELECT lease_owner, lease_ms FROM workflow_executions WHERE id = $1",
        id,
    )
    .await;
    (row.get("lease_owner"), row.get("lease_ms"))
}

/// The engine version execution `id` is stamped with.
async fn engine_version(s: &Server, id: &str) -> i64 {
    let query = "SELECT engine_version FROM workflow_executions WHERE id = $1";
    sqlx::Row::get(&select(s, query, id).await, "engine_version")
}

/// A workflow `ask` whose one task waits for its token.
async fn put_ask(s: &Server) {
    let (status, body) = put_workflow(
        s,
        "ask",
        json!({"StartAt": "Ask", "States": {"Ask": {
            "Type": "Task", "Resource": "steps.waitForTaskToken",
            "Parameters": {"token.$": "$$.Task.Token"}, "End": true}}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

/// Answers the task of `ask` execution `id` with `"yes"`.
async fn say_yes(s: &Server, id: &str) {
    let token = token_of(s, "ask", id).await;
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/task-tokens/success",
            Some(json!({"token": token, "output": "yes"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
}

/// Waits until execution `id` is parked: its lease end then.
async fn parked(s: &Server, id: &str) -> i64 {
    eventually(Duration::from_secs(15), || async {
        let (owner, until) = lease(s, id).await;
        owner.is_empty().then_some(until)
    })
    .await
    .unwrap_or_else(|| panic!("execution {id} was not parked"))
}

async fn idle_executions_are_parked(db: Db) {
    let s = Server::start_with(db, &["--workflow-idle-secs", "1"]).await;
    deploy_steps(&s).await;
    put_ask(&s).await;
    let (status, body) = put_workflow(
        &s,
        "nap",
        json!({"StartAt": "Nap", "States": {
            "Nap": {"Type": "Wait", "Seconds": 6, "Next": "Up"},
            "Up": {"Type": "Pass", "Result": "rested", "End": true}}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // A token wait: parked with no timer; the token brings it back.
    let asking = start(&s, "ask", json!({})).await;
    let ask_id = asking["id"].as_str().unwrap().to_owned();
    let napping = start(&s, "nap", json!({})).await;
    let nap_id = napping["id"].as_str().unwrap().to_owned();
    assert_eq!(parked(&s, &ask_id).await, i64::MAX, "only a signal wakes it");
    say_yes(&s, &ask_id).await;
    let done = ended(&s, "ask", &ask_id, Duration::from_secs(10)).await;
    assert_eq!(
        (done["status"].clone(), done["output"].clone()),
        (json!("SUCCEEDED"), json!("yes")),
        "{done}"
    );

    // A 6 s Wait: parked until 2 s before the timer, which fires on time.
    let wake = parked(&s, &nap_id).await;
    let until = history(&s, "nap", &nap_id)
        .await
        .iter()
        .find_map(|e| e["details"]["until"].as_str().map(str::to_owned))
        .expect("the Wait is journaled");
    let until = chrono::DateTime::parse_from_rfc3339(&until)
        .unwrap()
        .timestamp_millis();
    assert_eq!(wake, until - 2_000, "parked until 2 s before the timer");
    let started = napping["started_ms"].as_i64().unwrap();
    let done = ended(&s, "nap", &nap_id, Duration::from_secs(15)).await;
    assert_eq!(
        (done["status"].clone(), done["output"].clone()),
        (json!("SUCCEEDED"), json!("rested")),
        "{done}"
    );
    assert!(done["stopped_ms"].as_i64().unwrap() - started >= 6_000, "{done}");
    assert!(
        s.metric("minicloud_workflow_executions_parked_total", "workflow=\"nap\"")
            .await
            >= 1.0
    );
}

/// A rolling upgrade: an execution whose journal a newer engine wrote (its
/// `engine_version` above this node's) is not taken by this node, even
/// with a signal waiting for it, so it is neither failed as unreadable nor
/// run by an engine that would misread it; once an engine that reads it
/// holds it (here: the version set back), it goes on.
async fn newer_engines_executions_are_left_alone(db: Db) {
    let s = Server::start_with(db, &["--workflow-idle-secs", "1"]).await;
    deploy_steps(&s).await;
    put_ask(&s).await;
    let asking = start(&s, "ask", json!({})).await;
    let id = asking["id"].as_str().unwrap().to_owned();
    parked(&s, &id).await;
    let version = engine_version(&s, &id).await;
    assert!(
        version >= 2,
        "a new execution records its engine's version: {version}"
    );
    update(
        &s,
        "UPDATE workflow_executions SET engine_version = 1000000 WHERE id = $1",
        &id,
    )
    .await;
    say_yes(&s, &id).await;
    // Several claim rounds (one a second, and one at once for the signal)
    // pass; the execution stays parked and running.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        lease(&s, &id).await.0,
        "",
        "this node took a newer engine's execution"
    );
    let (status, row) = s
        .call(
            &s.token,
            Method::GET,
            &format!("/projects/default/workflows/ask/executions/{id}"),
            None,
        )
        .await;
    assert_eq!((status, row["status"].as_str()), (200, Some("RUNNING")), "{row}");

    let set_back = format!("UPDATE workflow_executions SET engine_version = {version} WHERE id = $1");
    update(&s, &set_back, &id).await;
    let done = ended(&s, "ask", &id, Duration::from_secs(10)).await;
    assert_eq!(
        (done["status"].clone(), done["output"].clone()),
        (json!("SUCCEEDED"), json!("yes")),
        "{done}"
    );
}

/// An execution of a definition that a newer engine wrote is left to the
/// newer nodes, even when this node took the request that started it: it
/// is stored (201, running) but not run here, and runs once a node of its
/// engine (played by setting the versions back) takes it.
async fn newer_engines_definitions_are_left_alone(db: Db) {
    let s = Server::start(db).await;
    let (status, workflow) = put_workflow(
        &s,
        "plain",
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "done", "End": true}}}),
    )
    .await;
    assert_eq!(status, 201, "{workflow}");
    let workflow_id = workflow["id"].as_str().unwrap().to_owned();
    let stamp = "UPDATE workflow_versions SET engine_version = 1000000 WHERE workflow_id = $1";
    update(&s, stamp, &workflow_id).await;
    let row = start(&s, "plain", json!({})).await;
    let id = row["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, row) = s
        .call(
            &s.token,
            Method::GET,
            &format!("/projects/default/workflows/plain/executions/{id}"),
            None,
        )
        .await;
    assert_eq!((status, row["status"].as_str()), (200, Some("RUNNING")), "{row}");
    assert_eq!(
        lease(&s, &id).await.0,
        "",
        "this node holds a newer engine's execution"
    );
    let version = engine_version(&s, &id).await;
    assert_eq!(
        version, 1000000,
        "the execution is stamped with its definition's engine"
    );

    let unstamp = "UPDATE workflow_versions SET engine_version = 1 WHERE workflow_id = $1";
    update(&s, unstamp, &workflow_id).await;
    update(
        &s,
        "UPDATE workflow_executions SET engine_version = 1 WHERE id = $1",
        &id,
    )
    .await;
    let done = ended(&s, "plain", &id, Duration::from_secs(10)).await;
    assert_eq!(
        (done["status"].clone(), done["output"].clone()),
        (json!("SUCCEEDED"), json!("done")),
        "{done}"
    );
}
