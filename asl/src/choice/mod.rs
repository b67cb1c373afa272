//! Choice rules, as a Choice state's `Choices` holds them in the JSONPath
//! query language: parsed and checked once, then evaluated against each
//! state input.
//!
//! A rule is a comparison (`Variable` compared with a literal, or with the
//! value at another path by the `...Path` form of the operator), a type
//! test (`IsNull`, `IsPresent`, `IsNumeric`, `IsString`, `IsBoolean`,
//! `IsTimestamp`), or `And`, `Or` and `Not` over nested rules. Only the
//! top-level rules carry `Next`.
//!
//! Evaluation follows Step Functions: a value of the wrong type for the
//! comparison makes it false rather than failing; a `Variable` (or an
//! operand path) that matches nothing is a `States.Runtime` failure, except
//! under `IsPresent`, whose whole point is to ask; `And` and `Or` stop at the
//! first rule that decides them, so `IsPresent` can guard a comparison.
//! Strings compare as Java's `compareTo` does (by UTF-16 code unit),
//! numbers by value (`1` equals `1.0`), timestamps (RFC 3339 with an
//! uppercase `T` and `Z`) by the instant they name.
//!
//! - `parse`: a rule's fields read and checked, every problem at its path.
//! - `compare`: comparisons: strings, `StringMatches`, numbers, timestamps.

mod compare;
mod parse;

use std::borrow::Cow;

use serde_json::Value;

use crate::errors::{Failure, Problem};
use crate::paths::Path;
use compare::holds;
use parse::parse_choice;

/// One entry of a Choice state's `Choices`: a condition and the state it leads to.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// When the choice is taken.
    pub condition: Condition,
    /// The state it leads to.
    pub next: String,
    /// A JSONata rule's output when it matches (the state's by default).
    pub output: Option<crate::jsonata::Template>,
    /// Variables a JSONata rule sets when it matches, besides the state's.
    pub assign: Option<crate::jsonata::Template>,
}

/// A boolean expression of the JSONPath Choice language.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `Variable` compared with a value: `NumericLessThan`,
    /// `StringEqualsPath`, `StringMatches` and the others.
    Compare {
        /// The path of the value compared.
        variable: Path,
        /// The type both sides must have.
        kind: Kind,
        /// The comparison.
        relation: Relation,
        /// What it is compared with.
        operand: Operand,
    },
    /// A type test on `Variable`: true when the test's outcome is `expected`
    /// (`"IsNull": false` holds for anything but null).
    Test {
        /// The path of the value tested.
        variable: Path,
        /// The test.
        test: TypeTest,
        /// The outcome asked for.
        expected: bool,
    },
    /// Every rule holds (none is evaluated after the first that does not).
    And(Vec<Condition>),
    /// Some rule holds (none is evaluated after the first that does).
    Or(Vec<Condition>),
    /// The rule does not hold.
    Not(Box<Condition>),
    /// A JSONata rule's `Condition`: an expression that gives a boolean,
    /// evaluated by the interpreter (it needs the variables).
    Jsonata(crate::jsonata::Expression),
}

/// The type a comparison works on, the first word of its operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `String...`: JSON strings.
    String,
    /// `Numeric...`: JSON numbers.
    Numeric,
    /// `Boolean...`: `true` and `false`.
    Boolean,
    /// `Timestamp...`: strings holding RFC 3339 timestamps.
    Timestamp,
}

/// How a comparison relates the variable to its operand, the rest of its operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// `...Equals`.
    Equals,
    /// `...LessThan`.
    LessThan,
    /// `...GreaterThan`.
    GreaterThan,
    /// `...LessThanEquals`.
    LessThanEquals,
    /// `...GreaterThanEquals`.
    GreaterThanEquals,
    /// `StringMatches`: the operand is a pattern where `*` matches any run of
    /// characters, `\*` a star and `\\` a backslash.
    Matches,
}

/// What a comparison compares its variable with.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A value written in the rule.
    Value(Value),
    /// The value at a path when the rule is evaluated (the `...Path` operators).
    Path(Path),
}

/// A type test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeTest {
    /// `IsNull`: the value is null.
    IsNull,
    /// `IsPresent`: the path matches something.
    IsPresent,
    /// `IsNumeric`: the value is a number.
    IsNumeric,
    /// `IsString`: the value is a string.
    IsString,
    /// `IsBoolean`: the value is `true` or `false`.
    IsBoolean,
    /// `IsTimestamp`: the value is a string holding an RFC 3339 timestamp.
    IsTimestamp,
}

