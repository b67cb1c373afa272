//! Paths on the input, the context object and variables, and reference
//! paths that write.

use super::*;
use serde_json::json;

fn select(path: &str, input: Value) -> Result<Value> {
    let context = json!({"Execution": {"Id": "x1"}});
    let variables = json!({"order": {"items": [{"sku": "a"}, {"sku": "b"}], "total": 12}, "n": 3});
    let variables = variables.as_object().cloned().unwrap_or_default();
    Path::parse(path)?.select(&input, &Bindings::new(&context, &variables))
}

#[test]
fn definite_paths_select_one_value() {
    let input = json!({"a": {"b": [10, 20, {"c": "d"}]}, "detail-type": "T"});
    assert_eq!(select("$", input.clone()), Ok(input.clone()));
    assert_eq!(select("$.a.b[1]", input.clone()), Ok(json!(20)));
    assert_eq!(select("$.a.b[2].c", input.clone()), Ok(json!("d")));
    assert_eq!(select("$['a']['b'][0]", input.clone()), Ok(json!(10)));
    assert_eq!(
        select("$.a.['b'][0]", input.clone()),
        Ok(json!(10)),
        "AWS's dot before a bracket"
    );
    assert_eq!(select("$.detail-type", input.clone()), Ok(json!("T")));
    assert_eq!(select("$$.Execution.Id", input), Ok(json!("x1")));
}

#[test]
fn a_definite_path_to_nothing_is_an_error() {
    let err = select("$.a.missing", json!({"a": {}})).expect_err("nothing is there");
    assert!(matches!(err, PathError::NoMatch { .. }), "{err}");
    assert!(err.to_string().contains("$.a.missing"));
}

#[test]
fn indefinite_paths_select_arrays() {
    let input = json!({"items": [{"p": 1}, {"p": 2}, {"p": 3}]});
    assert_eq!(select("$.items[*].p", input.clone()), Ok(json!([1, 2, 3])));
    assert_eq!(select("$.items[?(@.p > 1)].p", input.clone()), Ok(json!([2, 3])));
    assert_eq!(select("$.items[0:2].p", input.clone()), Ok(json!([1, 2])));
    assert_eq!(select("$..p", input.clone()), Ok(json!([1, 2, 3])));
    assert_eq!(select("$..['p']", input.clone()), Ok(json!([1, 2, 3])));
    assert_eq!(select("$.nothing[*]", input), Ok(json!([])));
}

#[test]
fn bad_paths_are_refused() {
    for bad in ["a.b", "", "$.a[", "$..", "$.a[?(@.x ==]"] {
        assert!(Path::parse(bad).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn reference_paths_write_creating_objects() {
    let doc = json!({"a": {"x": 1}, "list": [1, 2]});
    let set = |p: &str, v: Value| ReferencePath::parse(p).and_then(|r| r.set(doc.clone(), v));
    assert_eq!(set("$", json!(5)), Ok(json!(5)));
    assert_eq!(
        set("$.a.y", json!(2)),
        Ok(json!({"a": {"x": 1, "y": 2}, "list": [1, 2]}))
    );
    assert_eq!(
        set("$.new.deep", json!(true)),
        Ok(json!({"a": {"x": 1}, "list": [1, 2], "new": {"deep": true}}))
    );
    assert_eq!(
        set("$.list[1]", json!(9)),
        Ok(json!({"a": {"x": 1}, "list": [1, 9]}))
    );
    assert!(set("$.a.x.z", json!(0)).is_err(), "wrote through a number");
    assert!(set("$.list[5]", json!(0)).is_err(), "wrote past an array");
}

#[test]
fn reference_paths_name_one_node() {
    for bad in ["$.a[*]", "$..a", "$.a[?(@.b)]", "$$.Execution", "a", "$.a[0:1]"] {
        assert!(ReferencePath::parse(bad).is_err(), "{bad:?} was accepted");
    }
    assert!(ReferencePath::parse("$.a['b c'][0]").is_ok());
}

#[test]
fn variables_are_read_by_name() {
    let input = json!({"n": "the input's"});
    assert_eq!(select("$n", input.clone()), Ok(json!(3)));
    assert_eq!(select("$order.total", input.clone()), Ok(json!(12)));
    assert_eq!(select("$order.items[1].sku", input.clone()), Ok(json!("b")));
    assert_eq!(
        select("$order['items'][0]", input.clone()),
        Ok(json!({"sku": "a"}))
    );
    assert_eq!(select("$order..sku", input.clone()), Ok(json!(["a", "b"])));
    assert_eq!(
        select("$order.items[*].sku", input.clone()),
        Ok(json!(["a", "b"]))
    );
    assert_eq!(
        Path::parse("$order.total").map(|p| p.root().clone()),
        Ok(Root::Variable("order".into()))
    );
    assert!(Path::parse("$order.total").is_ok_and(|p| p.is_definite()));
}

#[test]
fn an_unassigned_variable_or_a_path_to_nothing_in_one_is_an_error() {
    let err = select("$missing.a", json!({})).expect_err("no such variable");
    assert!(
        matches!(err, PathError::Unassigned { ref name, .. } if name == "missing"),
        "{err}"
    );
    assert!(err.to_string().contains("$missing"), "{err}");
    let err = select("$order.nothing", json!({})).expect_err("nothing there");
    assert!(matches!(err, PathError::NotInVariable { .. }), "{err}");
    assert!(err.to_string().contains("$order"), "{err}");
    let context = json!({});
    let none = Map::new();
    let path = Path::parse("$missing").expect("a path");
    assert_eq!(path.find(&json!({}), &Bindings::new(&context, &none)), None);
}

#[test]
fn variable_names_follow_the_rules() {
    for bad in ["$1x", "$x-y.z", "$states.input", "$x y"] {
        assert!(Path::parse(bad).is_err(), "{bad:?} was accepted");
    }
    let long = format!("${}", "v".repeat(81));
    assert!(Path::parse(&long).is_err(), "81 characters");
    for good in ["$_x", "$café.prix", "$x2[0]", &format!("${}", "v".repeat(80))] {
        assert!(Path::parse(good).is_ok(), "{good:?} was refused");
    }
}

#[test]
fn reference_paths_never_name_a_variable() {
    let err = ReferencePath::parse("$result.x").expect_err("a variable");
    assert!(err.to_string().contains("not a variable"), "{err}");
}
