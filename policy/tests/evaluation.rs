//! Documents and decisions, through the public API, plus the laws that
//! hold for every input (explicit deny wins; allows only ever add).
#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]

use minicloud_policy::{Context, Decision, Policy, Request, evaluate, explain};
use proptest::prelude::*;
use serde_json::json;

fn policy(doc: serde_json::Value) -> Policy {
    Policy::from_value(&doc).unwrap_or_else(|e| panic!("valid policy expected: {e}"))
}

fn refused(doc: serde_json::Value) -> (String, String) {
    let e = Policy::from_value(&doc).expect_err("the document should be refused");
    (e.path, e.message)
}

fn decide(policies: &[(&str, &Policy)], action: &str, resource: &str, ctx: &Context) -> Decision {
    evaluate(
        policies.iter().map(|(n, p)| (*n, *p)),
        &Request {
            action,
            resource,
            context: ctx,
        },
    )
}

const HELLO: &str = "mrn:functions:acme:web:function/hello";

#[test]
fn statement_may_be_one_object_or_a_list() {
    let one = policy(json!({"Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": "functions:*", "Resource": "*"}}));
    let list = policy(json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Read", "Effect": "Allow", "Action": ["functions:Get*", "functions:List*"], "Resource": ["*"]},
        {"Effect": "Deny", "Action": "functions:DeleteFunction", "Resource": "*"}
    ]}));
    assert_eq!(one.statements().len(), 1);
    assert_eq!(list.statements().len(), 2);
    assert_eq!(list.statements()[0].sid(), Some("Read"));
}

#[test]
fn explicit_deny_beats_allow_beats_implicit_deny() {
    let ctx = Context::new();
    let allow = policy(json!({"Version": "2012-10-17",
        "Statement": {"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"}}));
    let deny = policy(json!({"Version": "2012-10-17",
        "Statement": {"Sid": "NoDelete", "Effect": "Deny", "Action": "functions:Delete*", "Resource": "*"}}));
    let both = [("admin", &allow), ("guard", &deny)];
    match decide(&both, "functions:DeleteFunction", HELLO, &ctx) {
        Decision::ExplicitDeny(r) => {
            assert_eq!((r.policy.as_str(), r.statement.as_str()), ("guard", "NoDelete"));
        }
        other => panic!("expected an explicit deny, got {other:?}"),
    }
    match decide(&both, "functions:GetFunction", HELLO, &ctx) {
        Decision::Allow(r) => assert_eq!((r.policy.as_str(), r.statement.as_str()), ("admin", "All")),
        other => panic!("expected allow, got {other:?}"),
    }
    assert_eq!(
        decide(&[("guard", &deny)], "functions:GetFunction", HELLO, &ctx),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(&[], "functions:GetFunction", HELLO, &ctx),
        Decision::ImplicitDeny
    );
}

#[test]
fn actions_ignore_case_and_resources_do_not() {
    let ctx = Context::new();
    let p = policy(json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow",
        "Action": "Functions:invoke*", "Resource": "mrn:functions:acme:web:function/Hello"}}));
    let set = [("p", &p)];
    assert!(
        decide(
            &set,
            "functions:InvokeFunction",
            "mrn:functions:acme:web:function/Hello",
            &ctx
        )
        .is_allowed()
    );
    assert!(
        !decide(
            &set,
            "functions:InvokeFunction",
            "mrn:functions:acme:web:function/hello",
            &ctx
        )
        .is_allowed()
    );
    assert!(
        !decide(
            &set,
            "functions:GetFunction",
            "mrn:functions:acme:web:function/Hello",
            &ctx
        )
        .is_allowed()
    );
}

#[test]
fn not_action_and_not_resource_invert_the_match() {
    let ctx = Context::new();
    let p = policy(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "NotResource": "mrn:functions:acme:*"}
    ]}));
    let set = [("p", &p)];
    assert!(decide(&set, "functions:GetFunction", HELLO, &ctx).is_allowed());
    assert_eq!(
        decide(&set, "iam:CreatePolicy", HELLO, &ctx),
        Decision::ImplicitDeny
    );
    assert!(matches!(
        decide(
            &set,
            "functions:GetFunction",
            "mrn:functions:other:web:function/x",
            &ctx
        ),
        Decision::ExplicitDeny(_)
    ));
}

