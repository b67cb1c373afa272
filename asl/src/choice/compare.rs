//! Comparisons: strings as Java compares them, `StringMatches` patterns,
//! numbers by value and timestamps by the instant they name.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::{Number, Value};

use super::{Kind, Relation};

impl Kind {
    /// Whether `value` is of this kind.
    pub(super) fn fits(self, value: &Value) -> bool {
        match self {
            Self::String => value.is_string(),
            Self::Numeric => value.is_number(),
            Self::Boolean => value.is_boolean(),
            Self::Timestamp => value.as_str().and_then(timestamp).is_some(),
        }
    }
}

impl Relation {
    /// Whether `ordering` (of the variable against the operand) satisfies the relation.
    fn accepts(self, ordering: Ordering) -> bool {
        match self {
            Self::Equals => ordering == Ordering::Equal,
            Self::LessThan => ordering == Ordering::Less,
            Self::GreaterThan => ordering == Ordering::Greater,
            Self::LessThanEquals => ordering != Ordering::Greater,
            Self::GreaterThanEquals => ordering != Ordering::Less,
            Self::Matches => false,
        }
    }
}

/// Whether `value` relates to `operand` as asked; false when either is not of `kind`.
pub(super) fn holds(kind: Kind, relation: Relation, value: &Value, operand: &Value) -> bool {
    let ordering = match (kind, value, operand) {
        (Kind::String, Value::String(text), Value::String(pattern)) if relation == Relation::Matches => {
            return wildcard_match(pattern, text);
        }
        // Java's String.compareTo: UTF-16 code units, in order.
        (Kind::String, Value::String(a), Value::String(b)) => Some(a.encode_utf16().cmp(b.encode_utf16())),
        (Kind::Numeric, Value::Number(a), Value::Number(b)) => numeric_order(a, b),
        (Kind::Boolean, Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Kind::Timestamp, Value::String(a), Value::String(b)) => {
            timestamp(a).zip(timestamp(b)).map(|(a, b)| a.cmp(&b))
        }
        _ => None,
    };
    ordering.is_some_and(|ordering| relation.accepts(ordering))
}

