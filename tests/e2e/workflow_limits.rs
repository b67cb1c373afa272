//! Workflow limits reached through the API: an execution that loops
//! without end stops at 25,000 history events with `States.Runtime`, its
//! journal whole and readable.

use super::workflows::{ended, put_workflow, start};
use minicloud_tests::{Db, Server};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

crate::on_both_databases!(history_limit);

/// Step Functions' limit of history events an execution.
const MAX_EVENTS: i64 = 25_000;

async fn history_limit(db: Db) {
    let s = Server::start(db).await;
    // Each lap enters and leaves a Pass and a Choice: four events, forever
    // (the input never has `stop`).
    let endless = json!({"StartAt": "Tick", "States": {
        "Tick": {"Type": "Pass", "Next": "Again"},
        "Again": {"Type": "Choice", "Default": "Tick",
                  "Choices": [{"Variable": "$.stop", "IsPresent": true, "Next": "Done"}]},
        "Done": {"Type": "Succeed"}
    }});
    let (status, body) = put_workflow(&s, "endless", endless).await;
    assert_eq!(status, 201, "{body}");
    let row = start(&s, "endless", json!({"input": {"lap": 0}})).await;
    let id = row["id"].as_str().unwrap().to_owned();
    let done = ended(&s, "endless", &id, Duration::from_secs(120)).await;
    assert_eq!(
        (done["status"].as_str(), done["error"].as_str()),
        (Some("FAILED"), Some("States.Runtime")),
        "{done}"
    );
    let events = done["events"].as_i64().unwrap();
    assert!(
        (MAX_EVENTS..=MAX_EVENTS + 1).contains(&events),
        "the journal stops at the limit, with the failure: {events} events"
    );
    // The last page of the history ends with the failure.
    let path = format!(
        "/projects/default/workflows/endless/executions/{id}/history?limit=5&cursor={}",
        events - 3
    );
    let (status, page) = s.call(&s.token, Method::GET, &path, None).await;
    assert_eq!(status, 200, "{page}");
    let types: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(types.last(), Some(&"ExecutionFailed"), "{page}");
    assert!(page["next_cursor"].is_null(), "{page}");
}
