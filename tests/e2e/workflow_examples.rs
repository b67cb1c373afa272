//! The workflow examples of `examples/`, run the way their READMEs say,
//! with the definitions read from the examples themselves: the deploy
//! approval, the travel saga and the order pipeline that a NATS subject
//! starts.

use super::rules::kv_bucket;
use super::workflows::{ended, execution_logs, history, put_workflow, start, start_sync};
use minicloud_tests::{Db, Server, eventually, guests, nats};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

crate::on_both_databases!(deploy_approval, travel_saga, order_pipeline);

const WAIT: Duration = Duration::from_secs(30);

/// An example's `workflow.json`.
fn definition(text: &str) -> Value {
    serde_json::from_str(text).expect("the example's workflow.json is JSON")
}

/// `PUT`s workflow `name` with `definition`, asserting it was accepted.
async fn put(s: &Server, name: &str, definition: Value) {
    let (status, body) = put_workflow(s, name, definition).await;
    assert_eq!(status, 201, "{body}");
}

/// The names of the states an execution entered, in order.
async fn states_entered(s: &Server, workflow: &str, id: &str) -> Vec<String> {
    history(s, workflow, id)
        .await
        .iter()
        .filter(|e| e["type"].as_str().is_some_and(|t| t.ends_with("StateEntered")))
        .map(|e| e["details"]["state"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// `examples/deploy-approval`: dev asks, ann approves one release and
/// rejects another; the token alone lets nobody answer.
async fn deploy_approval(db: Db) {
    let s = Server::start(db).await;
    for b in ["builds", "live", "approvals"] {
        s.create_bucket(b).await;
    }
    s.put_role("deployer", json!([
        {"Effect": "Allow", "Action": "storage:GetObject", "Resource": "mrn:storage:*:*:bucket/builds/*"},
        {"Effect": "Allow", "Action": "storage:PutObject", "Resource": "mrn:storage:*:*:bucket/live/*"},
        {"Effect": "Allow", "Action": ["storage:PutObject", "storage:DeleteObject"], "Resource": "mrn:storage:*:*:bucket/approvals/*"}
    ]))
    .await;
    s.deploy_with("deploy-approval", "?role=deployer", guests::DEPLOY_APPROVAL)
        .await;
    put(
        &s,
        "deploy-approval",
        definition(include_str!("../../examples/deploy-approval/workflow.json")),
    )
    .await;
    let workflow = "mrn:workflows:*:*:workflow/deploy-approval";
    s.put_role("release-requester", json!([
        {"Effect": "Allow", "Action": ["workflows:StartExecution", "workflows:DescribeExecution", "workflows:GetExecutionHistory"], "Resource": workflow},
        {"Effect": "Allow", "Action": "storage:PutObject", "Resource": "mrn:storage:*:*:bucket/builds/*"}
    ]))
    .await;
    s.put_role("release-approver", json!([
        {"Effect": "Allow", "Action": ["workflows:SendTaskSuccess", "workflows:SendTaskFailure"], "Resource": workflow},
        {"Effect": "Allow", "Action": ["storage:ListBucket", "storage:GetObject"],
         "Resource": ["mrn:storage:*:*:bucket/approvals", "mrn:storage:*:*:bucket/approvals/*"]}
    ]))
    .await;
    let dev = s.user_token("dev", "release-requester", Some("default")).await;
    let ann = s.user_token("ann", "release-approver", Some("default")).await;

    // A release without a build fails before anyone is asked.
    let executions = "/projects/default/workflows/deploy-approval/executions";
    let ask = |name: &str, version: &str| json!({"name": name, "input": {"site": "www", "version": version, "requested_by": "dev"}});
    let (status, row) = s
        .call(&dev, Method::POST, executions, Some(ask("www-v9", "v9")))
        .await;
    assert_eq!(status, 201, "{row}");
    let row = ended(&s, "deploy-approval", "www-v9", WAIT).await;
    assert_eq!(
        (row["status"].as_str(), row["error"].as_str()),
        (Some("FAILED"), Some("Deploy.BuildMissing")),
        "{row}"
    );

    for (version, page) in [("v2", "<h1>v2</h1>"), ("v3", "<h1>v3</h1>")] {
        let resp = s
            .as_token(
                &dev,
                Method::PUT,
                &s.api(&format!("/buckets/builds/objects/www/{version}/index.html")),
            )
            .body(page)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let (status, row) = s
            .call(
                &dev,
                Method::POST,
                executions,
                Some(ask(&format!("www-{version}"), version)),
            )
            .await;
        assert_eq!(status, 201, "{row}");
    }

    // ann finds both requests on the pending list, with their tokens.
    let pending = eventually(WAIT, || async {
        let (status, page) = s
            .call(
                &ann,
                Method::GET,
                "/projects/default/buckets/approvals/objects?prefix=pending/",
                None,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        (page["items"].as_array()?.len() == 2).then_some(page)
    })
    .await
    .expect("both requests were filed");
    let token_of = |execution: &str| {
        let (s, ann) = (&s, &ann);
        let key = format!("/buckets/approvals/objects/pending/{execution}.json");
        async move {
            let request: Value = s
                .as_token(ann, Method::GET, &s.api(&key))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(request["requested_by"], "dev", "{request}");
            request["token"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(pending["items"][0]["key"], "pending/www-v2.json", "{pending}");
    let (v2, v3) = (token_of("www-v2").await, token_of("www-v3").await);

    // The requester holds the token (it is in the history too) and still
    // may not approve their own release.
    let (status, body) = s
        .call(
            &dev,
            Method::POST,
            "/task-tokens/success",
            Some(json!({"token": v2, "output": {"approved_by": "dev"}})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = s
        .call(
            &ann,
            Method::POST,
            "/task-tokens/success",
            Some(json!({"token": v2, "output": {"approved_by": "ann"}})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = s
        .call(
            &ann,
            Method::POST,
            "/task-tokens/failure",
            Some(json!({"token": v3, "error": "Deploy.Rejected", "cause": "not before the launch"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");

    let approved = ended(&s, "deploy-approval", "www-v2", WAIT).await;
    assert_eq!(approved["status"], "SUCCEEDED", "{approved}");
    assert_eq!(
        approved["output"]["release"],
        json!({"site": "www", "version": "v2", "files": 1})
    );
    assert_eq!(approved["output"]["approval"], json!({"approved_by": "ann"}));
    let live = s
        .authed(Method::GET, &s.api("/buckets/live/objects/www/index.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.headers()["x-minicloud-meta-version"], "v2");
    assert_eq!(live.text().await.unwrap(), "<h1>v2</h1>");
    let rejected = ended(&s, "deploy-approval", "www-v3", WAIT).await;
    assert_eq!(
        (
            rejected["status"].as_str(),
            rejected["error"].as_str(),
            rejected["cause"].as_str()
        ),
        (
            Some("FAILED"),
            Some("Deploy.Rejected"),
            Some("not before the launch")
        ),
        "{rejected}"
    );
    assert_eq!(
        states_entered(&s, "deploy-approval", "www-v3").await,
        ["RequestApproval", "Withdraw", "NotReleased"]
    );
    // Both requests are off the list; the story of the release is in its
    // logs, read by the requester.
    let (_, page) = s
        .call(
            &ann,
            Method::GET,
            "/projects/default/buckets/approvals/objects",
            None,
        )
        .await;
    assert_eq!(page["items"], json!([]), "{page}");
    let messages = execution_logs(&s, &dev, "deploy-approval", "www-v2", 2).await;
    assert_eq!(
        messages,
        ["dev asks to release www v2", "www v2 is live, approved by ann"]
    );

    // The audit trail names who answered, and who was refused.
    let (_, audit) = s
        .call(
            &s.token,
            Method::GET,
            "/orgs/default/audit?action=workflows:SendTaskSuccess",
            None,
        )
        .await;
    let answers: Vec<(&str, i64)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["actor_name"].as_str().unwrap_or_default(),
                r["outcome"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(answers, [("ann", 202), ("dev", 403)], "{audit}");
}

/// `examples/travel-saga`: a trip that books, and one whose car is sold
/// out, so the hotel and then the flight are cancelled.
async fn travel_saga(db: Db) {
    let s = Server::start(db).await;
    s.put_role(
        "travel",
        json!([{"Effect": "Allow", "Action": "kv:*", "Resource": "mrn:kv:*:*:bucket/bookings/*"}]),
    )
    .await;
    s.deploy_with("travel-saga", "?role=travel", guests::TRAVEL_SAGA)
        .await;
    s.patch("travel-saga", json!({"config": {"sold_out": "car/convertible"}}))
        .await;
    put(
        &s,
        "travel",
        definition(include_str!("../../examples/travel-saga/workflow.json")),
    )
    .await;
    let trip = |name: &str, car: &str| {
        json!({"name": name, "input": {"trip": name, "flight": {"from": "BER", "to": "LIS"},
                                         "hotel": {"nights": 3}, "car": {"class": car}}})
    };

    let booked = start_sync(&s, "travel", trip("lisbon-1", "compact")).await;
    assert_eq!(booked["status"], "SUCCEEDED", "{booked}");
    let references: Vec<&str> = ["flight", "hotel", "car"]
        .iter()
        .map(|k| {
            booked["output"]["bookings"][k]["reference"]
                .as_str()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        references,
        ["FLIGHT-00001", "HOTEL-00002", "CAR-00003"],
        "{booked}"
    );

    let row = start(&s, "travel", trip("lisbon-2", "convertible")).await;
    let failed = ended(&s, "travel", row["id"].as_str().unwrap(), WAIT).await;
    assert_eq!(
        (
            failed["status"].as_str(),
            failed["error"].as_str(),
            failed["cause"].as_str()
        ),
        (
            Some("FAILED"),
            Some("Trip.NotBooked"),
            Some("no convertible car left for trip lisbon-2")
        ),
        "{failed}"
    );
    // Compensations in reverse order: a sold-out car is not retried.
    assert_eq!(
        states_entered(&s, "travel", "lisbon-2").await,
        [
            "BookFlight",
            "BookHotel",
            "BookCar",
            "CancelHotel",
            "CancelFlight",
            "NotBooked"
        ]
    );
    assert_eq!(
        execution_logs(&s, &s.token, "travel", "lisbon-2", 5).await,
        [
            "lisbon-2/flight: booked FLIGHT-00004",
            "lisbon-2/hotel: booked HOTEL-00005",
            "lisbon-2/car: no convertible car left",
            "lisbon-2/hotel: cancelled \"HOTEL-00005\"",
            "lisbon-2/flight: cancelled \"FLIGHT-00004\"",
        ]
    );
    let bookings = kv_bucket(&s, "bookings").await;
    let status_of = |key: &str| {
        let booking: Value = serde_json::from_str(&bookings[key]).unwrap();
        booking["status"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        ["lisbon-1/car", "lisbon-2/flight", "lisbon-2/hotel"].map(status_of),
        ["booked", "cancelled", "cancelled"]
    );
    assert!(!bookings.contains_key("lisbon-2/car"), "{bookings:?}");
}

/// `examples/order-pipeline`: orders published on a NATS subject start the
/// workflow through a rule; one is confirmed, one is out of stock.
async fn order_pipeline(db: Db) {
    let stream = super::nats::unique("orders");
    let s = super::nats::start(db, &stream).await;
    s.put_role(
        "orders",
        json!([{"Effect": "Allow", "Action": "kv:*", "Resource": "mrn:kv:*:*:bucket/orders/*"}]),
    )
    .await;
    s.deploy_with("order-pipeline", "?role=orders", guests::ORDER_PIPELINE)
        .await;
    s.patch(
        "order-pipeline",
        json!({"config": {
        "prices": r#"{"tea": 450, "mug": 1200, "pot": 3900}"#,
        "stock": r#"{"tea": 100, "mug": 10, "pot": 1}"#,
        "max_order_cents": "50000"}}),
    )
    .await;
    put(
        &s,
        "orders",
        definition(include_str!("../../examples/order-pipeline/workflow.json")),
    )
    .await;
    let subject = format!("mc.default.{stream}.orders.created");
    let (status, body) = s
        .call(&s.token, Method::POST, "/projects/default/rules",
            Some(json!({"name": "new-orders", "sources": {"subjects": [subject]}, "targets": [{"workflow": "orders"}]})))
        .await;
    assert_eq!(status, 201, "{body}");

    let js = async_nats::jetstream::new(nats().await);
    let orders = [
        json!({"id": "o-1", "customer": "ada", "items": [{"sku": "tea", "qty": 2}, {"sku": "mug", "qty": 1}, {"sku": "tea", "qty": 1}]}),
        json!({"id": "o-2", "customer": "bob", "items": [{"sku": "pot", "qty": 2}]}),
        json!({"id": "o-3", "customer": "cy", "items": [{"sku": "tea", "qty": 0}]}),
    ];
    for order in &orders {
        js.publish(subject.clone(), order.to_string().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let ended_all = eventually(WAIT, || async {
        let (status, page) = s
            .call(
                &s.token,
                Method::GET,
                "/projects/default/workflows/orders/executions?limit=10",
                None,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array()?.clone();
        (items.len() == 3 && items.iter().all(|e| e["status"] != "RUNNING")).then_some(items)
    })
    .await
    .expect("three executions started from the subject, and ended");
    let by_order = |id: &str| {
        let found = ended_all.iter().find(|e| e["input"]["detail"]["id"] == id);
        found
            .cloned()
            .unwrap_or_else(|| panic!("no execution of order {id}: {ended_all:?}"))
    };

    let confirmed = by_order("o-1");
    assert_eq!(confirmed["status"], "SUCCEEDED", "{confirmed}");
    assert_eq!(
        confirmed["output"],
        json!({"order_id": "o-1", "total_cents": 2550, "lines": 3, "subject": subject})
    );
    let entered = states_entered(&s, "orders", confirmed["id"].as_str().unwrap()).await;
    let count = |state: &str| entered.iter().filter(|e| *e == state).count();
    assert_eq!(
        [
            "Receive",
            "Validate",
            "Checks",
            "Stock",
            "Fraud",
            "Price",
            "PriceLine",
            "Confirm",
            "Confirmed"
        ]
        .map(count),
        [1, 1, 1, 1, 1, 1, 3, 1, 1],
        "{entered:?}"
    );
    let recorded: Value = serde_json::from_str(&kv_bucket(&s, "orders").await["o-1"]).unwrap();
    assert_eq!(recorded["total_cents"], 2550);

    for (order, error, cause) in [
        ("o-2", "Order.OutOfStock", "not enough pot"),
        ("o-3", "Order.Invalid", "tea has quantity 0"),
    ] {
        let row = by_order(order);
        assert_eq!(
            (
                row["status"].as_str(),
                row["error"].as_str(),
                row["cause"].as_str()
            ),
            (Some("FAILED"), Some(error), Some(cause)),
            "{row}"
        );
    }
    super::nats::drop_stream(&stream).await;
}