#[test]
fn conditions_are_anded_across_operators_and_keys() {
    let p = policy(json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow",
    "Action": "functions:InvokeFunction", "Resource": "*",
    "Condition": {
        "IpAddress": {"mc:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]},
        "Bool": {"mc:SecureTransport": "true"},
        "StringEquals": {"mc:PrincipalType": "User", "mc:project": "web"}
    }}}));
    let set = [("p", &p)];
    let full = Context::new()
        .with("mc:SourceIp", "192.168.1.9")
        .with("mc:SecureTransport", "true")
        .with("mc:PrincipalType", "User")
        .with("mc:project", "web");
    assert!(decide(&set, "functions:InvokeFunction", HELLO, &full).is_allowed());
    for (key, value) in [
        ("mc:SourceIp", "172.16.0.1"),
        ("mc:SecureTransport", "false"),
        ("mc:PrincipalType", "ApiKey"),
        ("mc:project", "api"),
    ] {
        let changed = full.clone().with(key, value);
        assert!(
            !decide(&set, "functions:InvokeFunction", HELLO, &changed).is_allowed(),
            "{key}={value} should fail the condition"
        );
    }
}

#[test]
fn policy_variables_scope_resources_per_user() {
    let p = policy(json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow",
        "Action": "storage:*", "Resource": "mrn:storage:acme:${mc:project}:bucket/home/${mc:username}/*"}}));
    let set = [("home", &p)];
    let alice = Context::new()
        .with("mc:username", "alice")
        .with("mc:project", "web");
    assert!(
        decide(
            &set,
            "storage:GetObject",
            "mrn:storage:acme:web:bucket/home/alice/a.txt",
            &alice
        )
        .is_allowed()
    );
    assert!(
        !decide(
            &set,
            "storage:GetObject",
            "mrn:storage:acme:web:bucket/home/bob/a.txt",
            &alice
        )
        .is_allowed()
    );
    // Without a user name the variable is unresolved and matches nothing.
    let anonymous = Context::new().with("mc:project", "web");
    assert!(
        !decide(
            &set,
            "storage:GetObject",
            "mrn:storage:acme:web:bucket/home//a.txt",
            &anonymous
        )
        .is_allowed()
    );
    // In a 2008-10-17 document the same text is literal.
    let old = policy(json!({"Version": "2008-10-17", "Statement": {"Effect": "Allow",
        "Action": "storage:*", "Resource": "mrn:storage:acme:web:bucket/${mc:username}"}}));
    assert!(
        decide(
            &[("old", &old)],
            "storage:GetObject",
            "mrn:storage:acme:web:bucket/${mc:username}",
            &alice
        )
        .is_allowed()
    );
}

#[test]
fn invalid_documents_name_the_path_of_the_problem() {
    let cases = [
        (json!([]), "$"),
        (json!({"Statement": []}), "Statement"),
        (json!({"Version": "2012-10-17"}), "Statement"),
        (json!({"Version": "2020-01-01", "Statement": []}), "Version"),
        (json!({"Version": "2012-10-17", "Statment": []}), "Statment"),
        (
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*"}]}),
            "Statement[0]",
        ),
        (
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "allow", "Action": "*", "Resource": "*"}]}),
            "Statement[0].Effect",
        ),
        (
            json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Allow", "Action": ["functions:Get", "Invoke"], "Resource": "*"}]}),
            "Statement[1].Action[1]",
        ),
        (
            json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "NotAction": "iam:*", "Resource": "*"}]}),
            "Statement[0]",
        ),
        (
            json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}),
            "Statement[0].Principal",
        ),
        (
            json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*",
             "Condition": {"NumericLessThan": {"mc:n": "many"}}}]}),
            "Statement[0].Condition.NumericLessThan",
        ),
        (
            json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "mrn:f:o:p:x/${mc:username"}]}),
            "Statement[0].Resource",
        ),
        (
            json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Sid": "A", "Effect": "Deny", "Action": "*", "Resource": "*"}]}),
            "Statement[1].Sid",
        ),
    ];
    for (doc, path) in cases {
        let (got, message) = refused(doc.clone());
        assert_eq!(got, path, "wrong path for {doc} ({message})");
        assert!(!message.is_empty());
    }
    let huge = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"*","Resource":"{}"}}}}"#,
        "x".repeat(20_000)
    );
    assert!(Policy::parse(&huge).is_err());
    assert!(Policy::parse("{not json").is_err());
}

