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