/// Numbers by value: integers exactly, anything else as binary64.
fn numeric_order(a: &Number, b: &Number) -> Option<Ordering> {
    let integer = |n: &Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (integer(a), integer(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// An RFC 3339 timestamp, with the uppercase `T` and `Z` Step Functions requires.
fn timestamp(text: &str) -> Option<DateTime<FixedOffset>> {
    let uppercase = text.as_bytes().get(10) == Some(&b'T') && !text.contains(['t', 'z']);
    DateTime::parse_from_rfc3339(text).ok().filter(|_| uppercase)
}

/// Whether `text` matches `pattern` whole, where `*` matches any run of
/// characters (none included), `\*` a star and `\\` a backslash; a
/// backslash before anything else stands for itself.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    // `None` is a wildcard.
    let mut tokens: Vec<Option<char>> = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '*' => None,
            '\\' => Some(chars.next_if(|n| matches!(n, '*' | '\\')).unwrap_or('\\')),
            c => Some(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    // Greedy matching, going back to the last wildcard on a mismatch.
    let (mut t, mut p) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Some(c)) if Some(c) == text.get(t) => (t, p) = (t + 1, p + 1),
            Some(None) => {
                backtrack = Some((p + 1, t));
                p += 1;
            }
            _ => match backtrack {
                Some((after_star, from)) => {
                    backtrack = Some((after_star, from + 1));
                    (t, p) = (from + 1, after_star);
                }
                None => return false,
            },
        }
    }
    tokens.iter().skip(p).all(Option::is_none)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::choice::tests::{eval, sample};

    /// (operator, variable, literal operand, expected) on [`sample`].
    fn comparisons() -> Vec<(&'static str, &'static str, Value, bool)> {
        vec![
            ("StringEquals", "$.s", json!("b"), true),
            ("StringEquals", "$.s", json!("B"), false),
            ("StringLessThan", "$.s", json!("c"), true),
            ("StringLessThan", "$.s", json!("b"), false),
            ("StringGreaterThan", "$.s", json!("a"), true),
            ("StringGreaterThan", "$.s", json!("b"), false),
            ("StringLessThanEquals", "$.s", json!("b"), true),
            ("StringLessThanEquals", "$.s", json!("a"), false),
            ("StringGreaterThanEquals", "$.s", json!("b"), true),
            ("StringGreaterThanEquals", "$.s", json!("ba"), false),
            ("StringEquals", "$.ts", json!("2020-01-01T12:00:00Z"), true),
            ("NumericEquals", "$.n", json!(5.0), true),
            ("NumericEquals", "$.n", json!(5), true),
            ("NumericEquals", "$.n", json!(6), false),
            ("NumericEquals", "$.big", json!(u64::MAX), true),
            ("NumericEquals", "$.big", json!(u64::MAX - 1), false),
            ("NumericLessThan", "$.n", json!(5.01), true),
            ("NumericLessThan", "$.n", json!(5), false),
            ("NumericLessThan", "$.neg", json!(0), true),
            ("NumericGreaterThan", "$.f", json!(5), true),
            ("NumericGreaterThan", "$.n", json!(5), false),
            ("NumericGreaterThan", "$.big", json!(-1), true),
            ("NumericLessThanEquals", "$.n", json!(5), true),
            ("NumericLessThanEquals", "$.f", json!(5), false),
            ("NumericGreaterThanEquals", "$.f", json!(5.5), true),
            ("NumericGreaterThanEquals", "$.n", json!(5.5), false),
            ("BooleanEquals", "$.t", json!(true), true),
            ("BooleanEquals", "$.t", json!(false), false),
            (
                "TimestampEquals",
                "$.ts",
                json!("2020-01-01T13:00:00+01:00"),
                true,
            ),
            ("TimestampEquals", "$.ts", json!("2020-01-01T12:00:00.000Z"), true),
            ("TimestampEquals", "$.ts", json!("2020-01-01T12:00:01Z"), false),
            ("TimestampLessThan", "$.ts", json!("2020-01-01T12:00:00.5Z"), true),
            ("TimestampLessThan", "$.ts", json!("2020-01-01T12:00:00Z"), false),
            (
                "TimestampGreaterThan",
                "$.ts",
                json!("2019-12-31T23:59:59Z"),
                true,
            ),
            (
                "TimestampGreaterThan",
                "$.ts",
                json!("2020-01-01T07:00:00-05:00"),
                false,
            ),
            (
                "TimestampLessThanEquals",
                "$.ts",
                json!("2020-01-01T12:00:00Z"),
                true,
            ),
            (
                "TimestampLessThanEquals",
                "$.ts",
                json!("2020-01-01T11:59:59Z"),
                false,
            ),
            (
                "TimestampGreaterThanEquals",
                "$.ts",
                json!("2020-01-01T12:00:00Z"),
                true,
            ),
            (
                "TimestampGreaterThanEquals",
                "$.ts",
                json!("2020-01-01T12:00:01Z"),
                false,
            ),
        ]
    }

    #[test]
    fn every_comparison_with_a_literal_and_with_a_path() {
        for (operator, variable, operand, expected) in comparisons() {
            let mut input = sample();
            let literal = json!({"Variable": variable, operator: operand.clone()});
            assert_eq!(eval(literal.clone(), &input), Ok(expected), "{literal}");
            input["other"] = json!({"x": operand});
            let by_path = json!({"Variable": variable, format!("{operator}Path"): "$.other.x"});
            assert_eq!(eval(by_path.clone(), &input), Ok(expected), "{by_path}");
        }
    }

    #[test]
    fn string_matches_stars_and_escapes() {
        let cases = [
            ("log-*.txt", "log-1.txt", true),
            ("log-*.txt", "log-.txt", true),
            ("log-*.txt", "log-1.csv", false),
            ("*.log", "zebra.log", true),
            ("foo*.*", "foobar.zebra", true),
            ("*", "", true),
            ("**", "anything", true),
            ("", "", true),
            ("", "x", false),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("*ab", "aab", true),
            ("ab", "abc", false),
            ("abc", "ab", false),
            (r"log-\*.txt", "log-*.txt", true),
            (r"log-\*.txt", "log-1.txt", false),
            (r"a\\b", r"a\b", true),
            (r"a\\*", r"a\anything", true),
            (r"a\b", r"a\b", true),
            ("a?c", "abc", false),
            ("a?c", "a?c", true),
            ("[ab]", "a", false),
            ("é*ü", "éaü", true),
        ];
        for (pattern, text, expected) in cases {
            let condition = json!({"Variable": "$.v", "StringMatches": pattern});
            assert_eq!(
                eval(condition, &json!({"v": text})),
                Ok(expected),
                "{pattern:?} on {text:?}"
            );
        }
    }

    #[test]
    fn strings_compare_by_utf16_code_unit_as_java_does() {
        // U+1F600 is a surrogate pair starting 0xD83D, below U+FF61.
        let input = json!({"v": "\u{1F600}"});
        assert_eq!(
            eval(json!({"Variable": "$.v", "StringLessThan": "\u{FF61}"}), &input),
            Ok(true)
        );
        assert_eq!(
            eval(
                json!({"Variable": "$.v", "StringGreaterThan": "\u{FF61}"}),
                &input
            ),
            Ok(false)
        );
    }

    #[test]
    fn a_variable_of_the_wrong_type_is_false() {
        let input = json!({"s": "5", "n": 5, "t": "true", "lower": "2020-01-01t12:00:00z",
            "date": "2020-01-01", "spaced": "2020-01-01 12:00:00Z", "nested": {"a": 1}});
        let cases = [
            json!({"Variable": "$.s", "NumericEquals": 5}),
            json!({"Variable": "$.n", "StringEquals": "5"}),
            json!({"Variable": "$.n", "StringLessThan": "9"}),
            json!({"Variable": "$.n", "StringMatches": "*"}),
            json!({"Variable": "$.t", "BooleanEquals": true}),
            json!({"Variable": "$.n", "BooleanEquals": true}),
            json!({"Variable": "$.s", "TimestampLessThan": "2020-01-01T12:00:00Z"}),
            json!({"Variable": "$.lower", "TimestampEquals": "2020-01-01T12:00:00Z"}),
            json!({"Variable": "$.date", "TimestampGreaterThanEquals": "2000-01-01T00:00:00Z"}),
            json!({"Variable": "$.spaced", "TimestampEquals": "2020-01-01T12:00:00Z"}),
            json!({"Variable": "$.nested", "NumericEquals": 1}),
            json!({"Variable": "$.nested", "StringEquals": "{\"a\":1}"}),
        ];
        for case in cases {
            assert_eq!(eval(case.clone(), &input), Ok(false), "{case}");
            // Not of a wrong-type comparison is true: the comparison did not fail.
            assert_eq!(eval(json!({"Not": case.clone()}), &input), Ok(true), "Not {case}");
        }
        // The same through a path whose value has the wrong type.
        let by_path = json!({"Variable": "$.n", "NumericEqualsPath": "$.s"});
        assert_eq!(eval(by_path, &input), Ok(false));
        let by_path = json!({"Variable": "$.n", "TimestampEqualsPath": "$.lower"});
        assert_eq!(eval(by_path, &input), Ok(false));
    }
}
