//! Paths: where a state reads its input and writes its result.
//!
//! - [`Path`]: a JSONPath query (RFC 9535, by `serde_json_path`) on the
//!   state's input (`$...`) or on the context object (`$$...`). A definite
//!   path (names and indexes only) selects one value or fails; any other
//!   selects the array of every match, as Step Functions does.
//! - [`ReferencePath`]: a definite path that names one node of the input:
//!   `ResultPath` writes a result there (creating the objects on the way),
//!   and the event rules' input transformer reads from one.
//!
//! Written by hand: member names that RFC 9535's dot shorthand refuses but
//! Step Functions accepts (`$.detail-type`) are rewritten in bracket form
//! before parsing.

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

/// Why a path was refused or selected nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Not a path.
    #[error("{path:?} is not a valid path: {reason}")]
    Invalid {
        /// The text given.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A definite path matched nothing.
    #[error("the JSONPath {path:?} could not be found in the input {input}")]
    NoMatch {
        /// The path.
        path: String,
        /// The input, abridged.
        input: String,
    },
    /// A result could not be written where `ResultPath` says.
    #[error("unable to apply ResultPath {path:?}: {reason}")]
    CannotWrite {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
}

type Result<T, E = PathError> = std::result::Result<T, E>;

/// What a path reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// The state's input (effective input): `$`.
    Input,
    /// The context object: `$$`.
    Context,
}

/// One step of a definite path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `.name` or `['name']`.
    Field(String),
    /// `[n]`.
    Index(usize),
}

/// A parsed path.
#[derive(Debug, Clone)]
pub struct Path {
    text: String,
    root: Root,
    query: JsonPath,
    /// Set when the path names one node: it selects that value.
    definite: Option<Vec<Step>>,
}

impl PartialEq for Path {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Path {
    /// Parses `text`, which starts with `$` or `$$`.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason: &str| PathError::Invalid {
            path: text.to_owned(),
            reason: reason.to_owned(),
        };
        let (root, rest) = match text.strip_prefix("$$") {
            Some(rest) => (Root::Context, rest),
            None => match text.strip_prefix('$') {
                Some(rest) => (Root::Input, rest),
                None => {
                    return Err(invalid(
                        "a path starts with $ (the input) or $$ (the context object)",
                    ));
                }
            },
        };
        let normalized = format!("${}", normalize(rest));
        let query = JsonPath::parse(&normalized).map_err(|e| invalid(&e.to_string()))?;
        let definite = definite_steps(rest).ok();
        Ok(Self {
            text: text.to_owned(),
            root,
            query,
            definite,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// What it reads.
    pub fn root(&self) -> Root {
        self.root
    }

    /// Whether it names one node.
    pub fn is_definite(&self) -> bool {
        self.definite.is_some()
    }

    /// The value at a definite path, or `None` when nothing is there; the
    /// array of matches (perhaps empty) for any other path.
    pub fn find(&self, input: &Value, context: &Value) -> Option<Value> {
        let doc = match self.root {
            Root::Input => input,
            Root::Context => context,
        };
        match &self.definite {
            Some(steps) => walk(doc, steps).cloned(),
            None => Some(Value::Array(
                self.query.query(doc).all().into_iter().cloned().collect(),
            )),
        }
    }

    /// Like [`Path::find`], but a definite path that matches nothing is an
    /// error naming the path.
    pub fn select(&self, input: &Value, context: &Value) -> Result<Value> {
        self.find(input, context).ok_or_else(|| PathError::NoMatch {
            path: self.text.clone(),
            input: abridged(match self.root {
                Root::Input => input,
                Root::Context => context,
            }),
        })
    }
}

/// A path that names one node of the input, where a result is written or a
/// value read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferencePath {
    text: String,
    steps: Vec<Step>,
}

impl ReferencePath {
    /// Parses `text`: `$`, then `.name`, `['name']` or `[n]` steps.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason: &str| PathError::Invalid {
            path: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text.starts_with("$$") {
            return Err(invalid(
                "a reference path names a node of the input, not of the context object ($$)",
            ));
        }
        let rest = text
            .strip_prefix('$')
            .ok_or_else(|| invalid("a reference path starts with $"))?;
        let steps = definite_steps(rest).map_err(|reason| {
            invalid(&format!(
                "a reference path names one node with .name, ['name'] and [n] steps: {reason}"
            ))
        })?;
        Ok(Self {
            text: text.to_owned(),
            steps,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at the path.
    pub fn get<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        walk(doc, &self.steps)
    }

    /// `doc` with `value` written at the path: `$` replaces the whole,
    /// missing objects on the way are created, and an existing value that
    /// is in the way and cannot hold the step is an error.
    pub fn set(&self, mut doc: Value, value: Value) -> Result<Value> {
        let Some((last, parents)) = self.steps.split_last() else {
            return Ok(value);
        };
        let cannot = |reason: String| PathError::CannotWrite {
            path: self.text.clone(),
            reason,
        };
        let mut node = &mut doc;
        for step in parents {
            node = match step {
                Step::Field(name) => {
                    let Value::Object(map) = node else {
                        return Err(cannot(format!("the node before {name:?} is not an object")));
                    };
                    map.entry(name.clone())
                        .or_insert_with(|| Value::Object(Map::new()))
                }
                Step::Index(i) => match node {
                    Value::Array(items) if *i < items.len() => &mut items[*i],
                    _ => return Err(cannot(format!("there is no array element [{i}]"))),
                },
            };
        }
        match last {
            Step::Field(name) => match node {
                Value::Object(map) => {
                    map.insert(name.clone(), value);
                }
                _ => return Err(cannot(format!("the node before {name:?} is not an object"))),
            },
            Step::Index(i) => match node {
                Value::Array(items) if *i < items.len() => items[*i] = value,
                _ => return Err(cannot(format!("there is no array element [{i}]"))),
            },
        }
        Ok(doc)
    }
}

fn walk<'a>(mut doc: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    for step in steps {
        doc = match step {
            Step::Field(name) => doc.as_object()?.get(name)?,
            Step::Index(i) => doc.as_array()?.get(*i)?,
        };
    }
    Some(doc)
}