/// A random statement over a small vocabulary, so that matches happen.
fn statement() -> impl Strategy<Value = serde_json::Value> {
    let effect = prop_oneof![Just("Allow"), Just("Deny")];
    let action = prop_oneof![
        Just("*"),
        Just("functions:*"),
        Just("functions:Get*"),
        Just("functions:InvokeFunction"),
        Just("iam:*"),
    ];
    let resource = prop_oneof![
        Just("*"),
        Just("mrn:functions:acme:*"),
        Just("mrn:functions:acme:web:function/?ello"),
        Just("mrn:functions:other:*"),
    ];
    let not = any::<(bool, bool)>();
    let cond = prop_oneof![
        Just(json!(null)),
        Just(json!({"StringEquals": {"mc:username": "alice"}})),
        Just(json!({"StringNotEquals": {"mc:username": "alice"}})),
        Just(json!({"IpAddress": {"mc:SourceIp": "10.0.0.0/8"}})),
    ];
    (effect, action, resource, not, cond).prop_map(|(e, a, r, (na, nr), c)| {
        let mut s = json!({"Effect": e});
        s[if na { "NotAction" } else { "Action" }] = json!(a);
        s[if nr { "NotResource" } else { "Resource" }] = json!(r);
        if !c.is_null() {
            s["Condition"] = c;
        }
        s
    })
}

fn policies() -> impl Strategy<Value = Vec<Policy>> {
    prop::collection::vec(prop::collection::vec(statement(), 1..4), 0..4).prop_map(|docs| {
        docs.into_iter()
            .map(|statements| policy(json!({"Version": "2012-10-17", "Statement": statements})))
            .collect()
    })
}

fn request() -> impl Strategy<Value = (&'static str, &'static str, Context)> {
    let action = prop_oneof![
        Just("functions:GetFunction"),
        Just("functions:InvokeFunction"),
        Just("iam:CreatePolicy"),
    ];
    let resource = prop_oneof![Just(HELLO), Just("mrn:functions:other:web:function/x")];
    let ctx = (any::<bool>(), any::<bool>()).prop_map(|(alice, inside)| {
        let mut c = Context::new().with("mc:SourceIp", if inside { "10.1.2.3" } else { "8.8.8.8" });
        if alice {
            c.set("mc:username", "alice");
        }
        c
    });
    (action, resource, ctx)
}

