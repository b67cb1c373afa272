//! Reading `Choices`: each rule's fields checked, and every problem found
//! reported at the JSON path of the field that has it.

use serde_json::{Map, Value};

use super::{Choice, Condition, Kind, Operand, Relation, TypeTest};
use crate::errors::{Problem, field_path};
use crate::paths::Path;
use crate::variables::parse_assign;

const TESTS: [(&str, TypeTest); 6] = [
    ("IsNull", TypeTest::IsNull),
    ("IsPresent", TypeTest::IsPresent),
    ("IsNumeric", TypeTest::IsNumeric),
    ("IsString", TypeTest::IsString),
    ("IsBoolean", TypeTest::IsBoolean),
    ("IsTimestamp", TypeTest::IsTimestamp),
];
const KINDS: [(&str, Kind); 4] = [
    ("String", Kind::String),
    ("Numeric", Kind::Numeric),
    ("Boolean", Kind::Boolean),
    ("Timestamp", Kind::Timestamp),
];
const RELATIONS: [(&str, Relation); 6] = [
    ("Equals", Relation::Equals),
    ("LessThan", Relation::LessThan),
    ("GreaterThan", Relation::GreaterThan),
    ("LessThanEquals", Relation::LessThanEquals),
    ("GreaterThanEquals", Relation::GreaterThanEquals),
    ("Matches", Relation::Matches),
];
/// The fields a rule may have besides its operator.
const OTHER_FIELDS: [&str; 4] = ["Variable", "Next", "Assign", "Comment"];

/// An operator field of a rule, as its name says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    And,
    Or,
    Not,
    Test(TypeTest),
    /// The kind, the relation, and whether the operand is a path.
    Compare(Kind, Relation, bool),
}

impl Operator {
    /// The operator a field name names: `And`, `IsNull`, `NumericLessThanPath`...
    fn named(name: &str) -> Option<Self> {
        match name {
            "And" => return Some(Self::And),
            "Or" => return Some(Self::Or),
            "Not" => return Some(Self::Not),
            _ => {}
        }
        if let Some((_, test)) = TESTS.iter().find(|(n, _)| *n == name) {
            return Some(Self::Test(*test));
        }
        let (base, by_path) = name
            .strip_suffix("Path")
            .map_or((name, false), |base| (base, true));
        KINDS.iter().find_map(|(prefix, kind)| {
            let rest = base.strip_prefix(prefix)?;
            let (_, relation) = RELATIONS.iter().find(|(n, _)| *n == rest)?;
            let exists = match relation {
                Relation::Matches => *kind == Kind::String && !by_path,
                Relation::Equals => true,
                _ => *kind != Kind::Boolean,
            };
            exists.then_some(Self::Compare(*kind, *relation, by_path))
        })
    }

    /// Whether the operator reads `Variable`.
    fn reads_variable(self) -> bool {
        matches!(self, Self::Test(_) | Self::Compare(..))
    }
}

impl Kind {
    /// What a literal operand of this kind must be, for messages.
    fn expects(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Numeric => "a number",
            Self::Boolean => "true or false",
            Self::Timestamp => {
                "an RFC 3339 timestamp string with an uppercase T and Z, such as 2001-01-01T12:00:00Z"
            }
        }
    }
}

/// A top-level rule: a condition, its `Next`, and the variables it
/// assigns when it matches.
pub(super) fn parse_choice(rule: &Value, at: &str, problems: &mut Vec<Problem>) -> Option<Choice> {
    let next = match rule.get("Next") {
        Some(Value::String(next)) => Some(next.clone()),
        Some(_) => report(
            problems,
            field_path(at, "Next"),
            "Next must be the name of a state (a string)",
        ),
        None if rule.is_object() => report(
            problems,
            at,
            "a Choice rule needs Next: the name of the state to go to when it matches",
        ),
        None => None,
    };
    let assign = rule
        .get("Assign")
        .and_then(|assign| parse_assign(assign, &field_path(at, "Assign"), true, problems));
    let condition = parse_rule(rule, at, true, problems);
    Some(Choice {
        condition: condition?,
        next: next?,
        output: None,
        assign,
    })
}

