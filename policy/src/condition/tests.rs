use super::*;
use serde_json::json;

/// Whether the whole operator entry holds (its keys AND'ed).
fn holds(operator: &str, keys: Value, ctx: &Context) -> bool {
    Condition::parse(operator, &keys, true)
        .expect("valid condition")
        .iter()
        .all(|c| c.holds(ctx))
}

fn user(name: &str) -> Context {
    Context::new().with("mc:username", name)
}

#[test]
fn string_operators() {
    let alice = user("alice");
    assert!(holds("StringEquals", json!({"mc:username": "alice"}), &alice));
    assert!(!holds("StringEquals", json!({"mc:username": "Alice"}), &alice));
    assert!(holds(
        "StringEquals",
        json!({"MC:UserName": ["bob", "alice"]}),
        &alice
    ));
    assert!(holds(
        "StringEqualsIgnoreCase",
        json!({"mc:username": "ALICE"}),
        &alice
    ));
    assert!(!holds(
        "StringNotEqualsIgnoreCase",
        json!({"mc:username": "ALICE"}),
        &alice
    ));
    assert!(holds("StringLike", json!({"mc:username": "a*e"}), &alice));
    assert!(holds("StringLike", json!({"mc:username": "?lice"}), &alice));
    // StringEquals does not treat * as a wildcard.
    assert!(!holds("StringEquals", json!({"mc:username": "a*"}), &alice));
    // Negated operators are a NOR over the listed values.
    assert!(holds(
        "StringNotEquals",
        json!({"mc:username": ["bob", "carol"]}),
        &alice
    ));
    assert!(!holds(
        "StringNotEquals",
        json!({"mc:username": ["bob", "alice"]}),
        &alice
    ));
    assert!(!holds(
        "StringNotLike",
        json!({"mc:username": ["x*", "al*"]}),
        &alice
    ));
    // Numbers and booleans in a policy are compared as their text.
    assert!(holds(
        "StringEquals",
        json!({"mc:count": 5}),
        &Context::new().with("mc:count", "5")
    ));
}

#[test]
fn missing_keys_follow_aws() {
    let empty = Context::new();
    assert!(!holds("StringEquals", json!({"mc:username": "alice"}), &empty));
    assert!(!holds("StringLike", json!({"mc:username": "*"}), &empty));
    // Negated operators are true when the key is absent.
    assert!(holds("StringNotEquals", json!({"mc:username": "alice"}), &empty));
    assert!(holds("StringNotLike", json!({"mc:username": "a*"}), &empty));
    assert!(holds("ArnNotLike", json!({"mc:SourceArn": "mrn:*"}), &empty));
    assert!(holds(
        "NotIpAddress",
        json!({"mc:SourceIp": "10.0.0.0/8"}),
        &empty
    ));
    assert!(holds("NumericNotEquals", json!({"mc:n": 1}), &empty));
    assert!(!holds("NumericLessThan", json!({"mc:n": 1}), &empty));
    assert!(!holds("Bool", json!({"mc:SecureTransport": true}), &empty));
    // ...IfExists: true when absent, the plain test when present.
    assert!(holds(
        "StringEqualsIfExists",
        json!({"mc:username": "alice"}),
        &empty
    ));
    assert!(holds(
        "StringEqualsIfExists",
        json!({"mc:username": "alice"}),
        &user("alice")
    ));
    assert!(!holds(
        "StringEqualsIfExists",
        json!({"mc:username": "alice"}),
        &user("bob")
    ));
    assert!(holds("NumericLessThanIfExists", json!({"mc:n": 1}), &empty));
    assert!(holds(
        "BoolIfExists",
        json!({"mc:MultiFactorAuthPresent": "true"}),
        &empty
    ));
    assert!(!holds(
        "BoolIfExists",
        json!({"mc:MultiFactorAuthPresent": "true"}),
        &Context::new().with("mc:MultiFactorAuthPresent", "false")
    ));
}

#[test]
fn null_checks_presence() {
    let alice = user("alice");
    assert!(holds("Null", json!({"mc:username": "false"}), &alice));
    assert!(!holds("Null", json!({"mc:username": "true"}), &alice));
    assert!(holds("Null", json!({"mc:userid": true}), &alice));
    // An empty multivalued key counts as absent.
    let none = Context::new().with_many("mc:TagKeys", Vec::<String>::new());
    assert!(holds("Null", json!({"mc:TagKeys": "true"}), &none));
    assert!(Condition::parse("NullIfExists", &json!({"k": "true"}), true).is_err());
    assert!(Condition::parse("ForAnyValue:Null", &json!({"k": "true"}), true).is_err());
}