proptest! {
    /// Removing an Allow statement never turns a denied request into an
    /// allowed one, and `explain` always agrees with `evaluate`.
    #[test]
    fn removing_an_allow_never_allows(ps in policies(), (action, resource, ctx) in request(), pick in any::<prop::sample::Index>()) {
        let named: Vec<(&str, &Policy)> = ps.iter().map(|p| ("p", p)).collect();
        let before = decide(&named, action, resource, &ctx);
        let req = Request { action, resource, context: &ctx };
        prop_assert_eq!(&explain(named.iter().copied(), &req).decision, &before);
        // Rebuild the documents without one Allow statement.
        let docs: Vec<serde_json::Value> = ps.iter().map(|p| p.document().clone()).collect();
        let allows: Vec<(usize, usize)> = docs.iter().enumerate().flat_map(|(d, doc)| {
            doc["Statement"].as_array().into_iter().flatten().enumerate()
                .filter(|(_, s)| s["Effect"] == "Allow").map(move |(i, _)| (d, i))
        }).collect();
        prop_assume!(!allows.is_empty());
        let (d, i) = allows[pick.index(allows.len())];
        let mut trimmed = docs.clone();
        trimmed[d]["Statement"].as_array_mut().unwrap().remove(i);
        let rebuilt: Vec<Policy> = trimmed.iter()
            .filter(|doc| !doc["Statement"].as_array().unwrap().is_empty())
            .map(|doc| policy(doc.clone())).collect();
        let after = decide(&rebuilt.iter().map(|p| ("p", p)).collect::<Vec<_>>(), action, resource, &ctx);
        if !before.is_allowed() {
            prop_assert!(!after.is_allowed(), "removing an Allow turned {:?} into {:?}", before, after);
        }
    }

    /// A deny that applies to everything decides every request, whatever
    /// else is attached and in whatever order.
    #[test]
    fn explicit_deny_always_wins(ps in policies(), (action, resource, ctx) in request(), at in 0usize..5) {
        let deny = policy(json!({"Version": "2012-10-17",
            "Statement": {"Sid": "Stop", "Effect": "Deny", "Action": "*", "Resource": "*"}}));
        let mut named: Vec<(&str, &Policy)> = ps.iter().map(|p| ("p", p)).collect();
        named.insert(at.min(named.len()), ("stop", &deny));
        let decision = decide(&named, action, resource, &ctx);
        prop_assert!(matches!(decision, Decision::ExplicitDeny(_)), "got {:?}", decision);
    }

    /// Adding an Allow-only policy never turns a deny-decided request into
    /// an allow, and never turns an allowed one into a deny.
    #[test]
    fn allows_only_add(ps in policies(), (action, resource, ctx) in request()) {
        let before = decide(&ps.iter().map(|p| ("p", p)).collect::<Vec<_>>(), action, resource, &ctx);
        let extra = policy(json!({"Version": "2012-10-17",
            "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}));
        let mut named: Vec<(&str, &Policy)> = ps.iter().map(|p| ("p", p)).collect();
        named.push(("extra", &extra));
        let after = decide(&named, action, resource, &ctx);
        match before {
            Decision::ExplicitDeny(_) => prop_assert!(matches!(after, Decision::ExplicitDeny(_))),
            _ => prop_assert!(after.is_allowed()),
        }
    }

    /// The order of policies never changes the outcome.
    #[test]
    fn order_does_not_matter(ps in policies(), (action, resource, ctx) in request()) {
        let forward: Vec<(&str, &Policy)> = ps.iter().map(|p| ("p", p)).collect();
        let backward: Vec<(&str, &Policy)> = ps.iter().rev().map(|p| ("p", p)).collect();
        let a = decide(&forward, action, resource, &ctx);
        let b = decide(&backward, action, resource, &ctx);
        prop_assert_eq!(a.is_allowed(), b.is_allowed());
        prop_assert_eq!(matches!(a, Decision::ExplicitDeny(_)), matches!(b, Decision::ExplicitDeny(_)));
    }
}

/// Policy documents as a tenant might write them, well-formed or not.
fn arbitrary_document() -> impl Strategy<Value = serde_json::Value> {
    let word = prop_oneof![
        "[a-zA-Z:*?$/{}]{0,16}",
        prop::sample::select(vec![
            "Allow",
            "Deny",
            "*",
            "functions:*",
            "mrn:storage:*:*:bucket/public/*",
            "${mc:username}",
            "${mc:PrincipalTag/team, 'none'}",
            "${",
            "StringLike",
            "ForAnyValue:StringEquals",
            "IpAddress",
            "10.0.0.0/8",
            "DateLessThan",
            "2024-01-01T00:00:00Z",
            "Null",
            "true",
        ])
        .prop_map(str::to_owned),
    ];
    let leaf = prop_oneof![
        word.clone().prop_map(serde_json::Value::String),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<bool>().prop_map(serde_json::Value::Bool),
        Just(serde_json::Value::Null),
    ];
    let value = leaf.prop_recursive(4, 48, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "Effect",
                    "Action",
                    "NotAction",
                    "Resource",
                    "NotResource",
                    "Condition",
                    "Sid",
                    "StringEquals",
                    "StringLike",
                    "mc:username",
                    "aws:SourceIp",
                    "Principal",
                ]),
                inner,
                0..5
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    });
    (
        prop::sample::select(vec!["2012-10-17", "2008-10-17", "1999"]),
        value,
    )
        .prop_map(|(version, statement)| json!({"Version": version, "Statement": statement}))
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever a tenant submits, parsing and evaluating it never panics
    /// (the test command runs a short pass; `PROPTEST_CASES=100000 cargo
    /// test -p minicloud-policy fuzz` a long one).
    #[test]
    fn fuzz_policy_documents(doc in arbitrary_document(), resource in "[a-z:*/]{0,30}") {
        let _ = Policy::parse(&doc.to_string());
        if let Ok(p) = Policy::from_value(&doc) {
            let ctx = Context::new().with("mc:username", "ada");
            let _ = decide(&[("p", &p)], "functions:GetFunction", &resource, &ctx);
        }
    }
}