/// A rule at `at`, top-level (where `Next` belongs, and is read by the
/// caller) or nested. `None` when it has any problem.
pub(super) fn parse_rule(
    rule: &Value,
    at: &str,
    top: bool,
    problems: &mut Vec<Problem>,
) -> Option<Condition> {
    let Some(fields) = rule.as_object() else {
        return report(problems, at, "a Choice rule must be an object");
    };
    let before = problems.len();
    let mut operators = Vec::new();
    let mut unknown = false;
    for (name, value) in fields {
        let here = || field_path(at, name);
        match name.as_str() {
            "Variable" => {}
            "Comment" if !value.is_string() => {
                problems.push(Problem::new(here(), "Comment must be a string"))
            }
            "Comment" => {}
            "Next" if !top => {
                let message =
                    "Next belongs only in a top-level Choice rule, not in a rule inside And, Or or Not";
                problems.push(Problem::new(here(), message));
            }
            "Next" => {}
            "Assign" if !top => {
                let message =
                    "Assign belongs only in a top-level Choice rule, not in a rule inside And, Or or Not";
                problems.push(Problem::new(here(), message));
            }
            "Assign" => {}
            _ => match Operator::named(name) {
                Some(operator) => operators.push((name.as_str(), operator, value)),
                None => {
                    unknown = true;
                    problems.push(Problem::new(here(), unknown_field(name)));
                }
            },
        }
    }
    let variable = parse_variable(fields, at, &operators, problems);
    let condition = match operators.as_slice() {
        // An unknown field is most likely the operator misspelt: said already.
        [] if unknown => None,
        [] => report(
            problems,
            at,
            "a Choice rule needs one operator: a comparison such as StringEquals or NumericLessThan \
             with a Variable, a type test such as IsPresent, or And, Or or Not",
        ),
        [(name, operator, value)] => {
            parse_operator(name, *operator, value, variable, &field_path(at, name), problems)
        }
        many => {
            let names: Vec<&str> = many.iter().map(|(name, _, _)| *name).collect();
            let message = format!(
                "a Choice rule takes exactly one operator but this one has {} ({}); combine rules with And or Or",
                names.len(),
                names.join(", ")
            );
            report(problems, at, message)
        }
    };
    condition.filter(|_| problems.len() == before)
}

/// The rule's `Variable`, checked against what its operator needs.
fn parse_variable(
    fields: &Map<String, Value>,
    at: &str,
    operators: &[(&str, Operator, &Value)],
    problems: &mut Vec<Problem>,
) -> Option<Path> {
    let only = match operators {
        [(name, operator, _)] => Some((*name, *operator)),
        _ => None,
    };
    match (fields.get("Variable"), only) {
        (None, Some((name, operator))) if operator.reads_variable() => {
            let message = format!("{name} needs a Variable: the path of the value to test, such as $.total");
            report(problems, at, message)
        }
        (None, _) => None,
        (Some(_), Some((name, operator))) if !operator.reads_variable() => {
            let message = format!("{name} takes no Variable: give each rule inside it its own");
            report(problems, field_path(at, "Variable"), message)
        }
        (Some(value), _) => parse_path(value, &field_path(at, "Variable"), "Variable", problems),
    }
}

/// A reference path (names and indexes only) on the input or the context object.
fn parse_path(value: &Value, at: &str, field: &str, problems: &mut Vec<Problem>) -> Option<Path> {
    let message = match value.as_str().map(Path::parse) {
        None => format!("{field} must be a path string such as $.order.total"),
        Some(Err(error)) => format!("{field}: {error}"),
        Some(Ok(path)) if path.is_definite() => return Some(path),
        Some(Ok(path)) => format!(
            "{field} must be a reference path naming one value (only .name, ['name'] and [n] steps), not {:?}",
            path.as_str()
        ),
    };
    report(problems, at, message)
}

/// The condition an operator field at `at` makes.
fn parse_operator(
    name: &str,
    operator: Operator,
    value: &Value,
    variable: Option<Path>,
    at: &str,
    problems: &mut Vec<Problem>,
) -> Option<Condition> {
    match operator {
        Operator::And | Operator::Or => {
            let items = match value.as_array() {
                Some(items) if !items.is_empty() => items,
                _ => {
                    return report(
                        problems,
                        at,
                        format!("{name} takes a non-empty array of Choice rules"),
                    );
                }
            };
            let rules: Vec<Option<Condition>> = items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_rule(item, &format!("{at}[{i}]"), false, problems))
                .collect();
            let rules = rules.into_iter().collect::<Option<Vec<_>>>()?;
            let make = if operator == Operator::And {
                Condition::And
            } else {
                Condition::Or
            };
            Some(make(rules))
        }
        Operator::Not if !value.is_object() => report(problems, at, "Not takes one Choice rule (an object)"),
        Operator::Not => Some(Condition::Not(Box::new(parse_rule(value, at, false, problems)?))),
        Operator::Test(test) => match value.as_bool() {
            Some(expected) => Some(Condition::Test {
                variable: variable?,
                test,
                expected,
            }),
            None => report(problems, at, format!("{name} takes true or false")),
        },
        Operator::Compare(kind, relation, true) => {
            let path = parse_path(value, at, name, problems)?;
            compare(variable?, kind, relation, Operand::Path(path))
        }
        Operator::Compare(kind, relation, false) if kind.fits(value) => {
            compare(variable?, kind, relation, Operand::Value(value.clone()))
        }
        Operator::Compare(kind, ..) => report(problems, at, format!("{name} takes {}", kind.expects())),
    }
}