#[test]
fn set_qualifiers() {
    let tags = Context::new().with_many("mc:TagKeys", ["team", "cost-center"]);
    let empty = Context::new();
    let allowed = json!({"mc:TagKeys": ["team", "cost-center", "env"]});
    assert!(holds("ForAllValues:StringEquals", allowed.clone(), &tags));
    assert!(!holds(
        "ForAllValues:StringEquals",
        json!({"mc:TagKeys": ["team"]}),
        &tags
    ));
    // ForAllValues is vacuously true without the key; ForAnyValue false.
    assert!(holds("ForAllValues:StringEquals", allowed.clone(), &empty));
    assert!(!holds("ForAnyValue:StringEquals", allowed, &empty));
    assert!(holds(
        "ForAnyValue:StringEquals",
        json!({"mc:TagKeys": "team"}),
        &tags
    ));
    assert!(!holds(
        "ForAnyValue:StringEquals",
        json!({"mc:TagKeys": "env"}),
        &tags
    ));
    assert!(holds(
        "ForAnyValue:StringLike",
        json!({"mc:TagKeys": "cost-*"}),
        &tags
    ));
    // Negation applies per value: every key must match none of "key1*".
    let deny_like = json!({"mc:TagKeys": "key1*"});
    assert!(!holds(
        "ForAllValues:StringNotLike",
        deny_like.clone(),
        &Context::new().with_many("mc:TagKeys", ["key1:hr", "key1:legal"])
    ));
    assert!(holds(
        "ForAllValues:StringNotLike",
        deny_like.clone(),
        &Context::new().with_many("mc:TagKeys", ["key2:audit"])
    ));
    assert!(holds("ForAllValues:StringNotLike", deny_like.clone(), &empty));
    assert!(holds(
        "ForAnyValue:StringNotLike",
        deny_like,
        &Context::new().with_many("mc:TagKeys", ["key1:hr", "key2:audit"])
    ));
}

#[test]
fn numeric_and_date_operators() {
    let n = Context::new().with("mc:n", "10");
    assert!(holds("NumericEquals", json!({"mc:n": "10.0"}), &n));
    assert!(holds("NumericLessThan", json!({"mc:n": 11}), &n));
    assert!(!holds("NumericLessThan", json!({"mc:n": 10}), &n));
    assert!(holds("NumericLessThanEquals", json!({"mc:n": 10}), &n));
    assert!(holds("NumericGreaterThan", json!({"mc:n": [100, 9.5]}), &n));
    assert!(holds("NumericGreaterThanEquals", json!({"mc:n": 10}), &n));
    assert!(!holds("NumericNotEquals", json!({"mc:n": [1, 10]}), &n));
    assert!(!holds(
        "NumericEquals",
        json!({"mc:n": 10}),
        &Context::new().with("mc:n", "ten")
    ));
    assert!(Condition::parse("NumericEquals", &json!({"mc:n": "ten"}), true).is_err());

    let now = Context::new().with("mc:CurrentTime", "2026-11-23T10:00:00Z");
    assert!(holds(
        "DateGreaterThan",
        json!({"mc:CurrentTime": "2026-01-01T00:00:00Z"}),
        &now
    ));
    assert!(holds(
        "DateLessThan",
        json!({"mc:CurrentTime": "2027-01-01"}),
        &now
    ));
    assert!(holds(
        "DateEquals",
        json!({"mc:CurrentTime": "2026-11-23T11:00:00+01:00"}),
        &now
    ));
    assert!(holds(
        "DateLessThanEquals",
        json!({"mc:CurrentTime": 1_795_428_000}),
        &now
    ));
    assert!(holds(
        "DateNotEquals",
        json!({"mc:CurrentTime": "2026-11-23"}),
        &now
    ));
    let epoch = Context::new().with("mc:EpochTime", "1795428000");
    assert!(holds(
        "DateEquals",
        json!({"mc:EpochTime": "2026-11-23T10:00:00Z"}),
        &epoch
    ));
    assert!(Condition::parse("DateLessThan", &json!({"k": "yesterday"}), true).is_err());
}

