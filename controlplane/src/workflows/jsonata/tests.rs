//! The pool against workers that misbehave, played by shell scripts: one
//! that never answers, one that reads nothing, one that dies. Each fails
//! the evaluation with `States.QueryEvaluationError` by its deadline, and
//! the pool stays usable. A worker killed from outside, or none that can
//! start, is the host's failure, not the expression's. (The real worker is
//! tested end to end, in `tests/e2e/hostile/workflows.rs`.)

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use minicloud_asl::errors::QUERY_EVALUATION_ERROR;
use minicloud_asl::jsonata::{Env, Request, States, Template};
use serde_json::{Map, Value, json};

use super::{GRACE, JsonataWorkers, Unanswered};

/// A worker played by `script` (shell), written in a fresh folder.
fn scripted(folder: &Path, name: &str, script: &str) -> JsonataWorkers {
    use std::os::unix::fs::PermissionsExt;
    let path: PathBuf = folder.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("the script is written");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("the script is made runnable");
    JsonataWorkers::new(path, 64)
}

/// Evaluates `{% 1 %}` with `input` as `$states.input` and a 100 ms limit:
/// the failure, which must be the expression's, and how long it took.
fn evaluate(workers: &JsonataWorkers, input: &Value) -> (minicloud_asl::Failure, Duration) {
    let (unanswered, took) = unanswered(workers, input);
    match unanswered {
        Unanswered::Failed(failure) => (failure, took),
        Unanswered::Host(failure) => panic!("the host's failure, not the expression's: {failure:?}"),
    }
}

/// The same, failed for whichever reason.
fn unanswered(workers: &JsonataWorkers, input: &Value) -> (Unanswered, Duration) {
    let mut problems = Vec::new();
    let template = Template::parse(&json!("{% 1 %}"), "$.Output", &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    let (context, variables) = (json!({}), Map::new());
    let states = States {
        input,
        result: None,
        error_output: None,
        context: &context,
    };
    let env = Env {
        timeout: Duration::from_millis(100),
        ..Env::new(states, &variables)
    };
    let started = Instant::now();
    let unanswered = workers
        .evaluate(&Request::new(&template, &env, "Output"))
        .expect_err("a worker that misbehaves gives no value");
    let (Unanswered::Failed(failure) | Unanswered::Host(failure)) = &unanswered;
    assert_eq!(failure.error, QUERY_EVALUATION_ERROR, "{failure:?}");
    (unanswered, started.elapsed())
}

/// The evaluation came back rather than hanging: a guard, not a speed
/// figure, so the bound is far above the deadline (0.6 s, twice with the
/// retry on a fresh worker) to hold on a loaded machine.
fn bounded(took: Duration) {
    assert!(took < (Duration::from_millis(100) + GRACE) * 20, "took {took:?}");
}

#[test]
fn a_worker_that_never_answers_is_killed_at_its_deadline() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let workers = scripted(folder.path(), "silent", "cat > /dev/null");
    let (failure, took) = evaluate(&workers, &json!({}));
    assert!(failure.cause.contains("was stopped"), "{failure:?}");
    bounded(took);
    // Killed, not kept: the next evaluation starts another and fails alike.
    let (failure, _) = evaluate(&workers, &json!({}));
    assert!(failure.cause.contains("was stopped"), "{failure:?}");
}

#[test]
fn a_worker_that_reads_nothing_cannot_block_the_writer() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let workers = scripted(folder.path(), "deaf", "exec sleep 60");
    // Far more than a pipe holds: the write itself must stop at the
    // deadline.
    let big = json!({"text": "x".repeat(4 * 1024 * 1024)});
    let (failure, took) = evaluate(&workers, &big);
    assert!(failure.cause.contains("was stopped"), "{failure:?}");
    bounded(took);
}

#[test]
fn a_worker_that_dies_fails_the_evaluation_and_is_replaced() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let workers = scripted(folder.path(), "dying", "exit 3");
    let (failure, took) = evaluate(&workers, &json!({}));
    assert!(failure.cause.contains("ended its evaluator"), "{failure:?}");
    assert!(failure.cause.contains("64 MiB"), "{failure:?}");
    bounded(took);
    let (again, _) = evaluate(&workers, &json!({}));
    assert_eq!(again, failure);
}

#[test]
fn a_worker_that_aborts_is_the_expressions_failure() {
    // As a refused allocation ends the real worker.
    let folder = tempfile::tempdir().expect("a temporary folder");
    let workers = scripted(folder.path(), "aborting", "kill -ABRT $$");
    let (failure, _) = evaluate(&workers, &json!({}));
    assert!(failure.cause.contains("ended its evaluator"), "{failure:?}");
}

#[test]
fn a_worker_killed_from_outside_is_the_hosts_failure() {
    // As the out-of-memory killer or an operator ends it.
    let folder = tempfile::tempdir().expect("a temporary folder");
    for (name, signal) in [("killed", "KILL"), ("terminated", "TERM")] {
        let workers = scripted(folder.path(), name, &format!("kill -{signal} $$"));
        let (unanswered, took) = unanswered(&workers, &json!({}));
        let Unanswered::Host(failure) = unanswered else {
            panic!("{signal}: the expression's failure, not the host's: {unanswered:?}");
        };
        assert!(failure.cause.contains("ended its evaluator"), "{failure:?}");
        bounded(took);
    }
}

#[test]
fn a_worker_that_cannot_start_is_the_hosts_failure_after_retries() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let workers = JsonataWorkers::new(folder.path().join("missing"), 64);
    let (unanswered, took) = unanswered(&workers, &json!({}));
    let Unanswered::Host(failure) = unanswered else {
        panic!("the expression's failure, not the host's: {unanswered:?}");
    };
    assert!(failure.cause.contains("has no worker"), "{failure:?}");
    assert!(
        took >= Duration::from_millis(200),
        "two retries wait 100 ms each: {took:?}"
    );
}