/// The input in an error message, cut to a readable length.
pub(crate) fn abridged(value: &Value) -> String {
    const MAX: usize = 256;
    let text = value.to_string();
    if text.len() <= MAX {
        return text;
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// The steps of `rest` (a path after its `$`) when it has only name and
/// index steps; otherwise what stops it naming one node.
fn definite_steps(rest: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'.' if bytes.get(i + 1) == Some(&b'[') => i += 1,
            b'.' => {
                let start = i + 1;
                let mut end = start;
                while end < bytes.len() && !matches!(bytes[end], b'.' | b'[') {
                    end += 1;
                }
                let name = &rest[start..end];
                if name.is_empty() {
                    return Err("a field name is empty (.. or a trailing dot)".into());
                }
                if name.contains(['*', ' ', '(', ')', '?', '@', ']', '\'', '"']) {
                    return Err(format!("{name:?} is not a plain field name"));
                }
                steps.push(Step::Field(name.to_owned()));
                i = end;
            }
            b'[' => {
                let close = rest[i..].find(']').ok_or("a '[' is not closed")? + i;
                let inner = rest[i + 1..close].trim();
                if let Some(quoted) = quoted(inner) {
                    steps.push(Step::Field(quoted));
                } else if let Some(index) = inner
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| inner.parse().ok())
                    .flatten()
                {
                    steps.push(Step::Index(index));
                } else {
                    return Err(format!(
                        "[{inner}] is neither an index (a whole number) nor a quoted 'name'"
                    ));
                }
                i = close + 1;
            }
            _ => return Err(format!("expected '.' or '[' at {:?}", &rest[i..])),
        }
    }
    Ok(steps)
}

/// `'name'` or `"name"` without quotes inside.
fn quoted(inner: &str) -> Option<String> {
    let q = inner.chars().next()?;
    if !matches!(q, '\'' | '"') || inner.len() < 2 || !inner.ends_with(q) {
        return None;
    }
    let body = &inner[1..inner.len() - 1];
    (!body.contains(q) && !body.contains('\\')).then(|| body.to_owned())
}

/// `rest` with every dot-shorthand member name that RFC 9535 refuses
/// (`.detail-type`) in bracket form; brackets and filters left as they are.
fn normalize(rest: &str) -> String {
    let mut out = String::with_capacity(rest.len() + 8);
    let mut chars = rest.char_indices().peekable();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    while let Some((_, c)) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth = depth.saturating_sub(1),
            '\'' | '"' if depth > 0 => quote = Some(c),
            _ => {}
        }
        let after_dot = out.ends_with('.');
        if c == '.' && depth == 0 && !after_dot && chars.peek().is_some_and(|(_, n)| *n == '[') {
            // `$.a.['b c']`, as AWS's examples write it: the bracket alone.
            continue;
        }
        if c == '.'
            && depth == 0
            && chars
                .peek()
                .is_some_and(|(_, n)| *n != '.' && *n != '*' && *n != '[')
        {
            let mut name = String::new();
            while let Some((_, n)) = chars.peek() {
                if matches!(n, '.' | '[') {
                    break;
                }
                name.push(*n);
                chars.next();
            }
            let shorthand = name
                .chars()
                .next()
                .is_some_and(|f| f.is_alphabetic() || f == '_' || !f.is_ascii())
                && name
                    .chars()
                    .all(|n| n.is_alphanumeric() || n == '_' || !n.is_ascii());
            if shorthand {
                out.push('.');
                out.push_str(&name);
            } else {
                out.push_str("['");
                out.push_str(&name.replace('\\', "\\\\").replace('\'', "\\'"));
                out.push_str("']");
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn select(path: &str, input: Value) -> Result<Value> {
        Path::parse(path)?.select(&input, &json!({"Execution": {"Id": "x1"}}))
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
}
