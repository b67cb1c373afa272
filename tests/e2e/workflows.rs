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
    tokens_and_stops,
    token_tasks_survive_a_crash,
    executions_survive_a_crash,
    workflows_and_events,
    execution_roles_authorize_tasks,
    functions_start_executions,
    old_executions_are_deleted
);

mod two_nodes {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::two_nodes_share_executions().await
    }
}

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

/// Runs an execution of `workflow` through `start-sync` on `s`: its
/// description, once the answer is 200.
pub(crate) async fn start_sync(s: &Server, workflow: &str, body: Value) -> Value {
    let path = format!("/projects/default/workflows/{workflow}/start-sync");
    let (status, done) = s.call(&s.token, Method::POST, &path, Some(body)).await;
    assert_eq!(status, 200, "{done}");
    done
}

/// The first task token in the history of execution `id`, once its task
/// is scheduled (within 10 s).
pub(crate) async fn token_of(s: &Server, workflow: &str, id: &str) -> String {
    eventually(Duration::from_secs(10), || async {
        history(s, workflow, id)
            .await
            .iter()
            .find_map(|e| e["details"]["token"].as_str().map(str::to_owned))
    })
    .await
    .expect("the task was scheduled with a token")
}

/// The lines an execution's tasks logged, oldest first, read by `token`
/// once `lines` of them are stored (or after 30 s): the records' writer
/// stores them in batches, so they may land a little after the execution
/// ended.
pub(crate) async fn execution_logs(
    s: &Server,
    token: &str,
    workflow: &str,
    id: &str,
    lines: usize,
) -> Vec<String> {
    let path = format!("/projects/default/workflows/{workflow}/executions/{id}/logs");
    let read = || async {
        let (status, page) = s.call(token, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{page}");
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["line"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    let stored = |l: Vec<String>| (l.len() >= lines).then_some(l);
    match eventually(Duration::from_secs(30), || async { stored(read().await) }).await {
        Some(logs) => logs,
        None => read().await,
    }
}

/// The history's events, every page.
pub(crate) async fn history(s: &Server, workflow: &str, id: &str) -> Vec<Value> {
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
    let failed = start_sync(&s, "orders", json!({"input": {"items": []}})).await;
    assert_eq!(failed["status"], "SUCCEEDED", "an empty Map is fine: {failed}");
    let (status, _) = put_workflow(
        &s,
        "reject",
        json!({"StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "Order.Rejected", "Cause": "no"}}}),
    )
    .await;
    assert_eq!(status, 201);
    let failed = start_sync(&s, "reject", json!({})).await;
    assert_eq!(
        (
            failed["status"].clone(),
            failed["error"].clone(),
            failed["cause"].clone()
        ),
        (json!("FAILED"), json!("Order.Rejected"), json!("no"))
    );

    // The task reads which task it runs: a retry keeps the entry's
    // idempotency key and counts in retry_count.
    let (status, _) = put_workflow(
        &s,
        "context",
        json!({"StartAt": "Who", "States": {"Who": {
            "Type": "Task", "Resource": "steps", "Parameters": {"task": true, "fail_times": 1}, "End": true,
            "Retry": [{"ErrorEquals": ["Flaky.Error"], "IntervalSeconds": 1}]}}}),
    )
    .await;
    assert_eq!(status, 201);
    let done = start_sync(&s, "context", json!({})).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let task = &done["output"];
    let id = done["id"].as_str().unwrap();
    assert_eq!(task["execution_id"], id);
    assert_eq!(task["workflow"], "context");
    assert_eq!(task["state"], "Who");
    assert_eq!(task["retry_count"], 1);
    assert_eq!(task["token"], Value::Null);
    assert_eq!(task["idempotency_key"], format!("{id}/0"));
    // Both attempts' log lines, read by the execution.
    let logs = execution_logs(&s, &s.token, "context", id, 2).await;
    assert_eq!(logs.len(), 2, "the execution's log lines: {logs:?}");
    assert!(
        logs[0].contains("Who attempt 0") && logs[1].contains("Who attempt 1"),
        "{logs:?}"
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

    // Approved.
    let row = start(&s, "approve", json!({"input": {"request": "deploy v2"}})).await;
    let id = row["id"].as_str().unwrap().to_owned();
    let token = token_of(&s, "approve", &id).await;
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
    // The inbox: the open task with its state, input and token; not for
    // the stranger.
    let tasks_url = "/projects/default/workflows/approve/tasks";
    let (status, page) = s.call(&s.token, Method::GET, tasks_url, None).await;
    assert_eq!(status, 200, "{page}");
    let open = page["items"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{page}");
    assert_eq!(
        (&open[0]["token"], &open[0]["execution_id"], &open[0]["state"]),
        (&json!(token), &json!(id), &json!("Ask")),
        "{page}"
    );
    assert_eq!(open[0]["input"]["request"], "deploy v2", "{page}");
    assert!(open[0]["opened_ms"].as_i64().unwrap() > 0, "{page}");
    let (status, body) = s.call(&stranger, Method::GET, tasks_url, None).await;
    assert!(status == 403 || status == 404, "{status} {body}");
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/task-tokens/success",
            Some(json!({"token": token, "output": {"approved": "by ann"}})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    // Answered is closed the moment the answer is accepted, before the
    // engine takes it up: the inbox no longer lists it, and a second
    // approver's answer (or a heartbeat) is refused, not queued to be
    // dropped.
    let (_, page) = s.call(&s.token, Method::GET, tasks_url, None).await;
    assert_eq!(page["items"], json!([]), "answered, no longer open");
    for (path, body) in [
        (
            "/task-tokens/failure",
            json!({"token": token, "error": "Approval.Rejected", "cause": "too late"}),
        ),
        ("/task-tokens/heartbeat", json!({"token": token})),
    ] {
        let (status, body) = s.call(&s.token, Method::POST, path, Some(body)).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!("task_timed_out")),
            "{path} after the task was answered: {body}"
        );
    }
    let done = ended(&s, "approve", &id, Duration::from_secs(10)).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(
        done["output"],
        json!({"request": "deploy v2", "approval": {"approved": "by ann"}})
    );

    // Rejected: the error is caught.
    let row = start(&s, "approve", json!({"input": {"request": "deploy v3"}})).await;
    let id = row["id"].as_str().unwrap().to_owned();
    let token = token_of(&s, "approve", &id).await;
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
    let token = token_of(&s, "approve", &id).await;
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
        (400, json!("task_timed_out"))
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
    stale_tokens_are_refused(&s).await;
}

/// A task that waits for its token, killed (SIGKILL) after its function
/// returned: started again, the server does not run the function again
/// (`TaskSubmitted` is journaled), and the token still completes it.
async fn token_tasks_survive_a_crash(db: Db) {
    let mut s = Server::start(db).await;
    deploy_steps(&s).await;
    let ask = json!({"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task", "Resource": "steps.waitForTaskToken",
        "Parameters": {"token.$": "$$.Task.Token"}, "End": true}}});
    let (status, body) = put_workflow(&s, "ask", ask).await;
    assert_eq!(status, 201, "{body}");
    let row = start(&s, "ask", json!({})).await;
    let id = row["id"].as_str().unwrap().to_owned();
    let token = eventually(Duration::from_secs(10), || async {
        let events = history(&s, "ask", &id).await;
        let submitted = events.iter().any(|e| e["type"] == "TaskSubmitted");
        let token = events.iter().find_map(|e| e["details"]["token"].as_str());
        token.filter(|_| submitted).map(str::to_owned)
    })
    .await
    .expect("the task's function ran and it waits for the token");
    s.kill();
    s.start_again().await;
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/task-tokens/success",
            Some(json!({"token": token, "output": "ok"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let done = ended(&s, "ask", &id, Duration::from_secs(20)).await;
    assert_eq!(
        (done["status"].clone(), done["output"].clone()),
        (json!("SUCCEEDED"), json!("ok")),
        "{done}"
    );
    let ran: i64 = runs(&s)
        .await
        .iter()
        .filter(|(key, _)| key.starts_with(&format!("{id}/")))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        ran, 1,
        "the function of the waiting task ran again after the restart"
    );
}

/// A token whose task timed out is refused (400 `task_timed_out`) while
/// its execution waits for the next one; so is a forged token of the same
/// execution. The next task's token completes it.
async fn stale_tokens_are_refused(s: &Server) {
    let ask = |timeout: u64, next: Value| {
        let mut state = json!({"Type": "Task", "Resource": "steps.waitForTaskToken",
            "Parameters": {"token.$": "$$.Task.Token"}, "TimeoutSeconds": timeout});
        state
            .as_object_mut()
            .unwrap()
            .extend(next.as_object().unwrap().clone());
        state
    };
    let twice = json!({"StartAt": "First", "States": {
        "First": ask(1, json!({"Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": null, "Next": "Second"}], "End": true})),
        "Second": ask(300, json!({"End": true}))
    }});
    let (status, body) = put_workflow(s, "twice", twice).await;
    assert_eq!(status, 201, "{body}");
    let row = start(s, "twice", json!({})).await;
    let id = row["id"].as_str().unwrap().to_owned();
    let tokens = eventually(Duration::from_secs(15), || async {
        let tokens: Vec<String> = history(s, "twice", &id)
            .await
            .iter()
            .filter_map(|e| e["details"]["token"].as_str().map(str::to_owned))
            .collect();
        (tokens.len() == 2).then_some(tokens)
    })
    .await
    .expect("the first task timed out and the second was scheduled");
    let send = |token: String| async move {
        s.call(
            &s.token,
            Method::POST,
            "/task-tokens/success",
            Some(json!({"token": token, "output": 1})),
        )
        .await
    };
    let forged = format!("{id}.{}", "0".repeat(32));
    for token in [tokens[0].clone(), forged] {
        let (status, body) = send(token).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!("task_timed_out")),
            "{body}"
        );
    }
    let (status, body) = send(tokens[1].clone()).await;
    assert_eq!(status, 202, "{body}");
    let done = ended(s, "twice", &id, Duration::from_secs(10)).await;
    assert_eq!(
        (done["status"].clone(), done["output"].clone()),
        (json!("SUCCEEDED"), json!(1)),
        "{done}"
    );
}

/// A burst of executions with tasks, waits, maps and retries; the server
/// is killed (SIGKILL) while they run and started again. Every execution
/// that was accepted ends with the right output, and no task whose end
/// was journaled before the crash runs again (the guest counts its runs
/// per idempotency key in key-value).
async fn executions_survive_a_crash(db: Db) {
    let mut s = Server::start(db).await;
    deploy_steps(&s).await;
    let definition = json!({
        "StartAt": "First",
        "States": {
            "First": {"Type": "Task", "Resource": "steps", "Parameters": {"n.$": "$.n"},
                      "ResultPath": "$.first", "Next": "Nap"},
            "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Each"},
            "Each": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.items", "Next": "Flaky",
                     "ItemProcessor": {"StartAt": "Item", "States": {
                         "Item": {"Type": "Task", "Resource": "steps", "End": true}}}},
            "Flaky": {"Type": "Task", "Resource": "steps", "ResultPath": "$.flaky", "End": true,
                      "Parameters": {"key.$": "States.Format('flaky-{}', $$.Execution.Name)",
                                     "fail_times": 1, "return": "ok"},
                      "Retry": [{"ErrorEquals": ["Flaky.Error"], "IntervalSeconds": 1, "MaxAttempts": 3}]}
        }
    });
    let (status, body) = put_workflow(&s, "burst", definition).await;
    assert_eq!(status, 201, "{body}");
    const TOTAL: usize = 500;
    let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(usize, String)>::new()));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (url, token, http, accepted) = (
            s.api("/workflows/burst/executions"),
            s.token.clone(),
            s.http.clone(),
            accepted.clone(),
        );
        clients.push(tokio::spawn(async move {
            for n in (c..TOTAL).step_by(4) {
                let body = json!({"name": format!("e-{n}"), "input": {"n": n, "items": [n, n + 1]}});
                let Ok(resp) = http.post(&url).bearer_auth(&token).json(&body).send().await else {
                    return;
                };
                if resp.status() != 201 {
                    return;
                }
                let Ok(row) = resp.json::<Value>().await else {
                    return;
                };
                accepted
                    .lock()
                    .unwrap()
                    .push((n, row["id"].as_str().unwrap().to_owned()));
            }
        }));
    }
    eventually(Duration::from_secs(60), || async {
        (accepted.lock().unwrap().len() >= 200).then_some(())
    })
    .await
    .expect("executions were started");
    s.kill();
    for c in clients {
        c.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    // What the journals say had ended before the crash, and how often each
    // task had run by then.
    let finished_before = finished_tasks(&s).await;
    let runs_before = runs(&s).await;
    assert!(
        !finished_before.is_empty(),
        "the crash came before any task ended"
    );
    s.start_again().await;
    for (n, id) in &accepted {
        let done = ended(&s, "burst", id, Duration::from_secs(120)).await;
        assert_eq!(done["status"], "SUCCEEDED", "{done}");
        assert_eq!(
            done["output"],
            json!({"n": n, "first": {"n": n}, "items": [n, n + 1], "flaky": "ok"}),
            "{done}"
        );
    }
    let runs_after = runs(&s).await;
    let again: Vec<&String> = finished_before
        .iter()
        .filter(|key| runs_after.get(*key) != runs_before.get(*key))
        .collect();
    assert!(again.is_empty(), "tasks that had ended ran again: {again:?}");
    // A task in flight at the crash may run once more; the flaky one
    // also fails once on purpose.
    let twice: Vec<(&String, &i64)> = runs_after
        .iter()
        .filter(|(key, n)| !key.starts_with("flaky-") && **n > 2)
        .collect();
    assert!(twice.is_empty(), "tasks ran more than twice: {twice:?}");
}

