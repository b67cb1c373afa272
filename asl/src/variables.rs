//! Workflow variables, as AWS's developer guide describes them ("Passing
//! data between states with variables"): their names, and `Assign`, the
//! object of a state, a Choice rule or a catcher that sets them.
//!
//! - A name is an identifier, as Step Functions' Unicode rules (UAX #31)
//!   have it, near enough: a letter of any script or `_`, then letters,
//!   digits and `_` (what the JSONata parser reads as a `$name`). It has
//!   at most [`MAX_NAME`] characters and is not [`RESERVED`]. Only whole
//!   variables are assigned: `"x.y"` is not a name.
//! - In a JSONata state, `Assign`'s values are templates whose `{% %}`
//!   strings are expressions. In a JSONPath state they are payload
//!   templates: a key ending in `.$` takes a path or an intrinsic call
//!   (the variable is the key without it), any other key a value written
//!   out, whose nested objects may have `.$` keys of their own.
//!
//! What `$` is in a JSONPath `Assign`, when new values take effect and how
//! scopes nest is the interpreter's and the validator's part (`machine`,
//! `definition`).

use crate::errors::{Problem, field_path};
use crate::jsonata::Template;
use crate::payload::Payload;
use serde_json::Value;

/// The longest variable name (Step Functions' limit).
pub const MAX_NAME: usize = 80;

/// The name no state may assign: JSONata states' `$states`.
pub const RESERVED: &str = "states";

/// A state's, Choice rule's or catcher's `Assign`.
#[derive(Debug, Clone, PartialEq)]
pub enum Assign {
    /// In a JSONPath state: an object payload template, keys without
    /// their `.$`.
    Payload(Payload),
    /// In a JSONata state: an object of templates.
    Jsonata(Template),
}

impl Assign {
    /// The JSONata template, in a JSONata state.
    pub fn jsonata(&self) -> Option<&Template> {
        match self {
            Self::Jsonata(t) => Some(t),
            Self::Payload(_) => None,
        }
    }

    /// The JSONata template, taken out, in a JSONata state.
    pub fn into_jsonata(self) -> Option<Template> {
        match self {
            Self::Jsonata(t) => Some(t),
            Self::Payload(_) => None,
        }
    }

    /// The payload template, in a JSONPath state.
    pub fn payload(&self) -> Option<&Payload> {
        match self {
            Self::Payload(p) => Some(p),
            Self::Jsonata(_) => None,
        }
    }

    /// The payload template, taken out, in a JSONPath state.
    pub fn into_payload(self) -> Option<Payload> {
        match self {
            Self::Payload(p) => Some(p),
            Self::Jsonata(_) => None,
        }
    }
}

/// Why `name` is not a variable name, if it is not one (`states` is a
/// name, reserved: [`RESERVED`]).
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let starts = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_');
    if !starts || !chars.all(|c| c.is_alphanumeric() || c == '_') {
        return Err(format!(
            "{name:?} is not a variable name: a letter or _, then letters, digits and _"
        ));
    }
    let length = name.chars().count();
    if length > MAX_NAME {
        return Err(format!(
            "a variable name has at most {MAX_NAME} characters; this one has {length}"
        ));
    }
    Ok(())
}

/// Parses `Assign` (at `at`) of a JSONPath state (`jsonpath`) or of a
/// JSONata one, pushing every problem: not an object, a name that is not
/// one or is reserved, a variable given twice (`x` and `x.$`), a bad path,
/// call or expression.
pub(crate) fn parse_assign(
    value: &Value,
    at: &str,
    jsonpath: bool,
    problems: &mut Vec<Problem>,
) -> Option<Assign> {
    let Some(map) = value.as_object() else {
        problems.push(Problem::new(
            at,
            "Assign must be an object of variable names to values",
        ));
        return None;
    };
    let mut seen = std::collections::BTreeSet::new();
    for key in map.keys() {
        let name = match key.strip_suffix(".$") {
            Some(name) if jsonpath => name,
            _ => key.as_str(),
        };
        let here = field_path(at, key);
        let refused = match check_name(name) {
            Err(why) => Some(why),
            Ok(()) if name == RESERVED => Some(format!(
                "${RESERVED} is reserved: Step Functions sets it in JSONata states"
            )),
            Ok(()) if !seen.insert(name) => Some(format!(
                "the variable {name} is assigned twice (as {name} and as {name}.$)"
            )),
            Ok(()) => None,
        };
        // Engine 1 took JSONata names of any length (and only of its
        // characters: letters, digits and _).
        let only_long = !jsonpath
            && name.chars().count() > MAX_NAME
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        match refused {
            Some(message) if only_long => problems.push(Problem::since(2, here, message)),
            Some(message) => problems.push(Problem::new(here, message)),
            None => {}
        }
    }
    Some(if jsonpath {
        Assign::Payload(Payload::parse(value, at, problems))
    } else {
        Assign::Jsonata(Template::parse(value, at, problems))
    })
}

/// The variables `Assign` (its JSON) sets: each key, and the name it
/// sets (the key without the `.$` of a JSONPath state's computed value).
pub(crate) fn assigned(assign: &Value) -> impl Iterator<Item = (&str, &str)> {
    assign
        .as_object()
        .into_iter()
        .flat_map(|map| map.keys())
        .map(|key| (key.as_str(), key.strip_suffix(".$").unwrap_or(key)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(assign: Value, jsonpath: bool) -> Vec<String> {
        let mut problems = Vec::new();
        parse_assign(&assign, "$.States.S.Assign", jsonpath, &mut problems);
        let mut paths: Vec<String> = problems.into_iter().map(|p| p.path).collect();
        paths.sort();
        paths
    }

    #[test]
    fn names_follow_unicode_identifier_rules() {
        for good in [
            "x",
            "_x",
            "orderTotal",
            "x2",
            "café",
            "名前",
            &"v".repeat(MAX_NAME),
        ] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "2x",
            "x.y",
            "x[2]",
            "x-y",
            "a b",
            "$x",
            &"v".repeat(MAX_NAME + 1),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn jsonpath_keys_lose_their_suffix_and_are_checked() {
        assert!(
            problems(
                json!({"a": 1, "b.$": "$.x", "c": {"d.$": "$$.Execution.Id"}}),
                true
            )
            .is_empty()
        );
        assert_eq!(
            problems(
                json!({"states": 1, "1x.$": "$.a", "ok.$": "nope", "y": 1, "y.$": "$"}),
                true
            ),
            [
                "$.States.S.Assign.states",
                "$.States.S.Assign['1x.$']",
                "$.States.S.Assign['ok.$']",
                "$.States.S.Assign['y.$']",
            ]
        );
        assert_eq!(problems(json!([1]), true), ["$.States.S.Assign"]);
        // In a JSONata state `.$` is no suffix: the key is no name.
        assert_eq!(problems(json!({"a.$": 1}), false), ["$.States.S.Assign['a.$']"]);
    }

    #[test]
    fn assigned_names_are_the_keys_without_suffix() {
        let assign = json!({"a": 1, "b.$": "$"});
        let names: Vec<(&str, &str)> = assigned(&assign).collect();
        assert_eq!(names, [("a", "a"), ("b.$", "b")]);
    }
}
