//! Property tests over the parsers that take tenant input: event patterns,
//! input transforms, route paths, host names, NATS subjects and object
//! keys. Whatever a tenant writes, parsing and then using the result must
//! neither panic nor grow without bound. The test command runs a short
//! pass; `PROPTEST_CASES=100000 cargo test -p minicloud-controlplane fuzz`
//! runs a long one.

use crate::events::pattern::Pattern;
use crate::events::transform::{Context, InputTransform};
use crate::services::routes::table::{RouteTable, project_of_host};
use crate::store::routes::RouteRow;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Strings that stress the parsers: operator names, wildcards, path and
/// template syntax, escapes, Unicode.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z]{0,6}",
        "[*?$.{}<>/\\\\:\\[\\] a-z0-9\"-]{0,24}",
        "\\PC{0,12}",
        prop::sample::select(vec![
            "prefix",
            "suffix",
            "anything-but",
            "numeric",
            "exists",
            "cidr",
            "wildcard",
            "equals-ignore-case",
            "$or",
            "detail",
            "source",
            "$.detail",
            "$.detail[0]",
            "<aws.events.event>",
            "<x>",
            "10.0.0.0/8",
            "::1/128",
            "**",
            "\\*",
            ">",
            "*",
        ])
        .prop_map(str::to_owned),
    ]
}

/// JSON of any shape, biased toward the shapes patterns and templates use.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn route(project: String, method: String, path: String) -> RouteRow {
    RouteRow {
        id: String::new(),
        project_id: String::new(),
        project,
        method,
        path,
        function: "f".into(),
        auth: None,
        created_ms: 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_event_patterns(pattern in json_value(), event in json_value()) {
        if let Ok(p) = Pattern::from_value(&pattern) {
            let _ = p.matches(&event);
        }
        let _ = Pattern::parse(&pattern.to_string());
    }

    #[test]
    fn fuzz_input_transforms(spec in json_value(), template in text(), event in json_value()) {
        let ctx = Context { rule_name: "r", idempotency_key: "k", ingestion_time: "t" };
        for candidate in [spec.clone(), json!({"template": template, "paths": spec}), json!({"path": template})] {
            if let Ok(t) = InputTransform::compile(&candidate)
                && let Ok(out) = t.apply(&event, ctx)
            {
                prop_assert!(out.len() <= crate::events::transform::MAX_INPUT_BYTES);
            }
        }
    }

    #[test]
    fn fuzz_routes(paths in prop::collection::vec((0..3usize, text()), 0..12), host in text()) {
        let rows: Vec<RouteRow> = paths
            .into_iter()
            .map(|(p, path)| route(format!("p{p}"), "GET".into(), format!("/{path}")))
            .collect();
        if let Ok(table) = RouteTable::build(&rows, &[]) {
            for r in &rows {
                let _ = table.find(&r.project, "GET", &r.path);
            }
        }
        if let Some(project) = project_of_host(&host, "localhost") {
            prop_assert!(!project.contains('.') && !project.is_empty());
        }
        let _ = project_of_host(&format!("{host}.localhost:80"), "localhost");
    }

    #[test]
    fn fuzz_subjects_and_keys(subject in text(), key in text()) {
        let _ = crate::events::rules::check_subject(&subject, true);
        let _ = crate::events::rules::subject_matches(&subject, "mc.a.b");
        if minicloud_runtime::names::check_key(&key).is_ok() {
            prop_assert!(!key.split('/').any(|s| s.is_empty() || s == ".." || s == "."));
        }
    }
}