/// Runs per idempotency key of the `steps` guest.
async fn runs(s: &Server) -> std::collections::HashMap<String, i64> {
    super::rules::kv_bucket(s, "steps")
        .await
        .into_iter()
        .filter_map(|(key, value)| Some((key.strip_prefix("runs/")?.to_owned(), value.parse().ok()?)))
        .collect()
}

/// The idempotency keys (`<execution>/<entry>`) of every task whose
/// success is journaled: state entries are numbered in journal order.
async fn finished_tasks(s: &Server) -> Vec<String> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.database_url()).await.unwrap();
    let rows = sqlx::query("SELECT execution_id, body_json FROM workflow_events ORDER BY execution_id, seq")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    let mut keys = Vec::new();
    let mut execution = String::new();
    let mut next_entry = 0;
    let mut entry_of = std::collections::HashMap::new();
    for r in &rows {
        let id: String = r.get("execution_id");
        if id != execution {
            execution = id;
            next_entry = 0;
            entry_of.clear();
        }
        let body: String = r.get("body_json");
        let event: Value = serde_json::from_str(&body).unwrap();
        let frame = event["frame"].as_str().unwrap_or_default().to_owned();
        match event["type"].as_str() {
            Some("StateEntered") => {
                entry_of.insert(frame, next_entry);
                next_entry += 1;
            }
            Some("TaskSucceeded") => keys.push(format!("{execution}/{}", entry_of[&frame])),
            _ => {}
        }
    }
    keys
}

