//! Paths: where a state reads its input and writes its result.
//!
//! - [`Path`]: a JSONPath query (RFC 9535, by `serde_json_path`) on the
//!   state's input (`$...`), on the context object (`$$...`) or on a
//!   workflow variable (`$name...`), read through [`Bindings`]. A definite
//!   path (names and indexes only) selects one value or fails; any other
//!   selects the array of every match, as Step Functions does.
//! - `reference`: [`ReferencePath`], a definite path that names one node
//!   of the input: `ResultPath` writes a result there (creating the
//!   objects on the way), and the event rules' input transformer reads
//!   from one. It never names a variable.
//!
//! Written by hand: member names that RFC 9535's dot shorthand refuses but
//! Step Functions accepts (`$.detail-type`) are rewritten in bracket form
//! before parsing.

mod reference;
#[cfg(test)]
mod tests;

pub use reference::ReferencePath;

use crate::variables;
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
    /// A path reads a variable that no state has assigned (in this scope
    /// or the scopes around it).
    #[error("the JSONPath {path:?} reads the variable ${name}, which no state has assigned yet")]
    Unassigned {
        /// The path.
        path: String,
        /// The variable's name.
        name: String,
    },
    /// A definite path into a variable matched nothing.
    #[error("the JSONPath {path:?} could not be found in the variable ${name}: {value}")]
    NotInVariable {
        /// The path.
        path: String,
        /// The variable's name.
        name: String,
        /// Its value, abridged.
        value: String,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// The state's input (effective input): `$`.
    Input,
    /// The context object: `$$`.
    Context,
    /// The workflow variable of this name: `$name`.
    Variable(String),
}

/// One step of a definite path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `.name` or `['name']`.
    Field(String),
    /// `[n]`.
    Index(usize),
}

/// What a path reads besides the value it is applied to: the context
/// object (`$$`) and the workflow variables the state sees (`$name`), as
/// they were when the state was entered.
#[derive(Debug, Clone, Copy)]
pub struct Bindings<'a> {
    /// The context object.
    pub context: &'a Value,
    /// The variables, by name.
    pub variables: &'a Map<String, Value>,
}

impl<'a> Bindings<'a> {
    /// The context object `context` and the variables `variables`.
    pub fn new(context: &'a Value, variables: &'a Map<String, Value>) -> Self {
        Self { context, variables }
    }
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
    /// Parses `text`, which starts with `$` (the input), `$$` (the context
    /// object) or `$name` (a workflow variable).
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason: &str| PathError::Invalid {
            path: text.to_owned(),
            reason: reason.to_owned(),
        };
        let (root, rest) = match text.strip_prefix("$$") {
            Some(rest) => (Root::Context, rest),
            None => match text.strip_prefix('$') {
                Some(rest) => match variable_name(rest) {
                    Some(name) => {
                        variables::check_name(name).map_err(|why| invalid(&why))?;
                        if name == variables::RESERVED {
                            return Err(invalid(
                                "$states belongs to JSONata states; a JSONPath state reads its input with $ and the context object with $$",
                            ));
                        }
                        (Root::Variable(name.to_owned()), &rest[name.len()..])
                    }
                    None => (Root::Input, rest),
                },
                None => {
                    return Err(invalid(
                        "a path starts with $ (the input), $$ (the context object) or $name (a variable)",
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
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// Whether it names one node.
    pub fn is_definite(&self) -> bool {
        self.definite.is_some()
    }

    /// The value at a definite path, or `None` when nothing is there (or
    /// the variable it reads is unassigned); the array of matches (perhaps
    /// empty) for any other path.
    pub fn find(&self, input: &Value, bindings: &Bindings<'_>) -> Option<Value> {
        let doc = self.document(input, bindings)?;
        match &self.definite {
            Some(steps) => walk(doc, steps).cloned(),
            None => Some(Value::Array(
                self.query.query(doc).all().into_iter().cloned().collect(),
            )),
        }
    }

    /// Like [`Path::find`], but a definite path that matches nothing, or a
    /// variable no state has assigned, is an error naming the path.
    pub fn select(&self, input: &Value, bindings: &Bindings<'_>) -> Result<Value> {
        if let Some(value) = self.find(input, bindings) {
            return Ok(value);
        }
        let path = self.text.clone();
        Err(match &self.root {
            Root::Input => PathError::NoMatch {
                path,
                input: abridged(input),
            },
            Root::Context => PathError::NoMatch {
                path,
                input: abridged(bindings.context),
            },
            Root::Variable(name) => match bindings.variables.get(name) {
                None => PathError::Unassigned {
                    path,
                    name: name.clone(),
                },
                Some(value) => PathError::NotInVariable {
                    path,
                    name: name.clone(),
                    value: abridged(value),
                },
            },
        })
    }

    /// The document the path reads; `None` for an unassigned variable.
    fn document<'v>(&self, input: &'v Value, bindings: &Bindings<'v>) -> Option<&'v Value> {
        match &self.root {
            Root::Input => Some(input),
            Root::Context => Some(bindings.context),
            Root::Variable(name) => bindings.variables.get(name),
        }
    }
}

/// The variable name at the start of `rest` (a path after its `$`): a
/// letter or `_` and what follows up to the first `.` or `[`; `None` when
/// `rest` reads the input.
fn variable_name(rest: &str) -> Option<&str> {
    let first = rest.chars().next()?;
    if !(first.is_alphabetic() || first == '_') {
        return None;
    }
    let end = rest.find(['.', '[']).unwrap_or(rest.len());
    Some(&rest[..end])
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
