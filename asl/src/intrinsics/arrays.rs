//! The functions on arrays that take more than a line: `States.ArrayPartition`,
//! `States.ArrayRange`, `States.ArrayGetItem` and `States.ArrayUnique`.

use std::collections::HashSet;

use serde_json::Value;

use super::args::Args;
use crate::errors::Failure;

/// The most elements `ArrayRange` makes.
const MAX_RANGE: i128 = 1000;

pub(super) fn array_partition(args: &Args<'_>) -> Result<Value, Failure> {
    let (items, size) = (args.array(0)?, args.integer(1)?);
    let size = usize::try_from(size)
        .ok()
        .filter(|size| *size > 0)
        .ok_or_else(|| {
            args.fail(format_args!(
                "the chunk size must be a positive integer, not {size}"
            ))
        })?;
    Ok(Value::Array(
        items
            .chunks(size)
            .map(|chunk| Value::Array(chunk.to_vec()))
            .collect(),
    ))
}

pub(super) fn array_range(args: &Args<'_>) -> Result<Value, Failure> {
    let (first, last, step) = (args.integer(0)?, args.integer(1)?, args.integer(2)?);
    if step == 0 {
        return Err(args.fail("the step (argument 3) must not be 0"));
    }
    let (first, span, step) = (
        i128::from(first),
        i128::from(last) - i128::from(first),
        i128::from(step),
    );
    let count = if span == 0 || (span > 0) == (step > 0) {
        span / step + 1
    } else {
        0
    };
    if count > MAX_RANGE {
        return Err(args.fail(format_args!(
            "the range would have {count} elements; at most {MAX_RANGE} are allowed"
        )));
    }
    // Every element lies between the first and the last, which are i64s.
    Ok(Value::Array(
        (0..count)
            .map(|k| Value::from((first + k * step) as i64))
            .collect(),
    ))
}

pub(super) fn array_get_item(args: &Args<'_>) -> Result<Value, Failure> {
    let (items, index) = (args.array(0)?, args.integer(1)?);
    usize::try_from(index)
        .ok()
        .and_then(|i| items.get(i))
        .cloned()
        .ok_or_else(|| {
            args.fail(format_args!(
                "index {index} is out of range for an array of {} elements",
                items.len()
            ))
        })
}

/// The array without repeated elements, the first of each kept in place.
/// Objects that differ only in the order of their keys are repeats.
pub(super) fn array_unique(items: &[Value]) -> Value {
    let mut seen = HashSet::new();
    Value::Array(
        items
            .iter()
            .filter(|item| seen.insert(canonical(item)))
            .cloned()
            .collect(),
    )
}

/// `value` as JSON text with each object's keys sorted: serde_json keeps
/// keys in document order (its `preserve_order` feature, which a dependency
/// turns on), and `{"a":1,"b":2}` must read as `{"b":2,"a":1}` does.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut fields: Vec<_> = map.iter().collect();
            fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let fields: Vec<String> = fields
                .into_iter()
                .map(|(key, field)| format!("{}:{}", Value::from(key.as_str()), canonical(field)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::intrinsics::tests::{failure, ok};

    #[test]
    fn array_functions_follow_the_documented_examples() {
        let input = json!({
            "Id": 123456, "inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "index": 5, "lookingFor": 5,
            "dupes": [1, 2, 3, 3, 3, 3, 3, 3, 4], "mixed": [{"a": 1, "b": 2}, {"b": 2, "a": 1}, "1", 1, 1.0, null, null]
        });
        assert_eq!(ok("States.Array($.Id)", input.clone()), json!([123456]));
        assert_eq!(ok("States.Array()", input.clone()), json!([]));
        assert_eq!(
            ok(
                "States.Array('a', 1, 2.5, true, false, null, $$.State.Name)",
                input.clone()
            ),
            json!(["a", 1, 2.5, true, false, null, "Build"])
        );
        assert_eq!(
            ok("States.ArrayPartition($.inputArray, 4)", input.clone()),
            json!([[1, 2, 3, 4], [5, 6, 7, 8], [9]])
        );
        assert_eq!(
            ok("States.ArrayPartition($.inputArray, 4.4)", input.clone()),
            json!([[1, 2, 3, 4], [5, 6, 7, 8], [9]])
        );
        assert_eq!(
            ok("States.ArrayPartition(States.Array(), 2)", input.clone()),
            json!([])
        );
        assert_eq!(
            ok("States.ArrayContains($.inputArray, $.lookingFor)", input.clone()),
            json!(true)
        );
        assert_eq!(
            ok("States.ArrayContains($.inputArray, '5')", input.clone()),
            json!(false)
        );
        assert_eq!(
            ok("States.ArrayContains($.mixed, $.mixed[0])", input.clone()),
            json!(true)
        );
        assert_eq!(
            ok("States.ArrayGetItem($.inputArray, $.index)", input.clone()),
            json!(6)
        );
        assert_eq!(ok("States.ArrayLength($.inputArray)", input.clone()), json!(9));
        assert_eq!(
            ok("States.ArrayUnique($.dupes)", input.clone()),
            json!([1, 2, 3, 4])
        );
        assert_eq!(
            ok("States.ArrayUnique($.mixed)", input),
            json!([{"a": 1, "b": 2}, "1", 1, 1.0, null])
        );
    }

    #[test]
    fn array_range_counts_up_and_down() {
        assert_eq!(
            ok("States.ArrayRange(1, 9, 2)", json!({})),
            json!([1, 3, 5, 7, 9])
        );
        assert_eq!(
            ok("States.ArrayRange(1, 10, 2)", json!({})),
            json!([1, 3, 5, 7, 9])
        );
        assert_eq!(ok("States.ArrayRange(5, 1, -2)", json!({})), json!([5, 3, 1]));
        assert_eq!(ok("States.ArrayRange(4, 4, 3)", json!({})), json!([4]));
        assert_eq!(ok("States.ArrayRange(1, 5, -1)", json!({})), json!([]));
        assert_eq!(ok("States.ArrayRange(0.6, 2.4, 1)", json!({})), json!([1, 2]));
        assert_eq!(
            ok("States.ArrayRange(1, 1000, 1)", json!({}))
                .as_array()
                .map(Vec::len),
            Some(1000)
        );
        assert!(failure("States.ArrayRange(1, 1001, 1)", json!({})).contains("1001 elements"));
        assert!(
            failure(
                "States.ArrayRange(-9000000000000000000, 9000000000000000000, 1)",
                json!({})
            )
            .contains("at most 1000")
        );
        assert!(failure("States.ArrayRange(1, 9, 0)", json!({})).contains("must not be 0"));
        assert!(failure("States.ArrayRange(1, $.x, 1)", json!({"x": "9"})).contains("must be an integer"));
    }

    #[test]
    fn array_errors_are_intrinsic_failures() {
        let input = json!({"list": [1, 2, 3], "text": "abc"});
        let cause = failure("States.ArrayGetItem($.list, 3)", input.clone());
        assert!(
            cause.contains("index 3 is out of range") && cause.contains("3 elements"),
            "{cause}"
        );
        assert!(failure("States.ArrayGetItem($.list, -1)", input.clone()).contains("out of range"));
        assert!(
            failure("States.ArrayLength($.text)", input.clone())
                .contains("argument 1 must be an array, not \"abc\"")
        );
        assert!(failure("States.ArrayPartition($.list, 0)", input.clone()).contains("positive integer"));
        assert!(failure("States.ArrayPartition($.list, -2)", input.clone()).contains("positive integer"));
        assert!(failure("States.ArrayUnique($.text)", input).contains("must be an array"));
    }
}