/// Parses a Choice state's `Choices` array found at JSON path `at` (e.g. `$.States.Check.Choices`),
/// pushing every problem found (not just the first) with the JSON path of the offending field
/// (e.g. `$.States.Check.Choices[1].NumericEquals`, `$.States.Check.Choices[0].And[2]`)
/// and a message a person can act on. Returns the choices it could parse.
pub fn parse_choices(value: &Value, at: &str, problems: &mut Vec<Problem>) -> Vec<Choice> {
    let Some(rules) = value.as_array().filter(|rules| !rules.is_empty()) else {
        problems.push(Problem::new(
            at,
            "Choices must be a non-empty array of Choice rules",
        ));
        return Vec::new();
    };
    let at_rule = |i: usize| format!("{at}[{i}]");
    rules
        .iter()
        .enumerate()
        .filter_map(|(i, rule)| parse_choice(rule, &at_rule(i), problems))
        .collect()
}

impl Condition {
    /// Evaluates against the state's input and the context object. A `Variable` path that
    /// matches nothing is a States.Runtime failure (Failure::runtime), except inside IsPresent,
    /// which is then false. A comparison whose variable has the wrong type is false (not an error).
    pub fn eval(&self, input: &Value, context: &Value) -> Result<bool, Failure> {
        match self {
            Self::And(rules) => Ok(!any_is(rules, false, input, context)?),
            Self::Or(rules) => any_is(rules, true, input, context),
            Self::Not(rule) => Ok(!rule.eval(input, context)?),
            Self::Test {
                variable,
                test: TypeTest::IsPresent,
                expected,
            } => Ok(variable.find(input, context).is_some() == *expected),
            Self::Test {
                variable,
                test,
                expected,
            } => {
                let value = variable.select(input, context).map_err(Failure::runtime)?;
                let outcome = match test {
                    TypeTest::IsNull => value.is_null(),
                    TypeTest::IsNumeric => value.is_number(),
                    TypeTest::IsString => value.is_string(),
                    TypeTest::IsBoolean => value.is_boolean(),
                    TypeTest::IsTimestamp => Kind::Timestamp.fits(&value),
                    TypeTest::IsPresent => true,
                };
                Ok(outcome == *expected)
            }
            Self::Compare {
                variable,
                kind,
                relation,
                operand,
            } => {
                let value = variable.select(input, context).map_err(Failure::runtime)?;
                let operand = match operand {
                    Operand::Value(value) => Cow::Borrowed(value),
                    Operand::Path(path) => Cow::Owned(path.select(input, context).map_err(Failure::runtime)?),
                };
                Ok(holds(*kind, *relation, &value, &operand))
            }
            Self::Jsonata(expression) => Err(Failure::runtime(format!(
                "the JSONata condition {} needs the interpreter's variables",
                expression.source()
            ))),
        }
    }
}

