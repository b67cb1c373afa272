//! The API's OpenAPI 3.1 description: served without credentials, valid
//! (`openapi-spec-validator`), describing routes the server has (every
//! operation reaches a handler, none falls through to "no route"), and
//! holding up under schemathesis: generated requests on every operation,
//! no 5xx, every answer as described. The other direction (no route
//! without a description) is `http::api::openapi::tests`.

use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;

mod described_routes {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::every_described_operation_is_served(minicloud_tests::Db::Sqlite).await
    }
}

mod schemathesis {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::generated_requests_get_described_answers(minicloud_tests::Db::Sqlite).await
    }
}

/// The document, fetched without credentials.
async fn document(s: &Server) -> Value {
    let resp = s
        .http
        .get(format!("{}/api/v1/openapi.json", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    resp.json().await.unwrap()
}

/// Runs `python3 args` (a tool scripts/tools.sh installs) to its end, in
/// a folder of its own (schemathesis leaves files where it runs).
async fn python(args: &[&str], what: &str) -> std::process::Output {
    let folder = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new("python3")
        .args(args)
        .current_dir(folder.path())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .unwrap_or_else(|_| panic!("{what} did not end in 10 minutes"))
        .unwrap_or_else(|e| panic!("python3 does not run ({e}): {what} needs it"))
}

fn missing(out: &std::process::Output, module: &str) -> bool {
    String::from_utf8_lossy(&out.stderr).contains(&format!("No module named {module}"))
}

async fn every_described_operation_is_served(db: Db) {
    let s = Server::start(db).await;
    let doc = document(&s).await;
    assert_eq!(doc["openapi"], "3.1.0");

    // Valid OpenAPI 3.1.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(&doc).unwrap()).unwrap();
    let out = python(
        &["-m", "openapi_spec_validator", file.path().to_str().unwrap()],
        "openapi-spec-validator",
    )
    .await;
    assert!(
        !missing(&out, "openapi_spec_validator"),
        "openapi-spec-validator is not installed: run scripts/tools.sh"
    );
    assert!(
        out.status.success(),
        "the document does not validate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Every operation reaches a handler: its answer is the handler's
    // (often 400 or 404 for the made-up names), never the router's "no
    // route" nor 405.
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x1" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            operations += 1;
            assert!(
                op["responses"]["default"]["content"]["application/json"].is_object(),
                "{method} {path}: errors are described"
            );
            let mut req = s.authed(method.clone(), &format!("{}{concrete}", s.url));
            if op["requestBody"].is_object() {
                req = req.json(&json!({}));
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            assert_ne!(status, 405, "{method} {path}: {body}");
            assert!(
                !(status == 404 && body.contains("no route for")),
                "{method} {path} is described but not served: {body}"
            );
        }
    }
    assert!(operations > 90, "{operations} operations described");

    // The interactive documentation, from the binary's own assets.
    let ui = s.http.get(format!("{}/api/docs/", s.url)).send().await.unwrap();
    assert_eq!(ui.status(), 200);
    assert_eq!(ui.headers()["x-frame-options"], "DENY");
    assert!(ui.text().await.unwrap().contains("swagger"), "Swagger UI");
}

/// schemathesis (scripts/tools.sh installs it) against a live server with
/// the admin's token: a bounded number of generated requests per
/// operation, a fixed seed (so a failure reproduces; `scripts/bench.sh`
/// runs 200 examples with a new seed).
async fn generated_requests_get_described_answers(db: Db) {
    let s = Server::start(db).await;
    // Something to find: a function, a bucket with an object, a rule.
    s.deploy("hello", guests::HELLO).await;
    s.create_bucket("docs").await;
    let (status, _) = s
        .call(
            &s.token,
            Method::POST,
            "/projects/default/rules",
            Some(json!({"name": "r", "sources": {"api": true}, "pattern": {"source": ["shop"]}, "targets": [{"function": "hello"}]})),
        )
        .await;
    assert_eq!(status, 201);
    // The test command's bounded run; scripts/bench.sh asks for more
    // examples and new seeds.
    let examples = std::env::var("MINICLOUD_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "15".into());
    let seed = std::env::var("MINICLOUD_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261204".into());
    let report = tempfile::tempdir().unwrap();
    let auth = format!("Authorization: Bearer {}", s.token);
    let schema = format!("{}/api/v1/openapi.json", s.url);
    let mut args = vec![
        "-c",
        "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'st'; schemathesis()",
        "run",
        &schema,
        "--url",
        &s.url,
        "-H",
        &auth,
        "--max-examples",
        &examples,
    ];
    if seed != "random" {
        args.extend(["--seed", &seed]);
    }
    let report_dir = report.path().to_str().unwrap().to_owned();
    args.extend([
        "--phases",
        "examples,coverage,fuzzing",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        // Rotating the signing keys ends every session: not a thing to
        // repeat hundreds of times in a row. And the calls that would
        // take the fuzzer's own access away (its user, its key, its role's
        // policies, its org) end the run's meaning: the IAM tests cover
        // them. (Its Administrator binding is refused to everyone.)
        "--exclude-path",
        "/api/v1/auth/signing-keys/rotate",
        "--exclude-operation-id-regex",
        r"^(iam\.(delete_user|revoke_key|detach_policy|delete_role)|orgs\.delete_org)$",
        // One worker: hypothesis's source inspection is not safe across
        // threads on this Python ("AST constructor recursion depth
        // mismatch" in a run with two).
        "--workers",
        "1",
        "--no-color",
        "--generation-database",
        "none",
        "--report-dir",
        &report_dir,
    ]);
    let out = python(&args, "schemathesis").await;
    assert!(
        !missing(&out, "schemathesis"),
        "schemathesis is not installed: run scripts/tools.sh"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    assert!(stdout.contains("passed"), "{stdout}");
}
