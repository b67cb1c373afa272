//! The States Language, state type by state type and field by field, as
//! data: every file of `tests/scenarios/workflows/` (its README says the
//! format) is a workflow run end to end through the API with
//! `start-sync`, its tasks played by the `steps` guest deployed under each
//! function name with the case's behaviour as its config.

use futures::StreamExt;
use minicloud_tests::{Db, Server, guests};
use reqwest::Method;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

crate::on_both_databases!(workflow_cases);

/// Executions running at once: the cases' waits and retry intervals
/// overlap instead of adding up.
const AT_ONCE: usize = 8;

const CASE_KEYS: [&str; 6] = ["name", "comment", "definition", "input", "functions", "expected"];
const EXPECTED_KEYS: [&str; 5] = ["status", "output", "error", "cause", "min_seconds"];

/// One file of the folder.
struct Case {
    /// Its path, from the crate's folder: failures name it.
    file: String,
    name: String,
    definition: Value,
    input: Value,
    functions: Map<String, Value>,
    expected: Map<String, Value>,
}

/// Every case, in file order; a file that does not follow the format
/// fails the test before anything runs.
fn load() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/workflows");
    let mut paths: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let cases: Vec<Case> = paths.iter().map(|p| parse(p)).collect();
    assert!(cases.len() >= 50, "cases missing in {}", root.display());
    cases
}

fn parse(path: &Path) -> Case {
    let file = format!(
        "tests/scenarios/workflows/{}",
        path.file_name().unwrap().to_string_lossy()
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut case: Map<String, Value> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let keys: Vec<&String> = case.keys().collect();
    assert!(
        keys.iter().all(|k| CASE_KEYS.contains(&k.as_str())) && keys.len() == CASE_KEYS.len(),
        "{file}: a case has exactly the keys {CASE_KEYS:?}, not {keys:?}"
    );
    let mut take = |key: &str| case.remove(key).unwrap();
    let name = take("name").as_str().unwrap_or_default().to_owned();
    let stem = path.file_stem().unwrap().to_string_lossy();
    assert_eq!(name, stem, "{file}: `name` is the file's name");
    let Value::Object(functions) = take("functions") else {
        panic!("{file}: `functions` is an object");
    };
    let Value::Object(expected) = take("expected") else {
        panic!("{file}: `expected` is an object");
    };
    assert!(
        expected.keys().all(|k| EXPECTED_KEYS.contains(&k.as_str())) && expected["status"].is_string(),
        "{file}: `expected` has a `status` and no keys but {EXPECTED_KEYS:?}"
    );
    Case {
        file,
        name,
        definition: take("definition"),
        input: take("input"),
        functions,
        expected,
    }
}

/// Each function name once, with its behaviour. A name that two cases
/// give different behaviours is refused: one deployment cannot play both.
fn functions(cases: &[Case]) -> BTreeMap<&str, (&Value, &str)> {
    let mut all: BTreeMap<&str, (&Value, &str)> = BTreeMap::new();
    for case in cases {
        for (name, behaviour) in &case.functions {
            if let Some((other, file)) = all.get(name.as_str()) {
                assert!(
                    *other == behaviour,
                    "function {name} has one behaviour in {file} and another in {}: \
                     give each case's functions their own names",
                    case.file
                );
                continue;
            }
            all.insert(name, (behaviour, &case.file));
        }
    }
    all
}

async fn workflow_cases(db: Db) {
    let cases = load();
    // The JSONata cases need the query language turned on.
    let s = Server::start(db).await;
    s.put_role(
        "steps",
        json!([{"Effect": "Allow", "Action": "kv:*", "Resource": "mrn:kv:*:*:bucket/steps*"}]),
    )
    .await;
    let start = Instant::now();
    for (name, (behaviour, _)) in functions(&cases) {
        s.deploy_with(name, "?role=steps", guests::STEPS).await;
        // `function` names the guest's run counter of a `sequence`.
        s.patch(
            name,
            json!({"config": {"behaviour": behaviour.to_string(), "function": name}}),
        )
        .await;
    }
    let deployed = start.elapsed();
    let failures: Vec<String> = futures::stream::iter(&cases)
        .map(|case| run(&s, case))
        .buffer_unordered(AT_ONCE)
        .filter_map(|outcome| async move { outcome.err() })
        .collect()
        .await;
    eprintln!(
        "{} workflow cases on {db:?}: functions deployed in {deployed:.1?}, cases run in {:.1?}",
        cases.len(),
        start.elapsed() - deployed
    );
    assert!(
        failures.is_empty(),
        "{} of {} workflow cases failed on {db:?}:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// Creates the case's workflow and runs it to its end: a description of
/// what differs from the expectation, if anything does.
async fn run(s: &Server, case: &Case) -> Result<(), String> {
    let (status, body) = crate::workflows::put_workflow(s, &case.name, case.definition.clone()).await;
    if status != 201 {
        return Err(format!(
            "{}: the definition was refused ({status}): {body}",
            case.file
        ));
    }
    let (status, got) = s
        .call(
            &s.token,
            Method::POST,
            &format!("/projects/default/workflows/{}/start-sync", case.name),
            Some(json!({ "input": case.input })),
        )
        .await;
    if status != 200 {
        return Err(format!("{}: start-sync answered {status}: {got}", case.file));
    }
    let lasted_ms = got["stopped_ms"].as_i64().unwrap_or(i64::MAX) - got["started_ms"].as_i64().unwrap_or(0);
    let mut differs: Vec<&str> = ["status", "output", "error", "cause"]
        .into_iter()
        .filter(|k| case.expected.get(*k).is_some_and(|want| !same(want, &got[*k])))
        .collect();
    if let Some(min) = case.expected.get("min_seconds").and_then(Value::as_f64)
        && (lasted_ms as f64) < min * 1000.0
    {
        differs.push("min_seconds");
    }
    if differs.is_empty() {
        return Ok(());
    }
    let shown = json!({
        "status": got["status"],
        "output": got["output"],
        "error": got["error"],
        "cause": got["cause"],
        "lasted_ms": lasted_ms,
    });
    Err(format!(
        "{}: {} not as expected\n  expected: {}\n  got:      {shown}",
        case.file,
        differs.join(", "),
        Value::Object(case.expected.clone())
    ))
}

/// Deep equality where numbers compare by value: `1` and `1.0` are the
/// same JSON number to the States Language.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}
