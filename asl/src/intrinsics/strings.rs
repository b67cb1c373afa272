//! The functions on strings and JSON: `States.Format`,
//! `States.StringToJson`, `States.JsonMerge` and `States.StringSplit`.

use serde_json::Value;

use super::args::Args;
use crate::errors::Failure;

/// `States.Format`: the template's parts joined by the values.
pub(super) fn format(args: &Args<'_>, parts: Vec<String>) -> Result<Value, Failure> {
    let values = args.values.get(1..).unwrap_or_default();
    if parts.len() != values.len() + 1 {
        return Err(args.fail(mismatch(parts.len().saturating_sub(1), values.len())));
    }
    let mut parts = parts.into_iter();
    let mut out = parts.next().unwrap_or_default();
    for (value, part) in values.iter().zip(parts) {
        render(value, &mut out);
        out.push_str(&part);
    }
    Ok(Value::String(out))
}

/// Why a `States.Format` template does not fit its values.
pub(super) fn mismatch(placeholders: usize, values: usize) -> String {
    format!(
        "the template has {placeholders} {{}} placeholders, and {values} values follow it (there must be as many)"
    )
}

/// A value as `States.Format` writes it: strings as they are, arrays as
/// `[a, b]`, objects as `{key=value, ...}`, others as JSON.
fn render(value: &Value, out: &mut String) {
    match value {
        Value::String(text) => out.push_str(text),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 { "" } else { ", " });
                render(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                out.push_str(if i == 0 { "" } else { ", " });
                out.push_str(key);
                out.push('=');
                render(item, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

pub(super) fn string_to_json(args: &Args<'_>) -> Result<Value, Failure> {
    let text = args.text(0)?;
    serde_json::from_str(text).map_err(|e| args.fail(format_args!("{text:?} is not JSON: {e}")))
}

pub(super) fn json_merge(args: &Args<'_>) -> Result<Value, Failure> {
    let (first, second) = (args.object(0)?, args.object(1)?);
    match args.value(2)? {
        Value::Bool(false) => {}
        Value::Bool(true) => return Err(args.fail("deep merge is not supported: argument 3 must be false")),
        other => return Err(args.wrong(2, "false", other)),
    }
    let mut merged = first.clone();
    merged.extend(second.clone());
    Ok(Value::Object(merged))
}

/// `States.StringSplit`: the text cut at every character of the
/// delimiters, without empty pieces.
pub(super) fn string_split(args: &Args<'_>) -> Result<Value, Failure> {
    let (text, delimiters) = (args.text(0)?, args.text(1)?);
    Ok(Value::Array(
        text.split(|c| delimiters.contains(c))
            .filter(|piece| !piece.is_empty())
            .map(Value::from)
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::intrinsics::tests::{failure, ok, parse_error};

    #[test]
    fn format_interpolates_literals_and_paths() {
        let input = json!({"name": "Arnav", "template": "Hello, my name is {}."});
        assert_eq!(
            ok("States.Format('Hello, my name is {}.', $.name)", input.clone()),
            json!("Hello, my name is Arnav.")
        );
        assert_eq!(
            ok("States.Format($.template, $.name)", input.clone()),
            json!("Hello, my name is Arnav.")
        );
        assert_eq!(
            ok("States.Format('no placeholders')", input.clone()),
            json!("no placeholders")
        );
        assert_eq!(ok("States.Format('{}{}', 'a', 'b')", input.clone()), json!("ab"));
        assert_eq!(
            ok(
                "States.Format('run {} of {}', $$.Execution.Name, $$.State.Name)",
                input
            ),
            json!("run run-1 of Build")
        );
    }

    #[test]
    fn format_renders_every_kind_of_value() {
        let input = json!({"n": 3, "f": 1.5, "t": true, "z": null, "list": [1, "a", [2]], "obj": {"a": 1, "b": ["x"]}});
        assert_eq!(
            ok(
                "States.Format('{} {} {} {} {} {} {}', $.n, $.f, $.t, $.z, $.list, $.obj, -7)",
                input
            ),
            json!("3 1.5 true null [1, a, [2]] {a=1, b=[x]} -7")
        );
    }

    #[test]
    fn format_needs_one_value_per_placeholder() {
        let error = parse_error("States.Format('{} and {}', $.a)");
        assert!(
            error.contains("has 2 {} placeholders, and 1 values follow it"),
            "{error}"
        );
        assert!(parse_error("States.Format('{}')").contains("1 {}"));
        let cause = failure("States.Format($.t, 1, 2)", json!({"t": "only {}"}));
        assert!(
            cause.starts_with("States.Format:") && cause.contains("1 {}"),
            "{cause}"
        );
        assert!(failure("States.Format($.t)", json!({"t": 5})).contains("must be a string"));
    }

    #[test]
    fn string_to_json_and_back() {
        let input =
            json!({"escaped": "{\"foo\": \"bar\", \"n\": [1, 2.5]}", "data": {"foo": "bar"}, "bad": "{nope"});
        assert_eq!(
            ok("States.StringToJson($.escaped)", input.clone()),
            json!({"foo": "bar", "n": [1, 2.5]})
        );
        assert_eq!(
            ok("States.StringToJson('[1, true]')", input.clone()),
            json!([1, true])
        );
        assert_eq!(
            ok("States.JsonToString($.data)", input.clone()),
            json!("{\"foo\":\"bar\"}")
        );
        assert_eq!(ok("States.JsonToString($)", json!([1, "a"])), json!("[1,\"a\"]"));
        assert_eq!(
            ok("States.StringToJson(States.JsonToString($.data))", input.clone()),
            json!({"foo": "bar"})
        );
        assert!(failure("States.StringToJson($.bad)", input.clone()).contains("is not JSON"));
        assert!(failure("States.StringToJson($.data)", input).contains("must be a string"));
        assert!(parse_error("States.JsonToString('x')").contains("a path or an intrinsic function"));
    }

    #[test]
    fn json_merge_is_shallow_only() {
        let input = json!({"json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}, "deep": true});
        assert_eq!(
            ok("States.JsonMerge($.json1, $.json2, false)", input.clone()),
            json!({"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3})
        );
        assert!(
            parse_error("States.JsonMerge($.json1, $.json2, true)").contains("false (only the shallow merge")
        );
        assert!(parse_error("States.JsonMerge($.json1, $.json2, 'false')").contains("not a string"));
        assert!(parse_error("States.JsonMerge('{}', $.json2, false)").contains("a JSON object"));
        assert!(
            failure("States.JsonMerge($.json1, $.json2, $.deep)", input.clone())
                .contains("deep merge is not supported")
        );
        assert!(
            failure("States.JsonMerge($.json1, $.json2.c, false)", input)
                .contains("argument 2 must be a JSON object, not 3")
        );
    }

    #[test]
    fn string_split_cuts_at_each_delimiter_character() {
        let input = json!({"csv": "1,2,3,4,5", "mixed": "This.is+a,test=string", "splitter": ".+,="});
        assert_eq!(
            ok("States.StringSplit($.csv, ',')", input.clone()),
            json!(["1", "2", "3", "4", "5"])
        );
        assert_eq!(
            ok("States.StringSplit($.mixed, $.splitter)", input.clone()),
            json!(["This", "is", "a", "test", "string"])
        );
        assert_eq!(
            ok("States.StringSplit(',a,,b,', ',')", input.clone()),
            json!(["a", "b"])
        );
        assert_eq!(ok("States.StringSplit('abc', '')", input.clone()), json!(["abc"]));
        assert!(
            failure("States.StringSplit($.csv, $.n)", json!({"csv": "a", "n": 1}))
                .contains("argument 2 must be a string")
        );
        assert!(parse_error("States.StringSplit($.csv, 1)").contains("must be a string"));
    }
}
