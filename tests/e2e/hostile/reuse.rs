//! Instance reuse between tenants: a warm instance's state stays with its
//! function (another org deploying the same bytes gets instances of its
//! own), and one tenant's idle warm instances cannot keep the node's
//! instance pool from another.

use super::tenant;
use minicloud_tests::{Db, Server, guests};
use reqwest::Method;

crate::on_both_databases!(warm_instances_stay_with_their_function);

const REUSE: &str = r#"{"reuse": {"max_requests": 1000, "max_concurrent": 1, "idle_timeout_ms": 600000}}"#;

/// `GET /fn/{project}/{name}/count`: the instance's request count.
async fn count(s: &Server, project: &str, name: &str) -> String {
    let resp = s
        .http
        .get(format!("{}/fn/{project}/{name}/count", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{project}/{name}");
    resp.headers()["x-instance-requests"].to_str().unwrap().to_owned()
}

/// Deploys faults-p3 as `project/name` with `token` and turns reuse on.
async fn warm(s: &Server, token: &str, project: &str, name: &str) {
    let resp = s.deploy_by(token, project, name, guests::FAULTS_P3).await;
    assert!(
        resp.status().is_success(),
        "deploy {project}/{name}: {}",
        resp.status()
    );
    let url = format!("{}/api/v1/projects/{project}/functions/{name}", s.url);
    let resp = s
        .as_token(token, Method::PATCH, &url)
        .header("content-type", "application/json")
        .body(REUSE)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "reuse on {project}/{name}");
}

async fn warm_instances_stay_with_their_function(db: Db) {
    // 8 slots: reused instances may hold 4 of them; every project may run
    // 8 instances at once.
    let s = Server::start_with(
        db,
        &[
            "--pool-instances",
            "8",
            "--project-quota",
            "concurrency=8",
            "--org-quota",
            "concurrency=8",
        ],
    )
    .await;
    let mallory = tenant(&s, "mallory", "heist").await;
    warm(&s, &s.token, "default", "ours").await;
    assert_eq!(count(&s, "default", "ours").await, "1");
    assert_eq!(count(&s, "default", "ours").await, "2");

    // The same bytes in another org, reused: instances of their own, which
    // neither see nor change ours.
    warm(&s, &mallory, "heist", "theirs").await;
    assert_eq!(count(&s, "heist", "theirs").await, "1");
    assert_eq!(count(&s, "default", "ours").await, "3");

    // Mallory keeps five functions warm and idle: past half of the pool,
    // the idle instances end (ours too, since it idles), rather than hold
    // the slots every tenant's fresh instances need.
    for i in 0..5 {
        let name = format!("warm{i}");
        warm(&s, &mallory, "heist", &name).await;
        assert_eq!(count(&s, "heist", &name).await, "1");
    }
    assert_eq!(
        count(&s, "default", "ours").await,
        "1",
        "idle instances ended when the pool crowded"
    );

    // Our fresh 0.3 instances (the engine whose pool reused ones share)
    // still find the half of the pool that reused ones cannot hold: four
    // at once, with four warm instances idle.
    s.deploy("hello-p3", guests::HELLO_P3).await;
    let calls = (0..4).map(|_| s.http.get(s.fn_url("hello-p3", "/")).send());
    for resp in futures::future::join_all(calls).await {
        assert_eq!(resp.unwrap().status(), 200);
    }
}
