//! Workflows across tenants: a workflow's tasks run functions of its own
//! project only, another org can neither read, start, stop nor complete
//! the tasks of a workflow it does not own, execution ids are scoped by
//! project, setting an execution role needs `iam:PassRole`, and a
//! function's `workflows.start-execution` names workflows of its own
//! project only, whatever its role grants, and a tenant's JSONata cannot
//! hold the engine.

use super::{deploy_as, function_with_every_grant, tenant};
use crate::workflows::{deploy_steps, put_workflow, start};
use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::json;

crate::on_both_databases!(
    jsonata_cannot_hold_the_engine,
    jsonata_turned_off_is_refused,
    workflows_stay_in_their_project,
    a_function_starts_only_its_own_projects_workflows
);

async fn workflows_stay_in_their_project(db: Db) {
    let s = Server::start(db).await;
    deploy_steps(&s).await;
    let rival = tenant(&s, "rival", "spy").await;
    deploy_as(&s, &rival, "spy", "steps", guests::STEPS).await;

    // A definition in the rival's project naming our function, by mrn:
    // refused, whatever the rival's grants.
    let (status, body) = s
        .call(
            &rival,
            Method::PUT,
            "/projects/spy/workflows/steal",
            Some(json!({"definition": {"StartAt": "T", "States": {"T": {
                "Type": "Task", "Resource": "mrn:functions:default:default:function/steps", "End": true}}}})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("invalid_definition")),
        "{body}"
    );
    assert_eq!(body["error"]["problems"][0]["path"], "$.States.T.Resource");
    // Its bare name means the rival's own function.
    let (status, body) = s
        .call(
            &rival,
            Method::PUT,
            "/projects/spy/workflows/own",
            Some(json!({"definition": {"StartAt": "T", "States": {"T": {
                "Type": "Task", "Resource": "steps", "End": true}}}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // Our workflow and one of its executions.
    let approval = json!({"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task", "Resource": "steps.waitForTaskToken",
        "Parameters": {"token.$": "$$.Task.Token"}, "End": true}}});
    let (status, body) = put_workflow(&s, "approve", approval).await;
    assert_eq!(status, 201, "{body}");
    let row = start(&s, "approve", json!({})).await;
    let id = row["id"].as_str().unwrap();

    // The rival cannot reach it through our project...
    let ours = "/projects/default/workflows/approve";
    for (method, path, body) in [
        (Method::GET, ours.to_owned(), None),
        (
            Method::PUT,
            ours.to_owned(),
            Some(json!({"definition": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}})),
        ),
        (Method::DELETE, ours.to_owned(), None),
        (Method::GET, "/projects/default/workflows".to_owned(), None),
        (Method::POST, format!("{ours}/executions"), Some(json!({}))),
        (Method::POST, format!("{ours}/start-sync"), Some(json!({}))),
        (Method::GET, format!("{ours}/executions"), None),
        (Method::GET, format!("{ours}/executions/{id}"), None),
        (Method::GET, format!("{ours}/executions/{id}/history"), None),
        (
            Method::POST,
            format!("{ours}/executions/{id}/stop"),
            Some(json!({})),
        ),
    ] {
        let (status, answer) = s.call(&rival, method.clone(), &path, body).await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
    }
    // ...nor by naming our execution under its own workflow.
    let (status, _) = s
        .call(
            &rival,
            Method::GET,
            &format!("/projects/spy/workflows/own/executions/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = s
        .call(
            &rival,
            Method::POST,
            &format!("/projects/spy/workflows/own/executions/{id}/stop"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 404);

    // A Developer of our project may run workflows but not pass a role
    // they were not given.
    s.put_role(
        "powerful",
        json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}]),
    )
    .await;
    let dev = s.user_token("dev", "Developer", Some("default")).await;
    let (status, body) = s
        .call(
            &dev,
            Method::PUT,
            "/projects/default/workflows/escalate",
            Some(json!({"role": "powerful", "definition": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = s
        .call(
            &dev,
            Method::PUT,
            "/projects/default/workflows/plain",
            Some(json!({"definition": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn a_function_starts_only_its_own_projects_workflows(db: Db) {
    let s = Server::start(db).await;
    let (status, body) = put_workflow(
        &s,
        "payroll",
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // The attacker: its own org, a role granting every action on every
    // resource, and the steps guest under it.
    let evil = tenant(&s, "evil", "evil").await;
    function_with_every_grant(&s, &evil, "evil", "evil", "starter", guests::STEPS).await;
    // "payroll" is a name in the function's own project, which has none.
    let (status, out) = s
        .call(
            &evil,
            Method::POST,
            "/projects/evil/functions/starter/invoke",
            Some(json!({"start_execution": {"workflow": "payroll", "input": {"planted": true}}})),
        )
        .await;
    assert_eq!(status, 422, "{out}");
    assert!(
        out["error"]["message"].as_str().unwrap().contains("not found"),
        "{out}"
    );
    let (status, page) = s
        .call(
            &s.token,
            Method::GET,
            "/projects/default/workflows/payroll/executions",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        page["items"],
        json!([]),
        "nothing started in the victim's project"
    );
}

/// An operator who turns JSONata off gets definitions that use it
/// refused, with the reason, and JSONPath ones accepted.
async fn jsonata_turned_off_is_refused(db: Db) {
    let s = Server::start_with(db, &["--workflow-jsonata=false"]).await;
    let jsonata = json!({"StartAt": "A",
        "States": {"A": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% 1 %}", "End": true}}});
    let (status, body) = put_workflow(&s, "jsonata", jsonata).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_definition")),
        "{body}"
    );
    assert!(body.to_string().contains("JSONata is turned off"), "{body}");
    let jsonpath = json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}});
    let (status, body) = put_workflow(&s, "jsonpath", jsonpath).await;
    assert_eq!(status, 201, "{body}");
}

/// A tenant's JSONata runs bounded, in worker processes (on by default):
/// an expression that recurses without end, one that builds a huge range,
/// one that doubles a string, one that names a huge shared result and two
/// that ask for gigabytes in one allocation (which ends their worker) fail
/// their executions with `States.QueryEvaluationError`; the server answers
/// other requests meanwhile, and JSONata still works after them (a new
/// worker replaces each that ended).
async fn jsonata_cannot_hold_the_engine(db: Db) {
    let s = Server::start(db).await;
    let cases = [
        ("recurse", "{% ( $f := function($x) { $f($x + 1) }; $f(0) ) %}"),
        ("range", "{% [1..100000000] %}"),
        (
            "double",
            "{% ( $d := function($s, $n) { $n = 0 ? $s : $d($s & $s, $n - 1) }; $length($d('xx', 40)) ) %}",
        ),
        // A small expression naming a huge shared result.
        ("shared", "{% ( $s := $pad('', 100000); [1..999999].$s ) %}"),
        // Gigabytes asked for at once: more than a worker may have.
        ("pad", "{% $length($pad('x', 3000000000)) %}"),
        ("join", "{% $length($join([1..900000].$pad('', 10000))) %}"),
    ];
    for (name, expression) in cases {
        let definition = json!({"QueryLanguage": "JSONata", "StartAt": "Spin",
            "States": {"Spin": {"Type": "Pass", "Output": expression, "End": true}}});
        let (status, body) = put_workflow(&s, name, definition).await;
        assert_eq!(status, 201, "{body}");
    }
    let started: Vec<(String, String)> = {
        let mut ids = Vec::new();
        for (name, _) in cases {
            let row = start(&s, name, json!({})).await;
            ids.push((name.to_owned(), row["id"].as_str().unwrap().to_owned()));
        }
        ids
    };
    // The API keeps answering while the expressions run.
    let (status, _) = s
        .call(&s.token, Method::GET, "/projects/default/workflows", None)
        .await;
    assert_eq!(status, 200);
    for (name, id) in started {
        let done = crate::workflows::ended(&s, &name, &id, std::time::Duration::from_secs(30)).await;
        assert_eq!(
            (done["status"].as_str(), done["error"].as_str()),
            (Some("FAILED"), Some("States.QueryEvaluationError")),
            "{name}: {done}"
        );
        if name == "pad" {
            let cause = done["cause"].as_str().unwrap_or_default();
            assert!(cause.contains("ended its evaluator"), "{cause}");
        }
    }
    // After all of them, JSONata still works.
    let definition = json!({"QueryLanguage": "JSONata", "StartAt": "Sum",
        "States": {"Sum": {"Type": "Pass", "Output": "{% $sum([1..10]) %}", "End": true}}});
    let (status, body) = put_workflow(&s, "after", definition).await;
    assert_eq!(status, 201, "{body}");
    let done = crate::workflows::start_sync(&s, "after", json!({})).await;
    assert_eq!(
        (done["status"].as_str(), &done["output"]),
        (Some("SUCCEEDED"), &json!(55)),
        "{done}"
    );
}