#[test]
fn bool_and_binary_operators() {
    let tls = Context::new().with("mc:SecureTransport", "true");
    assert!(holds("Bool", json!({"mc:SecureTransport": true}), &tls));
    assert!(holds("Bool", json!({"mc:SecureTransport": "TRUE"}), &tls));
    assert!(!holds("Bool", json!({"mc:SecureTransport": "false"}), &tls));
    assert!(Condition::parse("Bool", &json!({"k": "yes"}), true).is_err());
    let bin = Context::new().with("mc:key", "QmluYXJ5VmFsdWU=");
    assert!(holds("BinaryEquals", json!({"mc:key": "QmluYXJ5VmFsdWU="}), &bin));
    assert!(!holds("BinaryEquals", json!({"mc:key": "QmluYXJ5"}), &bin));
    assert!(Condition::parse("BinaryEquals", &json!({"k": "***"}), true).is_err());
}

#[test]
fn ip_operators_v4_and_v6() {
    let v4 = Context::new().with("mc:SourceIp", "203.0.113.7");
    assert!(holds("IpAddress", json!({"mc:SourceIp": "203.0.113.0/24"}), &v4));
    assert!(holds("IpAddress", json!({"mc:SourceIp": "203.0.113.7"}), &v4));
    assert!(!holds("IpAddress", json!({"mc:SourceIp": "203.0.114.0/24"}), &v4));
    assert!(holds(
        "IpAddress",
        json!({"mc:SourceIp": ["10.0.0.0/8", "0.0.0.0/0"]}),
        &v4
    ));
    assert!(holds("NotIpAddress", json!({"mc:SourceIp": "10.0.0.0/8"}), &v4));
    assert!(!holds(
        "NotIpAddress",
        json!({"mc:SourceIp": ["10.0.0.0/8", "203.0.0.0/8"]}),
        &v4
    ));
    let v6 = Context::new().with("mc:SourceIp", "2001:db8:1::5");
    assert!(holds("IpAddress", json!({"mc:SourceIp": "2001:db8::/32"}), &v6));
    assert!(!holds("IpAddress", json!({"mc:SourceIp": "2001:db9::/32"}), &v6));
    assert!(!holds("IpAddress", json!({"mc:SourceIp": "0.0.0.0/0"}), &v6));
    // An IPv4 client seen through an IPv6 socket still matches v4 ranges.
    let mapped = Context::new().with("mc:SourceIp", "::ffff:203.0.113.7");
    assert!(holds(
        "IpAddress",
        json!({"mc:SourceIp": "203.0.113.0/24"}),
        &mapped
    ));
    assert!(Condition::parse("IpAddress", &json!({"k": "10.0.0.0/33"}), true).is_err());
    assert!(Condition::parse("IpAddress", &json!({"k": "ten"}), true).is_err());
}

#[test]
fn arn_operators_match_segment_by_segment() {
    let src = Context::new().with("mc:SourceArn", "mrn:functions:acme:web:function/hello");
    for op in ["ArnEquals", "ArnLike"] {
        assert!(holds(
            op,
            json!({"mc:SourceArn": "mrn:functions:acme:*:function/*"}),
            &src
        ));
        assert!(!holds(op, json!({"mc:SourceArn": "mrn:functions:*"}), &src));
    }
    assert!(holds(
        "ArnNotLike",
        json!({"mc:SourceArn": "mrn:storage:*:*:*"}),
        &src
    ));
}

#[test]
fn variables_in_condition_values() {
    let ctx = Context::new()
        .with("mc:username", "alice")
        .with("mc:ResourceTag/owner", "alice");
    assert!(holds(
        "StringEquals",
        json!({"mc:ResourceTag/owner": "${mc:username}"}),
        &ctx
    ));
    assert!(!holds(
        "StringEquals",
        json!({"mc:ResourceTag/owner": "${mc:userid}"}),
        &ctx
    ));
    assert!(holds(
        "StringEquals",
        json!({"mc:ResourceTag/owner": "${mc:userid, 'alice'}"}),
        &ctx
    ));
}

