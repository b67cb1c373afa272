use super::*;
use serde_json::json;

fn p(v: Value) -> Pattern {
    Pattern::from_value(&v).unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn check(pattern: Value, yes: &[Value], no: &[Value]) {
    let compiled = p(pattern.clone());
    for e in yes {
        assert!(compiled.matches(e), "{pattern} should match {e}");
    }
    for e in no {
        assert!(!compiled.matches(e), "{pattern} should not match {e}");
    }
}

#[test]
fn exact_values_of_every_type() {
    check(
        json!({"source": ["shop"]}),
        &[json!({"source": "shop"}), json!({"source": ["x", "shop"]})],
        &[
            json!({"source": "Shop"}),
            json!({"source": "shops"}),
            json!({}),
            json!({"source": null}),
        ],
    );
    check(
        json!({"n": [300]}),
        &[json!({"n": 300}), json!({"n": 300.0}), json!({"n": 3e2})],
        &[json!({"n": "300"}), json!({"n": 301})],
    );
    check(
        json!({"b": [true]}),
        &[json!({"b": true})],
        &[json!({"b": "true"}), json!({"b": false})],
    );
    check(
        json!({"z": [null]}),
        &[json!({"z": null})],
        &[json!({"z": ""}), json!({})],
    );
    check(
        json!({"e": [""]}),
        &[json!({"e": ""})],
        &[json!({"e": null}), json!({})],
    );
}

#[test]
fn and_across_fields_or_across_values_and_nesting() {
    check(
        json!({"source": ["a", "b"], "detail": {"state": ["on"], "size": {"unit": ["kb"]}}}),
        &[
            json!({"source": "b", "detail": {"state": "on", "size": {"unit": "kb"}, "extra": 1}}),
            json!({"source": "a", "detail": {"state": ["off", "on"], "size": {"unit": "kb"}}}),
        ],
        &[
            json!({"source": "c", "detail": {"state": "on", "size": {"unit": "kb"}}}),
            json!({"source": "a", "detail": {"state": "off", "size": {"unit": "kb"}}}),
            json!({"source": "a", "detail": {"state": "on"}}),
            json!({"source": "a", "detail": "on"}),
        ],
    );
}

#[test]
fn arrays_in_events_are_flattened() {
    check(
        json!({"items": {"sku": ["x"], "qty": [2]}}),
        &[
            json!({"items": [{"sku": "y", "qty": 2}, {"sku": "x", "qty": 1}]}),
            json!({"items": {"sku": ["a", "x"], "qty": 2}}),
        ],
        &[json!({"items": [{"sku": "y", "qty": 2}]}), json!({"items": []})],
    );
}

#[test]
fn prefix_suffix_and_ignore_case() {
    check(
        json!({"r": [{"prefix": "us-"}]}),
        &[json!({"r": "us-east-1"}), json!({"r": "us-"})],
        &[
            json!({"r": "eu-west-1"}),
            json!({"r": "US-east"}),
            json!({"r": 5}),
        ],
    );
    check(
        json!({"r": [{"prefix": {"equals-ignore-case": "EventB"}}]}),
        &[json!({"r": "eventbridge"}), json!({"r": "EVENTBUS"})],
        &[json!({"r": "event"})],
    );
    check(
        json!({"f": [{"suffix": ".png"}]}),
        &[json!({"f": "a.png"})],
        &[json!({"f": "a.PNG"}), json!({"f": "a.png.txt"})],
    );
    check(
        json!({"f": [{"suffix": {"equals-ignore-case": ".png"}}]}),
        &[json!({"f": "a.PNG"}), json!({"f": "b.png"})],
        &[json!({"f": "png"})],
    );
    check(
        json!({"s": [{"equals-ignore-case": "Alice"}]}),
        &[json!({"s": "ALICE"}), json!({"s": "alice"})],
        &[json!({"s": "alicia"}), json!({"s": null})],
    );
}

#[test]
fn anything_but_every_form() {
    check(
        json!({"state": [{"anything-but": "init"}]}),
        &[
            json!({"state": "running"}),
            json!({"state": 5}),
            json!({"state": ["init", "x"]}),
        ],
        &[json!({"state": "init"}), json!({})],
    );
    check(
        json!({"n": [{"anything-but": [100, 200]}]}),
        &[json!({"n": 150}), json!({"n": "100"})],
        &[json!({"n": 100.0}), json!({"n": 200})],
    );
    check(
        json!({"r": [{"anything-but": {"prefix": "us-"}}]}),
        &[json!({"r": "eu-west-1"})],
        &[json!({"r": "us-east-1"}), json!({"r": 3}), json!({})],
    );
    check(
        json!({"r": [{"anything-but": {"prefix": ["us-", "ca-"]}}]}),
        &[json!({"r": "eu-west-1"})],
        &[json!({"r": "ca-central-1"})],
    );
    check(
        json!({"f": [{"anything-but": {"suffix": ".png"}}]}),
        &[json!({"f": "a.jpg"})],
        &[json!({"f": "a.png"})],
    );
    check(
        json!({"s": [{"anything-but": {"equals-ignore-case": ["init", "Stopped"]}}]}),
        &[json!({"s": "running"})],
        &[json!({"s": "INIT"}), json!({"s": "stopped"})],
    );
    check(
        json!({"p": [{"anything-but": {"wildcard": "*/lib/*"}}]}),
        &[json!({"p": "/usr/bin/x"})],
        &[json!({"p": "/usr/lib/x"})],
    );
}

#[test]
fn numeric_ranges_and_equality() {
    check(
        json!({"c": [{"numeric": [">", 0, "<=", 5]}]}),
        &[json!({"c": 5}), json!({"c": 0.1}), json!({"c": [9, 3]})],
        &[json!({"c": 0}), json!({"c": 5.01}), json!({"c": "3"}), json!({})],
    );
    check(
        json!({"c": [{"numeric": ["=", 3.0e2]}]}),
        &[json!({"c": 300})],
        &[json!({"c": 299.99})],
    );
    check(
        json!({"c": [{"numeric": ["<", -1]}]}),
        &[json!({"c": -1.5})],
        &[json!({"c": -1})],
    );
}

#[test]
fn exists_true_and_false() {
    check(
        json!({"detail": {"id": [{"exists": true}]}}),
        &[json!({"detail": {"id": "x"}}), json!({"detail": {"id": null}})],
        &[
            json!({"detail": {}}),
            json!({"detail": {"id": []}}),
            json!({"other": 1}),
        ],
    );
    check(
        json!({"detail": {"id": [{"exists": false}]}}),
        &[json!({"detail": {}}), json!({}), json!({"detail": {"id": []}})],
        &[json!({"detail": {"id": 0}})],
    );
}

#[test]
fn cidr_v4_and_v6() {
    check(
        json!({"ip": [{"cidr": "10.0.0.0/24"}]}),
        &[json!({"ip": "10.0.0.255"}), json!({"ip": "10.0.0.0"})],
        &[
            json!({"ip": "10.0.1.0"}),
            json!({"ip": "not an ip"}),
            json!({"ip": "::1"}),
        ],
    );
    check(
        json!({"ip": [{"cidr": "2001:db8::/32"}]}),
        &[json!({"ip": "2001:db8::1"})],
        &[json!({"ip": "2001:db9::1"}), json!({"ip": "10.0.0.1"})],
    );
    check(
        json!({"ip": [{"cidr": "0.0.0.0/0"}]}),
        &[json!({"ip": "8.8.8.8"})],
        &[],
    );
}

#[test]
fn wildcards_with_escapes() {
    check(
        json!({"k": [{"wildcard": "dir/*.png"}]}),
        &[
            json!({"k": "dir/a.png"}),
            json!({"k": "dir/.png"}),
            json!({"k": "dir/x/y.png"}),
        ],
        &[json!({"k": "dir/a.jpg"}), json!({"k": "other/a.png"})],
    );
    check(
        json!({"k": [{"wildcard": "*a*b*"}]}),
        &[json!({"k": "ab"}), json!({"k": "xaybz"})],
        &[json!({"k": "ba"})],
    );
    check(
        json!({"k": [{"wildcard": "lit\\*eral\\\\"}]}),
        &[json!({"k": "lit*eral\\"})],
        &[json!({"k": "litXeral\\"})],
    );
    check(
        json!({"k": [{"wildcard": "exact"}]}),
        &[json!({"k": "exact"})],
        &[json!({"k": "exactly"})],
    );
}

#[test]
fn or_at_any_level() {
    check(
        json!({"source": ["shop"], "$or": [{"detail": {"n": [{"numeric": [">", 10]}]}}, {"detail-type": ["Big"]}]}),
        &[
            json!({"source": "shop", "detail": {"n": 11}}),
            json!({"source": "shop", "detail-type": "Big", "detail": {"n": 1}}),
        ],
        &[
            json!({"source": "shop", "detail": {"n": 1}}),
            json!({"source": "x", "detail-type": "Big"}),
        ],
    );
    check(
        json!({"detail": {"$or": [{"a": ["1"]}, {"b": ["2"]}]}}),
        &[json!({"detail": {"b": "2"}})],
        &[json!({"detail": {"a": "2"}})],
    );
}

#[test]
fn invalid_patterns_name_the_path() {
    let cases = [
        (json!([1]), "$"),
        (json!({}), "$"),
        (json!({"a": "x"}), "$.a"),
        (json!({"a": []}), "$.a"),
        (json!({"a": [[1]]}), "$.a[0]"),
        (
            json!({"d": {"n": [{"numeric": [">", "x"]}]}}),
            "$.d.n[0].numeric[1]",
        ),
        (
            json!({"d": {"n": [{"numeric": ["~", 1]}]}}),
            "$.d.n[0].numeric[0]",
        ),
        (
            json!({"d": {"n": [{"numeric": [">", 1, ">", 2]}]}}),
            "$.d.n[0].numeric",
        ),
        (json!({"a": [{"prefx": "x"}]}), "$.a[0]"),
        (json!({"a": [{"prefix": "x", "suffix": "y"}]}), "$.a[0]"),
        (json!({"a": [{"exists": "yes"}]}), "$.a[0].exists"),
        (json!({"a": [{"cidr": "10.0.0.0/33"}]}), "$.a[0].cidr"),
        (json!({"a": [{"wildcard": "a**b"}]}), "$.a[0].wildcard"),
        (json!({"a": [{"wildcard": "a\\b"}]}), "$.a[0].wildcard"),
        (
            json!({"a": [{"anything-but": {"numeric": [">", 1]}}]}),
            "$.a[0].anything-but",
        ),
        (json!({"a": [{"anything-but": ["x", 1]}]}), "$.a[0].anything-but"),
        (json!({"$or": [{"a": ["1"]}]}), "$[\"$or\"]"),
        (json!({"$or": [{"a": ["1"]}, {"b": "x"}]}), "$[\"$or\"][1].b"),
        (json!({"a b": ["x"], "c": {"d e": "x"}}), "$.c[\"d e\"]"),
    ];
    for (pattern, path) in cases {
        let e = Pattern::from_value(&pattern).expect_err(&pattern.to_string());
        assert_eq!(e.path, path, "{pattern}: {e}");
    }
    assert!(Pattern::parse(&format!("{{\"a\": [\"{}\"]}}", "x".repeat(MAX_PATTERN_BYTES))).is_err());
    assert!(Pattern::parse("{not json").is_err());
    let big = json!({"a": ["x".repeat(MAX_PATTERN_BYTES)]});
    assert_eq!(Pattern::from_value(&big).expect_err("too big").path, "$");
}
