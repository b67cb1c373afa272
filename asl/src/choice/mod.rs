//! Choice rules, as a Choice state's `Choices` holds them in the JSONPath
//! query language: parsed and checked once, then evaluated against each
//! state input.
//!
//! A rule is a comparison (`Variable` compared with a literal, or with the
//! value at another path by the `...Path` form of the operator), a type
//! test (`IsNull`, `IsPresent`, `IsNumeric`, `IsString`, `IsBoolean`,
//! `IsTimestamp`), or `And`, `Or` and `Not` over nested rules. Only the
//! top-level rules carry `Next`, and an `Assign` used when they match.
//! Paths may read workflow variables (`$count`), as they were when the
//! state was entered.
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
use crate::paths::{Bindings, Path};
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
    /// Variables the rule sets when it matches (instead of the state's,
    /// which only a Choice that goes to its `Default` sets).
    pub assign: Option<crate::variables::Assign>,
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
    /// Evaluates against the state's input, the context object and the variables. A `Variable`
    /// path that matches nothing (or reads a variable no state assigned) is a States.Runtime
    /// failure (Failure::runtime), except inside IsPresent, which is then false. A comparison
    /// whose variable has the wrong type is false (not an error).
    pub fn eval(&self, input: &Value, bindings: &Bindings<'_>) -> Result<bool, Failure> {
        match self {
            Self::And(rules) => Ok(!any_is(rules, false, input, bindings)?),
            Self::Or(rules) => any_is(rules, true, input, bindings),
            Self::Not(rule) => Ok(!rule.eval(input, bindings)?),
            Self::Test {
                variable,
                test: TypeTest::IsPresent,
                expected,
            } => Ok(variable.find(input, bindings).is_some() == *expected),
            Self::Test {
                variable,
                test,
                expected,
            } => {
                let value = variable.select(input, bindings).map_err(Failure::runtime)?;
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
                let value = variable.select(input, bindings).map_err(Failure::runtime)?;
                let operand = match operand {
                    Operand::Value(value) => Cow::Borrowed(value),
                    Operand::Path(path) => {
                        Cow::Owned(path.select(input, bindings).map_err(Failure::runtime)?)
                    }
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
fn any_is(
    rules: &[Condition],
    wanted: bool,
    input: &Value,
    bindings: &Bindings<'_>,
) -> Result<bool, Failure> {
    for rule in rules {
        if rule.eval(input, bindings)? == wanted {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod parse_tests;