/// Records a problem; `None`, for what could not be parsed.
fn report<T>(problems: &mut Vec<Problem>, at: impl Into<String>, message: impl Into<String>) -> Option<T> {
    problems.push(Problem::new(at, message));
    None
}

fn compare(variable: Path, kind: Kind, relation: Relation, operand: Operand) -> Option<Condition> {
    Some(Condition::Compare {
        variable,
        kind,
        relation,
        operand,
    })
}

/// What to say about a field no rule has, with the field meant when only
/// its case is wrong.
fn unknown_field(name: &str) -> String {
    let operators = KINDS.iter().flat_map(|(kind, _)| {
        RELATIONS
            .iter()
            .flat_map(move |(relation, _)| ["", "Path"].map(|suffix| format!("{kind}{relation}{suffix}")))
    });
    let mut known = ["And", "Or", "Not"]
        .into_iter()
        .chain(OTHER_FIELDS)
        .chain(TESTS.map(|(test, _)| test))
        .map(str::to_owned)
        .chain(operators)
        .filter(|known| OTHER_FIELDS.contains(&known.as_str()) || Operator::named(known).is_some());
    let mut message = format!("{name:?} is not a field of a Choice rule");
    match known.find(|known| known.eq_ignore_ascii_case(name)) {
        Some(known) => message.push_str(&format!(": did you mean {known}?")),
        None => message.push_str(
            ": a rule has a Variable with one comparison or type test (StringEquals, \
             NumericLessThanPath, IsPresent...), or one of And, Or, Not; and may have a Comment",
        ),
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::choice::parse_choices;
    use serde_json::json;

    const AT: &str = "$.States.Check.Choices";

    /// The paths of the problems `choices` has, sorted, and the number of
    /// choices parsed.
    fn problems_of(choices: Value) -> (Vec<String>, usize, Vec<Problem>) {
        let mut problems = Vec::new();
        let parsed = parse_choices(&choices, AT, &mut problems);
        let mut paths: Vec<String> = problems.iter().map(|p| p.path.clone()).collect();
        paths.sort();
        (paths, parsed.len(), problems)
    }

    #[test]
    fn choices_parse_in_order_with_their_next() {
        let mut problems = Vec::new();
        let choices = parse_choices(
            &json!([
                {"Variable": "$.n", "NumericEquals": 1, "Next": "One", "Comment": "the first"},
                {"Not": {"Variable": "$.s", "IsNull": true, "Comment": "nested"}, "Next": "Other"},
                {"And": [{"Variable": "$.a", "StringEqualsPath": "$$.Execution.Id"}], "Next": "Third"},
            ]),
            AT,
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let path = |text: &str| Path::parse(text).expect("a path");
        assert_eq!(
            choices,
            vec![
                Choice {
                    condition: Condition::Compare {
                        variable: path("$.n"),
                        kind: Kind::Numeric,
                        relation: Relation::Equals,
                        operand: Operand::Value(json!(1)),
                    },
                    next: "One".to_owned(),
                    output: None,
                    assign: None,
                },
                Choice {
                    condition: Condition::Not(Box::new(Condition::Test {
                        variable: path("$.s"),
                        test: TypeTest::IsNull,
                        expected: true,
                    })),
                    next: "Other".to_owned(),
                    output: None,
                    assign: None,
                },
                Choice {
                    condition: Condition::And(vec![Condition::Compare {
                        variable: path("$.a"),
                        kind: Kind::String,
                        relation: Relation::Equals,
                        operand: Operand::Path(path("$$.Execution.Id")),
                    }]),
                    next: "Third".to_owned(),
                    output: None,
                    assign: None,
                },
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_at_its_path() {
        let ok = json!({"Variable": "$.a", "IsNull": true});
        let c0 = |rest: &str| format!("{AT}[0]{rest}");
        let cases: Vec<(Value, Vec<String>)> = vec![
            (json!({}), vec![AT.to_owned()]),
            (json!([]), vec![AT.to_owned()]),
            (json!("rules"), vec![AT.to_owned()]),
            (json!([1]), vec![c0("")]),
            (json!([{"Variable": "$.a", "IsNull": true}]), vec![c0("")]),
            (
                json!([{"Variable": "$.a", "IsNull": true, "Next": 1}]),
                vec![c0(".Next")],
            ),
            (
                json!([{"And": [{"Variable": "$.a", "IsNull": true, "Next": "X"}], "Next": "A"}]),
                vec![c0(".And[0].Next")],
            ),
            (
                json!([{"Not": {"Variable": "$.a", "IsNull": true, "Next": "X"}, "Next": "A"}]),
                vec![c0(".Not.Next")],
            ),
            (json!([{"Variable": "$.a", "Next": "A"}]), vec![c0("")]),
            (json!([{"Next": "A"}]), vec![c0("")]),
            (
                json!([{"Variable": "$.a", "IsNull": true, "IsString": true, "Next": "A"}]),
                vec![c0("")],
            ),
            (
                json!([{"Variable": "$.a", "IsNull": true, "Next": "A", "Foo": 1}]),
                vec![c0(".Foo")],
            ),
            (
                json!([{"Variable": "$.a", "IsNull": true, "Next": "A", "Foo Bar": 1}]),
                vec![c0("['Foo Bar']")],
            ),
            (
                json!([{"Variable": "$.a", "StringMatchesPath": "$.b", "Next": "A"}]),
                vec![c0(".StringMatchesPath")],
            ),
            (
                json!([{"Variable": "$.a", "BooleanLessThan": true, "Next": "A"}]),
                vec![c0(".BooleanLessThan")],
            ),
            (
                json!([{"Variable": "$.a", "NumericMatches": 1, "Next": "A"}]),
                vec![c0(".NumericMatches")],
            ),
            (json!([{"NumericEquals": 1, "Next": "A"}]), vec![c0("")]),
            (
                json!([{"Variable": 1, "NumericEquals": 1, "Next": "A"}]),
                vec![c0(".Variable")],
            ),
            (
                json!([{"Variable": "a.b", "NumericEquals": 1, "Next": "A"}]),
                vec![c0(".Variable")],
            ),
            (
                json!([{"Variable": "$.a[*]", "NumericEquals": 1, "Next": "A"}]),
                vec![c0(".Variable")],
            ),
            (
                json!([{"Variable": "$..a", "NumericEquals": 1, "Next": "A"}]),
                vec![c0(".Variable")],
            ),
            (
                json!([{"Variable": "$.a", "And": [ok], "Next": "A"}]),
                vec![c0(".Variable")],
            ),
            (
                json!([{"Variable": "$.a", "NumericEquals": "1", "Next": "A"}]),
                vec![c0(".NumericEquals")],
            ),
            (
                json!([{"Variable": "$.a", "NumericLessThan": null, "Next": "A"}]),
                vec![c0(".NumericLessThan")],
            ),
            (
                json!([{"Variable": "$.a", "StringEquals": 1, "Next": "A"}]),
                vec![c0(".StringEquals")],
            ),
            (
                json!([{"Variable": "$.a", "StringMatches": ["*"], "Next": "A"}]),
                vec![c0(".StringMatches")],
            ),
            (
                json!([{"Variable": "$.a", "BooleanEquals": "true", "Next": "A"}]),
                vec![c0(".BooleanEquals")],
            ),
            (
                json!([{"Variable": "$.a", "TimestampEquals": "2020-01-01", "Next": "A"}]),
                vec![c0(".TimestampEquals")],
            ),
            (
                json!([{"Variable": "$.a", "TimestampEquals": "2020-01-01t00:00:00z", "Next": "A"}]),
                vec![c0(".TimestampEquals")],
            ),
            (
                json!([{"Variable": "$.a", "TimestampLessThan": 1577836800, "Next": "A"}]),
                vec![c0(".TimestampLessThan")],
            ),
            (
                json!([{"Variable": "$.a", "IsNull": "yes", "Next": "A"}]),
                vec![c0(".IsNull")],
            ),
            (
                json!([{"Variable": "$.a", "IsPresent": 1, "Next": "A"}]),
                vec![c0(".IsPresent")],
            ),
            (
                json!([{"Variable": "$.a", "NumericEqualsPath": "nope", "Next": "A"}]),
                vec![c0(".NumericEqualsPath")],
            ),
            (
                json!([{"Variable": "$.a", "NumericEqualsPath": 3, "Next": "A"}]),
                vec![c0(".NumericEqualsPath")],
            ),
            (
                json!([{"Variable": "$.a", "StringEqualsPath": "$.b[?(@.c)]", "Next": "A"}]),
                vec![c0(".StringEqualsPath")],
            ),
            (json!([{"And": [], "Next": "A"}]), vec![c0(".And")]),
            (
                json!([{"Or": {"Variable": "$.a", "IsNull": true}, "Next": "A"}]),
                vec![c0(".Or")],
            ),
            (json!([{"Or": [ok, 2], "Next": "A"}]), vec![c0(".Or[1]")]),
            (json!([{"Not": [ok], "Next": "A"}]), vec![c0(".Not")]),
            (json!([{"Not": {}, "Next": "A"}]), vec![c0(".Not")]),
            (
                json!([{"Variable": "$.a", "IsNull": true, "Comment": 5, "Next": "A"}]),
                vec![c0(".Comment")],
            ),
            (
                json!([{"And": [ok, {"Not": {"Variable": "$.a", "NumericEquals": "x"}}], "Next": "A"}]),
                vec![c0(".And[1].Not.NumericEquals")],
            ),
            (
                json!([{"Or": [{"Variable": "$.a"}, {"And": [ok, {"Variable": "$.b", "StringEquals": 1, "Next": "B"}]}], "Next": "A"}]),
                vec![
                    c0(".Or[0]"),
                    c0(".Or[1].And[1].Next"),
                    c0(".Or[1].And[1].StringEquals"),
                ],
            ),
            (
                json!([{"Variable": "$[", "NumericEquals": "1", "Bogus": true}]),
                vec![c0(""), c0(".Bogus"), c0(".NumericEquals"), c0(".Variable")],
            ),
            (
                json!([{"Variable": "$.a", "Bogus": true, "Next": "A"}]),
                vec![c0(".Bogus")],
            ),
        ];
        for (choices, expected) in cases {
            let (paths, parsed, problems) = problems_of(choices.clone());
            let mut expected = expected;
            expected.sort();
            assert_eq!(paths, expected, "{choices}: {problems:?}");
            assert_eq!(parsed, 0, "{choices}");
            assert!(problems.iter().all(|p| p.message.len() > 15), "{problems:?}");
        }
    }

    #[test]
    fn the_good_choices_are_kept_and_every_bad_one_reported() {
        let (paths, parsed, _) = problems_of(json!([
            {"Variable": "$.a", "NumericEquals": "1", "Next": "A"},
            {"Variable": "$.a", "NumericEquals": 1, "Next": "B"},
            {"Variable": "$.a", "IsNull": true},
            {"Variable": "$.a", "StringEquals": "x", "Next": "D"},
        ]));
        assert_eq!(paths, vec![format!("{AT}[0].NumericEquals"), format!("{AT}[2]")]);
        assert_eq!(parsed, 2);
    }

    #[test]
    fn messages_say_what_to_do() {
        let message = |choices: Value| {
            problems_of(choices)
                .2
                .into_iter()
                .map(|p| p.message)
                .collect::<Vec<_>>()
        };
        let one = |choices: Value| message(choices).join(" | ");
        assert!(
            one(json!([{"Variable": "$.a", "stringEquals": "x", "Next": "A"}]))
                .contains("did you mean StringEquals?")
        );
        assert!(
            one(json!([{"Variable": "$.a", "numericequalspath": "$.b", "Next": "A"}]))
                .contains("did you mean NumericEqualsPath?")
        );
        assert!(
            one(json!([{"Variable": "$.a", "IsNull": true, "next": "A"}])).contains("did you mean Next?")
        );
        assert!(
            one(json!([{"Variable": "$.a", "NumericEquals": "1", "Next": "A"}])).contains("takes a number")
        );
        assert!(one(json!([{"Variable": "$.a", "TimestampEquals": "x", "Next": "A"}])).contains("RFC 3339"));
        assert!(
            one(json!([{"Variable": "$.a", "IsNull": true, "IsString": true, "Next": "A"}]))
                .contains("IsNull, IsString")
        );
        assert!(one(json!([{"NumericEquals": 1, "Next": "A"}])).contains("NumericEquals needs a Variable"));
        assert!(one(json!([{"Variable": "$.a[*]", "IsNull": true, "Next": "A"}])).contains("reference path"));
        assert!(
            one(json!([{"And": [{"Variable": "$.a", "IsNull": true, "Next": "A"}], "Next": "A"}]))
                .contains("top-level")
        );
    }
}