/// Rules start workflows (once per delivery), and executions announce
/// their status changes as `minicloud.workflows` events that rules match.
async fn workflows_and_events(db: Db) {
    let s = Server::start(db).await;
    crate::rules::deploy_sink(&s).await;
    let (status, body) = put_workflow(
        &s,
        "on-order",
        json!({"StartAt": "Take", "States": {"Take": {"Type": "Pass", "Parameters": {"order.$": "$.detail.order"}, "End": true}}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    crate::rules::create_rule(
        &s,
        json!({"name": "start-orders", "sources": {"api": true}, "pattern": {"source": ["shop"]},
               "targets": [{"workflow": "on-order"}]}),
    )
    .await;
    crate::rules::create_rule(
        &s,
        json!({"name": "watch", "sources": {"platform": ["minicloud.workflows"]},
               "pattern": {"detail-type": ["Execution Status Change"], "detail": {"status": ["SUCCEEDED"]}},
               "targets": [{"function": "sink"}]}),
    )
    .await;
    // A rule naming a workflow the caller may not start is refused.
    s.put_role(
        "rules-only",
        json!([{"Effect": "Allow", "Action": "events:*", "Resource": "*"}]),
    )
    .await;
    let dev = s.user_token("ruler", "rules-only", Some("default")).await;
    let (status, _) = s
        .call(
            &dev,
            Method::POST,
            "/projects/default/rules",
            Some(json!({"name": "sneaky", "sources": {"api": true}, "targets": [{"workflow": "on-order"}]})),
        )
        .await;
    assert_eq!(status, 403);

    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/default/events",
            Some(json!({"entries": [{"source": "shop", "detail-type": "Order Placed", "detail": {"order": 42}}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let execution = eventually(Duration::from_secs(20), || async {
        let (_, page) = s
            .call(
                &s.token,
                Method::GET,
                "/projects/default/workflows/on-order/executions?status=SUCCEEDED",
                None,
            )
            .await;
        page["items"].as_array().and_then(|items| items.first().cloned())
    })
    .await
    .expect("the event started an execution that succeeded");
    assert_eq!(execution["output"], json!({"order": 42}), "{execution}");
    assert!(execution["name"].as_str().unwrap().starts_with("event-"));
    // Its success reached the sink as a platform event.
    let last = eventually(Duration::from_secs(20), || async {
        let kv = crate::rules::kv(&s).await;
        kv.get("last-input")
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .filter(|e| e["source"] == "minicloud.workflows")
    })
    .await
    .expect("the status change was delivered");
    assert_eq!(last["detail-type"], "Execution Status Change");
    assert_eq!(last["detail"]["status"], "SUCCEEDED");
    assert_eq!(last["detail"]["executionId"], execution["id"]);
    assert_eq!(last["detail"]["output"], json!({"order": 42}));
}

/// Two servers on one PostgreSQL database: each drives the executions it
/// started, a token sent to one reaches an execution the other drives, and
/// when one dies (SIGKILL) the other takes its executions over once their
/// leases run out and finishes them.
async fn two_nodes_share_executions() {
    let a = Server::start(Db::Postgres).await;
    deploy_steps(&a).await;
    let (status, body) = put_workflow(
        &a,
        "slow",
        json!({"StartAt": "Nap", "States": {
            "Nap": {"Type": "Wait", "Seconds": 3, "Next": "Work"},
            "Work": {"Type": "Task", "Resource": "steps", "Parameters": {"return.$": "$.n"}, "End": true}}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = put_workflow(
        &a,
        "approve",
        json!({"StartAt": "Ask", "States": {"Ask": {
            "Type": "Task", "Resource": "steps.waitForTaskToken",
            "Parameters": {"token.$": "$$.Task.Token"}, "End": true}}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let mut b = Server::join(&a).await;

    // A token sent through a, for an execution b drives.
    let row = start(&b, "approve", json!({})).await;
    let id = row["id"].as_str().unwrap().to_owned();
    let token = token_of(&b, "approve", &id).await;
    let (status, body) = a
        .call(
            &a.token,
            Method::POST,
            "/task-tokens/success",
            Some(json!({"token": token, "output": "yes"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let done = ended(&a, "approve", &id, Duration::from_secs(10)).await;
    assert_eq!(
        (done["status"].clone(), done["output"].clone()),
        (json!("SUCCEEDED"), json!("yes"))
    );

    // start-sync through a, of an execution (same name and input) that b
    // started and drives: a waits for b's result.
    let body = json!({"name": "shared", "input": {"n": "both"}});
    start(&b, "slow", body.clone()).await;
    let done = start_sync(&a, "slow", body).await;
    assert_eq!(
        (done["status"].clone(), done["output"].clone()),
        (json!("SUCCEEDED"), json!("both"))
    );

    // Executions on both; b dies while they wait.
    let mut ids = Vec::new();
    for n in 0..40 {
        let node = if n % 2 == 0 { &a } else { &b };
        let row = start(node, "slow", json!({"input": {"n": n}})).await;
        ids.push((n, row["id"].as_str().unwrap().to_owned()));
    }
    b.kill();
    for (n, id) in &ids {
        let done = ended(&a, "slow", id, Duration::from_secs(60)).await;
        assert_eq!(
            (done["status"].clone(), done["output"].clone()),
            (json!("SUCCEEDED"), json!(n)),
            "{done}"
        );
    }
}

/// With an execution role, every task's invocation is authorized by the
/// role: a function it does not grant fails the task with
/// `States.Permissions`, which a catcher sees like any error.
async fn execution_roles_authorize_tasks(db: Db) {
    let s = Server::start(db).await;
    deploy_steps(&s).await;
    s.deploy_with("other", "?role=steps", guests::STEPS).await;
    s.put_role(
        "runner",
        json!([{"Effect": "Allow", "Action": "functions:InvokeFunction",
                "Resource": "mrn:functions:*:*:function/steps"}]),
    )
    .await;
    let (status, body) = s
        .call(
            &s.token,
            Method::PUT,
            "/projects/default/workflows/roled",
            Some(json!({"role": "runner", "definition": {"StartAt": "Allowed", "States": {
                "Allowed": {"Type": "Task", "Resource": "steps", "Parameters": {"return": "ok"},
                            "ResultPath": "$.allowed", "Next": "Denied"},
                "Denied": {"Type": "Task", "Resource": "other", "Parameters": {"return": "no"},
                           "ResultPath": "$.denied", "End": true,
                           "Catch": [{"ErrorEquals": ["States.Permissions"], "ResultPath": "$.denied", "Next": "Done"}]},
                "Done": {"Type": "Succeed"}}}})),
        )
        .await;
    assert_eq!((status, body["role"].clone()), (201, json!("runner")), "{body}");
    let done = start_sync(&s, "roled", json!({})).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["output"]["allowed"], "ok");
    assert_eq!(done["output"]["denied"]["Error"], "States.Permissions", "{done}");
}

/// A function starts an execution through `workflows.start-execution` when
/// its role grants `workflows:StartExecution` on that workflow, and is
/// refused (`access-denied`, not a trap) on any other; a name makes the
/// start idempotent.
async fn functions_start_executions(db: Db) {
    let s = Server::start(db).await;
    s.put_role(
        "starter",
        json!([{"Effect": "Allow", "Action": "workflows:StartExecution",
                "Resource": "mrn:workflows:*:*:workflow/child"}]),
    )
    .await;
    s.deploy_with("starter", "?role=starter", guests::STEPS).await;
    let child = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    for name in ["child", "other"] {
        let (status, body) = put_workflow(&s, name, child.clone()).await;
        assert_eq!(status, 201, "{body}");
    }
    let invoke = "/projects/default/functions/starter/invoke";
    let start =
        json!({"start_execution": {"workflow": "child", "input": {"from": "a function"}, "name": "once"}});
    let (status, out) = s.call(&s.token, Method::POST, invoke, Some(start.clone())).await;
    assert_eq!(status, 200, "{out}");
    let id = out["started"].as_str().unwrap().to_owned();
    let (status, again) = s.call(&s.token, Method::POST, invoke, Some(start)).await;
    assert_eq!(
        (status, again["started"].clone()),
        (200, json!(id)),
        "the same name starts once"
    );
    let done = ended(&s, "child", &id, Duration::from_secs(20)).await;
    assert_eq!(
        (done["status"].clone(), done["output"].clone()),
        (json!("SUCCEEDED"), json!({"from": "a function"}))
    );
    let (status, out) = s
        .call(
            &s.token,
            Method::POST,
            invoke,
            Some(json!({"start_execution": {"workflow": "other", "input": {}}})),
        )
        .await;
    assert_eq!(status, 422, "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("access denied"),
        "{out}"
    );
}

/// Ended executions past the retention (90 days by default) are deleted
/// with their histories shortly after a start and every hour, and their
/// names are free again; younger ones, and running ones however old,
/// stay.
async fn old_executions_are_deleted(db: Db) {
    let mut s = Server::start(db).await;
    let definition = json!({
        "StartAt": "Choose",
        "States": {
            "Choose": {"Type": "Choice", "Default": "Done",
                       "Choices": [{"Variable": "$.wait", "BooleanEquals": true, "Next": "Nap"}]},
            "Nap": {"Type": "Wait", "Seconds": 3600, "Next": "Done"},
            "Done": {"Type": "Pass", "End": true}
        }
    });
    let (status, body) = put_workflow(&s, "aging", definition).await;
    assert_eq!(status, 201, "{body}");
    let mut ids = Vec::new();
    for name in ["old", "recent"] {
        let done = start_sync(&s, "aging", json!({"name": name, "input": {"wait": false}})).await;
        assert_eq!(done["status"], "SUCCEEDED", "{done}");
        ids.push(done["id"].as_str().unwrap().to_owned());
    }
    let napping = start(&s, "aging", json!({"name": "napping", "input": {"wait": true}})).await;
    let napping = napping["id"].as_str().unwrap().to_owned();
    assert!(
        history(&s, "aging", &ids[0]).await.len() > 2,
        "a history to delete"
    );
    assert!(s.stop().await, "{}", s.log());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.database_url()).await.unwrap();
    // Ended 91 days ago, ended 89 days ago, and running since 200 days.
    let day: i64 = 86_400_000;
    for (id, age) in [(&ids[0], 91 * day), (&ids[1], 89 * day), (&napping, 200 * day)] {
        sqlx::query(
            "UPDATE workflow_executions SET started_ms = started_ms - $1, \
             stopped_ms = stopped_ms - $1 WHERE id = $2",
        )
        .bind(age)
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    }
    let journal = |id: String| {
        let pool = pool.clone();
        async move {
            let events: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM workflow_events WHERE execution_id = $1")
                    .bind(&id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            events
        }
    };
    s.start_again().await;
    let path = |id: &str| format!("/projects/default/workflows/aging/executions/{id}");
    let gone = eventually(Duration::from_secs(20), || async {
        let (status, _) = s.call(&s.token, Method::GET, &path(&ids[0]), None).await;
        (status == 404).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "the execution ended 91 days ago deleted: {}",
        s.log()
    );
    assert_eq!(journal(ids[0].clone()).await, 0, "its history went with it");
    for (id, status) in [(&ids[1], "SUCCEEDED"), (&napping, "RUNNING")] {
        let (code, row) = s.call(&s.token, Method::GET, &path(id), None).await;
        assert_eq!(
            (code, row["status"].as_str()),
            (200, Some(status)),
            "{id} kept: {row}"
        );
        assert!(journal(id.clone()).await > 0, "{id}'s history kept");
    }
    // Its name is free again; the others' are not.
    let again = start_sync(&s, "aging", json!({"name": "old", "input": {"wait": false}})).await;
    assert_eq!(again["status"], "SUCCEEDED", "{again}");
    assert_ne!(again["id"], ids[0].as_str(), "a new execution");
    let (status, body) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/default/workflows/aging/executions",
            Some(json!({"name": "recent", "input": {"wait": true}})),
        )
        .await;
    assert_eq!(status, 409, "the kept execution's name is taken: {body}");
}