/// Every operator, plain and `...IfExists`, against a present value
/// and a missing key (AWS: a missing key fails the test except for
/// negated operators and `...IfExists`).
#[test]
fn every_operator_and_its_if_exists_variant() {
    // (operator, policy value, context value, holds, negated)
    let cases = [
        ("StringEquals", json!("a"), "a", true, false),
        ("StringNotEquals", json!("a"), "b", true, true),
        ("StringEqualsIgnoreCase", json!("A"), "a", true, false),
        ("StringNotEqualsIgnoreCase", json!("A"), "a", false, true),
        ("StringLike", json!("a*"), "abc", true, false),
        ("StringNotLike", json!("a*"), "abc", false, true),
        ("NumericEquals", json!(3), "3", true, false),
        ("NumericNotEquals", json!(3), "4", true, true),
        ("NumericLessThan", json!(3), "2", true, false),
        ("NumericLessThanEquals", json!(3), "3", true, false),
        ("NumericGreaterThan", json!(3), "3", false, false),
        ("NumericGreaterThanEquals", json!(3), "3", true, false),
        (
            "DateEquals",
            json!("2026-01-01T00:00:00Z"),
            "1767225600",
            true,
            false,
        ),
        (
            "DateNotEquals",
            json!("2026-01-01T00:00:00Z"),
            "1767225601",
            true,
            true,
        ),
        (
            "DateLessThan",
            json!("2026-01-01T00:00:00Z"),
            "2025-12-31T23:59:59Z",
            true,
            false,
        ),
        (
            "DateLessThanEquals",
            json!("2026-01-01T00:00:00Z"),
            "2026-01-01T00:00:00Z",
            true,
            false,
        ),
        (
            "DateGreaterThan",
            json!("2026-01-01T00:00:00Z"),
            "2026-01-01T00:00:00Z",
            false,
            false,
        ),
        (
            "DateGreaterThanEquals",
            json!("2026-01-01T00:00:00Z"),
            "2026-01-01T00:00:00Z",
            true,
            false,
        ),
        ("Bool", json!("true"), "true", true, false),
        ("BinaryEquals", json!("AAE="), "AAE=", true, false),
        ("IpAddress", json!("10.0.0.0/8"), "10.1.1.1", true, false),
        ("NotIpAddress", json!("10.0.0.0/8"), "10.1.1.1", false, true),
        ("ArnEquals", json!("mrn:f:o:p:x/*"), "mrn:f:o:p:x/y", true, false),
        ("ArnLike", json!("mrn:f:o:?:x/*"), "mrn:f:o:p:x/y", true, false),
        (
            "ArnNotEquals",
            json!("mrn:f:o:p:x/*"),
            "mrn:f:o:p:x/y",
            false,
            true,
        ),
        ("ArnNotLike", json!("mrn:f:o:q:*"), "mrn:f:o:p:x/y", true, true),
    ];
    let present = |v: &str| Context::new().with("mc:k", v);
    for (op, policy_value, value, expected, negated) in cases {
        let keys = json!({ "mc:k": policy_value });
        assert_eq!(
            holds(op, keys.clone(), &present(value)),
            expected,
            "{op} on {value}"
        );
        assert_eq!(
            holds(op, keys.clone(), &Context::new()),
            negated,
            "{op} without the key"
        );
        let if_exists = format!("{op}IfExists");
        assert_eq!(
            holds(&if_exists, keys.clone(), &present(value)),
            expected,
            "{if_exists} on {value}"
        );
        assert!(
            holds(&if_exists, keys.clone(), &Context::new()),
            "{if_exists} without the key"
        );
        for qualifier in ["ForAnyValue:", "ForAllValues:"] {
            let qualified = format!("{qualifier}{op}");
            assert_eq!(
                holds(&qualified, keys.clone(), &present(value)),
                expected,
                "{qualified}"
            );
        }
    }
}

#[test]
fn malformed_entries_are_refused() {
    assert!(Condition::parse("StringEquals", &json!("alice"), true).is_err());
    assert!(Condition::parse("StringEquals", &json!({}), true).is_err());
    assert!(Condition::parse("StringEquals", &json!({"k": []}), true).is_err());
    assert!(Condition::parse("StringEquals", &json!({"k": {"a": 1}}), true).is_err());
    assert!(Condition::parse("StringMatches", &json!({"k": "a"}), true).is_err());
    assert!(Condition::parse("ForSomeValues:StringEquals", &json!({"k": "a"}), true).is_err());
}