/// Whether some rule evaluates to `wanted`, evaluating none after it.
fn any_is(rules: &[Condition], wanted: bool, input: &Value, context: &Value) -> Result<bool, Failure> {
    for rule in rules {
        if rule.eval(input, context)? == wanted {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    //! The helpers the tests of `compare` use too, and the tests of
    //! [`Condition::eval`].

    use super::*;
    use crate::choice::parse::parse_rule;
    use crate::errors::RUNTIME;
    use serde_json::json;

    /// A nested rule, parsed without problems.
    fn rule(value: Value) -> Condition {
        let mut problems = Vec::new();
        let condition = parse_rule(&value, "$", false, &mut problems);
        assert!(problems.is_empty(), "{value}: {problems:?}");
        condition.expect("a condition")
    }

    fn context() -> Value {
        json!({"Execution": {"Id": "exec-1"}, "State": {"RetryCount": 2}})
    }

    pub(super) fn eval(value: Value, input: &Value) -> Result<bool, Failure> {
        rule(value).eval(input, &context())
    }

    pub(super) fn sample() -> Value {
        json!({
            "s": "b", "n": 5, "f": 5.5, "big": u64::MAX, "neg": -3, "t": true,
            "ts": "2020-01-01T12:00:00Z", "file": "log-1.txt", "null": null,
            "obj": {"k": [10, 20]}, "arr": [1, 2]
        })
    }

    #[test]
    fn type_tests() {
        let input = sample();
        // (test, variable, outcome)
        let cases = [
            ("IsNull", "$.null", true),
            ("IsNull", "$.s", false),
            ("IsNull", "$.obj", false),
            ("IsNumeric", "$.n", true),
            ("IsNumeric", "$.f", true),
            ("IsNumeric", "$.s", false),
            ("IsNumeric", "$.null", false),
            ("IsString", "$.s", true),
            ("IsString", "$.ts", true),
            ("IsString", "$.n", false),
            ("IsBoolean", "$.t", true),
            ("IsBoolean", "$.s", false),
            ("IsTimestamp", "$.ts", true),
            ("IsTimestamp", "$.s", false),
            ("IsTimestamp", "$.n", false),
            ("IsPresent", "$.null", true),
            ("IsPresent", "$.obj.k[1]", true),
            ("IsPresent", "$.obj.k[2]", false),
            ("IsPresent", "$.missing", false),
            ("IsPresent", "$.s.deeper", false),
        ];
        for (test, variable, outcome) in cases {
            for expected in [true, false] {
                let condition = json!({"Variable": variable, test: expected});
                assert_eq!(
                    eval(condition, &input),
                    Ok(outcome == expected),
                    "{test} {variable} {expected}"
                );
            }
        }
    }

    #[test]
    fn a_variable_or_operand_path_to_nothing_is_a_runtime_failure() {
        let input = sample();
        let cases = [
            json!({"Variable": "$.missing", "StringEquals": "b"}),
            json!({"Variable": "$.missing", "IsNull": false}),
            json!({"Variable": "$.missing", "IsTimestamp": true}),
            json!({"Variable": "$.s", "StringEqualsPath": "$.missing"}),
            json!({"Variable": "$.missing", "NumericEqualsPath": "$.n"}),
            json!({"Variable": "$.arr[5]", "NumericEquals": 1}),
            json!({"Variable": "$$.Execution.Missing", "StringEquals": "x"}),
            json!({"Not": {"Variable": "$.missing", "BooleanEquals": true}}),
            json!({"And": [{"Variable": "$.s", "IsString": true}, {"Variable": "$.missing", "IsNull": true}]}),
        ];
        for case in cases {
            let failure = eval(case.clone(), &input).expect_err("a failure");
            assert_eq!(failure.error, RUNTIME, "{case}");
            assert!(
                failure.cause.contains("$.missing")
                    || failure.cause.contains("Missing")
                    || failure.cause.contains("[5]"),
                "{case}: {failure}"
            );
        }
    }

    #[test]
    fn the_context_object_can_be_read() {
        let input = sample();
        assert_eq!(
            eval(
                json!({"Variable": "$$.Execution.Id", "StringEquals": "exec-1"}),
                &input
            ),
            Ok(true)
        );
        let by_path = json!({"Variable": "$.n", "NumericGreaterThanPath": "$$.State.RetryCount"});
        assert_eq!(eval(by_path, &input), Ok(true));
        assert_eq!(
            eval(json!({"Variable": "$", "IsPresent": true}), &input),
            Ok(true)
        );
    }

    #[test]
    fn and_or_not_nest_and_stop_early() {
        let input = sample();
        let yes = json!({"Variable": "$.s", "StringEquals": "b"});
        let no = json!({"Variable": "$.s", "StringEquals": "a"});
        let fails = json!({"Variable": "$.missing", "StringEquals": "a"});
        let cases = [
            (json!({"And": [yes, yes]}), true),
            (json!({"And": [yes, no]}), false),
            (json!({"And": [no, fails]}), false),
            (json!({"Or": [no, yes]}), true),
            (json!({"Or": [no, no]}), false),
            (json!({"Or": [yes, fails]}), true),
            (json!({"Not": yes}), false),
            (json!({"Not": {"Not": yes}}), true),
            (json!({"Not": {"Or": [no, {"And": [yes, {"Not": no}]}]}}), false),
            (
                json!({"And": [{"Variable": "$.maybe", "IsPresent": true}, {"Variable": "$.maybe", "StringEquals": "foo"}]}),
                false,
            ),
        ];
        for (case, expected) in cases {
            assert_eq!(eval(case.clone(), &input), Ok(expected), "{case}");
        }
        let guarded = json!({"And": [{"Variable": "$.maybe", "IsPresent": true}, {"Variable": "$.maybe", "StringEquals": "foo"}]});
        assert_eq!(eval(guarded, &json!({"maybe": "foo"})), Ok(true));
        assert!(eval(json!({"Or": [no, fails]}), &input).is_err());
    }
}
