//! Durable workflows through the API: definitions validated with every
//! problem at its JSON path, executions of every state type with a real
//! function (`tests/guests/steps`) as their tasks, named errors, retries
//! and catchers, idempotent starts, the history, task tokens sent back,
//! and stops.

use minicloud_tests::{Db, Server, eventually, guests};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

crate::on_both_databases!(
    definitions_are_validated,
    executions_run_every_state,
    tokens_and_stops
);

/// Deploys `steps` as `steps`, allowed its key-value bucket.
pub(crate) async fn deploy_steps(s: &Server) {
    s.put_role(
        "steps",
        json!([{"Effect": "Allow", "Action": "kv:*", "Resource": "mrn:kv:*:*:bucket/steps*"}]),
    )
    .await;
    s.deploy_with("steps", "?role=steps", guests::STEPS).await;
}

/// `PUT`s workflow `name` of the default project: the status and answer.
pub(crate) async fn put_workflow(s: &Server, name: &str, definition: Value) -> (u16, Value) {
    s.call(
        &s.token,
        Method::PUT,
        &format!("/projects/default/workflows/{name}"),
        Some(json!({ "definition": definition })),
    )
    .await
}

/// Starts an execution of `workflow`: its description.
pub(crate) async fn start(s: &Server, workflow: &str, body: Value) -> Value {
    let (status, row) = s
        .call(
            &s.token,
            Method::POST,
            &format!("/projects/default/workflows/{workflow}/executions"),
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{row}");
    row
}

/// The execution once it is no longer running (within `timeout`).
pub(crate) async fn ended(s: &Server, workflow: &str, id: &str, timeout: Duration) -> Value {
    let path = format!("/projects/default/workflows/{workflow}/executions/{id}");
    eventually(timeout, || async {
        let (status, row) = s.call(&s.token, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{row}");
        (row["status"] != "RUNNING").then_some(row)
    })
    .await
    .unwrap_or_else(|| panic!("execution {id} of {workflow} still running after {timeout:?}"))
}

/// The history's event types, every page.
async fn history(s: &Server, workflow: &str, id: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = cursor.map_or("?limit=7".to_owned(), |c| format!("?limit=7&cursor={c}"));
        let (status, page) = s
            .call(
                &s.token,
                Method::GET,
                &format!("/projects/default/workflows/{workflow}/executions/{id}/history{query}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

async fn definitions_are_validated(db: Db) {
    let s = Server::start(db).await;
    deploy_steps(&s).await;
    let (status, body) = put_workflow(
        &s,
        "broken",
        json!({
            "StartAt": "A",
            "States": {
                "A": {"Type": "Task", "Resource": "steps", "Next": "Nowhere"},
                "B": {"Type": "Task", "Resource": "missing", "End": true},
                "C": {"Type": "Task", "Resource": "mrn:functions:other:shop:function/steps", "End": true},
                "D": {"Type": "Pass", "Parameters": {"x.$": "States.Nope($.a)"}, "End": true, "Color": "red"}
            }
        }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_definition");
    let paths: Vec<&str> = body["error"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    for wanted in [
        "$.States.A.Next",
        "$.States.B.Resource",
        "$.States.C.Resource",
        "$.States.D.Color",
        "$.States.D.Parameters['x.$']",
    ] {
        assert!(paths.contains(&wanted), "no problem at {wanted}: {body}");
    }

    // A good one: 201, then the same again is the same version, a change
    // a new one.
    let good = json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}});
    let (status, body) = put_workflow(&s, "good", good.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["version"], 1);
    let (status, body) = put_workflow(&s, "good", good).await;
    assert_eq!((status, body["version"].clone()), (200, json!(1)), "{body}");
    let changed = json!({"StartAt": "B", "States": {"B": {"Type": "Succeed"}}});
    let (status, body) = put_workflow(&s, "good", changed.clone()).await;
    assert_eq!((status, body["version"].clone()), (200, json!(2)), "{body}");
    let (status, body) = s
        .call(&s.token, Method::GET, "/projects/default/workflows/good", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["definition"], changed);
    let (status, body) = s
        .call(&s.token, Method::GET, "/projects/default/workflows", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["items"][0]["name"], "good");
    let (status, _) = s
        .call(&s.token, Method::DELETE, "/projects/default/workflows/good", None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = s
        .call(&s.token, Method::GET, "/projects/default/workflows/good", None)
        .await;
    assert_eq!(status, 404);
}

/// Every state type, with tasks that retry, fail with a name and get
/// caught.
fn order_pipeline() -> Value {
    json!({
        "Comment": "every state type",
        "StartAt": "Validate",
        "States": {
            "Validate": {
                "Type": "Task", "Resource": "steps",
                "Parameters": {"key.$": "States.Format('validate-{}', $$.Execution.Name)", "fail_times": 1,
                               "return": {"ok": true}},
                "ResultPath": "$.validation",
                "Retry": [{"ErrorEquals": ["Flaky.Error"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                "Next": "Route"
            },
            "Route": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.validation.ok", "BooleanEquals": true, "Next": "Pause"}],
                "Default": "Rejected"
            },
            "Rejected": {"Type": "Fail", "Error": "Order.Rejected", "Cause": "validation failed"},
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Items"},
            "Items": {
                "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
                "ItemSelector": {"sku.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
                "ItemProcessor": {"StartAt": "Both", "States": {
                    "Both": {"Type": "Parallel", "End": true, "Branches": [
                        {"StartAt": "Price", "States": {"Price": {
                            "Type": "Task", "Resource": "steps", "End": true,
                            "Parameters": {"return.$": "$.sku"}}}},
                        {"StartAt": "Stock", "States": {"Stock": {
                            "Type": "Pass", "Parameters": {"in_stock": true, "index.$": "$.index"}, "End": true}}}
                    ]}
                }},
                "ResultPath": "$.lines",
                "Next": "Charge"
            },
            "Charge": {
                "Type": "Task", "Resource": "steps",
                "Parameters": {"throw": {"error": "Payment.Declined", "cause": "card expired"}},
                "Catch": [{"ErrorEquals": ["Payment.Declined"], "ResultPath": "$.payment", "Next": "Summarize"}],
                "End": true
            },
            "Summarize": {"Type": "Pass", "Parameters": {"lines.$": "$.lines", "payment.$": "$.payment"}, "Next": "Done"},
            "Done": {"Type": "Succeed"}
        }
    })
}

async fn executions_run_every_state(db: Db) {
    let s = Server::start(db).await;
    deploy_steps(&s).await;
    let (status, body) = put_workflow(&s, "orders", order_pipeline()).await;
    assert_eq!(status, 201, "{body}");
    let input = json!({"items": ["a", "b", "c"]});
    let row = start(&s, "orders", json!({"name": "order-1", "input": input})).await;
    let id = row["id"].as_str().unwrap().to_owned();
    assert_eq!(row["status"], "RUNNING");
    let done = ended(&s, "orders", &id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(
        done["output"],
        json!({
            "lines": [
                ["a", {"in_stock": true, "index": 0}],
                ["b", {"in_stock": true, "index": 1}],
                ["c", {"in_stock": true, "index": 2}]
            ],
            "payment": {"Error": "Payment.Declined", "Cause": "card expired"}
        })
    );
    let events = history(&s, "orders", &id).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"ExecutionStarted"));
    assert_eq!(types.last(), Some(&"ExecutionSucceeded"));
    for wanted in [
        "TaskStateEntered",
        "TaskScheduled",
        "TaskFailed",
        "RetryScheduled",
        "TaskSucceeded",
        "ChoiceStateEntered",
        "WaitStarted",
        "MapStateStarted",
        "MapIterationStarted",
        "MapIterationSucceeded",
        "ParallelBranchStarted",
    ] {
        assert!(types.contains(&wanted), "no {wanted} in {types:?}");
    }
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(
        ids,
        (0..ids.len() as i64).collect::<Vec<_>>(),
        "every event once, in order"
    );

    // The same name and input: the same execution; another input: 409.
    let (status, again) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/default/workflows/orders/executions",
            Some(json!({"name": "order-1", "input": input})),
        )
        .await;
    assert_eq!((status, again["id"].clone()), (200, json!(id)), "{again}");
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/default/workflows/orders/executions",
            Some(json!({"name": "order-1", "input": {"items": []}})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (409, json!("execution_exists"))
    );

    // A Fail state's error ends the execution; start-sync answers it.
    let (status, failed) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/default/workflows/orders/start-sync",
            Some(json!({"input": {"items": [], "fail": true}})),
        )
        .await;
    assert_eq!(status, 200, "{failed}");
    assert_eq!(failed["status"], "SUCCEEDED", "an empty Map is fine: {failed}");
    let (status, _) = put_workflow(
        &s,
        "reject",
        json!({"StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "Order.Rejected", "Cause": "no"}}}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, failed) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/default/workflows/reject/start-sync",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{failed}");
    assert_eq!(
        (
            failed["status"].clone(),
            failed["error"].clone(),
            failed["cause"].clone()
        ),
        (json!("FAILED"), json!("Order.Rejected"), json!("no"))
    );

    // Listing, filtered by status.
    let (status, page) = s
        .call(
            &s.token,
            Method::GET,
            "/projects/default/workflows/orders/executions?status=SUCCEEDED",
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");
    let (status, _) = s
        .call(
            &s.token,
            Method::GET,
            "/projects/default/workflows/orders/executions?status=DONE",
            None,
        )
        .await;
    assert_eq!(status, 400);
    // Its ended executions go with it.
    let (status, _) = s
        .call(
            &s.token,
            Method::DELETE,
            "/projects/default/workflows/orders",
            None,
        )
        .await;
    assert_eq!(status, 204);
}

/// A task that waits for its token: the token reaches the function (and
/// the history), a person sends it back through the API with their own
/// authority, and a stop ends what waits.
async fn tokens_and_stops(db: Db) {
    let s = Server::start(db).await;
    deploy_steps(&s).await;
    let approval = json!({
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task", "Resource": "steps.waitForTaskToken",
                "Parameters": {"token.$": "$$.Task.Token", "request.$": "$.request"},
                "TimeoutSeconds": 300,
                "Catch": [{"ErrorEquals": ["Approval.Rejected"], "ResultPath": "$.rejection", "Next": "Rejected"}],
                "ResultPath": "$.approval",
                "End": true
            },
            "Rejected": {"Type": "Pass", "End": true}
        }
    });
    let (status, body) = put_workflow(&s, "approve", approval).await;
    assert_eq!(status, 201, "{body}");
    let token_of = |id: String| {
        let s = &s;
        async move {
            eventually(Duration::from_secs(10), || async {
                history(s, "approve", &id)
                    .await
                    .iter()
                    .find_map(|e| e["details"]["token"].as_str().map(str::to_owned))
            })
            .await
            .expect("the task was scheduled with a token")
        }
    };

    // Approved.
    let row = start(&s, "approve", json!({"input": {"request": "deploy v2"}})).await;
    let id = row["id"].as_str().unwrap().to_owned();
    let token = token_of(id.clone()).await;
    // A stranger in another org cannot use it.
    let stranger = crate::hostile::tenant(&s, "rival", "spy").await;
    let (status, body) = s
        .call(
            &stranger,
            Method::POST,
            "/task-tokens/success",
            Some(json!({"token": token, "output": {"approved": "by mallory"}})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/task-tokens/success",
            Some(json!({"token": token, "output": {"approved": "by ann"}})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let done = ended(&s, "approve", &id, Duration::from_secs(10)).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(
        done["output"],
        json!({"request": "deploy v2", "approval": {"approved": "by ann"}})
    );

    // Rejected: the error is caught.
    let row = start(&s, "approve", json!({"input": {"request": "deploy v3"}})).await;
    let id = row["id"].as_str().unwrap().to_owned();
    let token = token_of(id.clone()).await;
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/task-tokens/failure",
            Some(json!({"token": token, "error": "Approval.Rejected", "cause": "not on a Friday"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let done = ended(&s, "approve", &id, Duration::from_secs(10)).await;
    assert_eq!(
        done["output"]["rejection"],
        json!({"Error": "Approval.Rejected", "Cause": "not on a Friday"}),
        "{done}"
    );

    // Stopped while it waits; a token sent after is refused.
    let row = start(&s, "approve", json!({"input": {"request": "deploy v4"}})).await;
    let id = row["id"].as_str().unwrap().to_owned();
    let token = token_of(id.clone()).await;
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            &format!("/projects/default/workflows/approve/executions/{id}/stop"),
            Some(json!({"error": "Ops.Cancelled", "cause": "changed our minds"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let done = ended(&s, "approve", &id, Duration::from_secs(10)).await;
    assert_eq!(
        (done["status"].clone(), done["error"].clone()),
        (json!("ABORTED"), json!("Ops.Cancelled"))
    );
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/task-tokens/success",
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (409, json!("execution_not_running"))
    );
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/task-tokens/success",
            Some(json!({"token": "made-up"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("invalid_token"))
    );
}
