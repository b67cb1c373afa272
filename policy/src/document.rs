//! Policy documents: the AWS grammar, parsed and validated into a
//! [`Policy`] that is known to be well formed.

use crate::condition::Condition;
use crate::context::Request;
use crate::glob::{self, Colons, Token};
use crate::template::Template;
use serde_json::{Map, Value};

/// The largest document accepted, in bytes of JSON.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;

/// Why a document was refused: where in it, and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PolicyError {
    /// A JSON path into the document, such as `Statement[1].Condition`.
    pub path: String,
    /// What is wrong, for a person.
    pub message: String,
}

fn err(path: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError {
        path: path.into(),
        message: message.into(),
    }
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants the action, unless a deny also applies.
    Allow,
    /// Refuses the action, whatever else allows it.
    Deny,
}

/// A valid policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
    document: Value,
}

/// One statement.
#[derive(Debug, Clone)]
pub struct Statement {
    sid: Option<String>,
    effect: Effect,
    actions: Clause<Vec<Token>>,
    resources: Clause<Template>,
    conditions: Vec<Condition>,
}

/// `Action` or `NotAction`, `Resource` or `NotResource`.
#[derive(Debug, Clone)]
enum Clause<T> {
    Listed(Vec<T>),
    AllBut(Vec<T>),
}

impl Statement {
    /// The statement's `Sid`, if it has one.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// `Allow` or `Deny`.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// Whether the statement applies to the request: its action, resource
    /// and every condition match.
    pub fn applies(&self, req: &Request<'_>) -> bool {
        let action = |p: &Vec<Token>| glob::matches(p, req.action, Colons::Free, true);
        let action_ok = match &self.actions {
            Clause::Listed(p) => p.iter().any(action),
            Clause::AllBut(p) => !p.iter().any(action),
        };
        if !action_ok {
            return false;
        }
        let resource = |t: &Template| t.matches(req.resource, req.context, false);
        let resource_ok = match &self.resources {
            Clause::Listed(t) => t.iter().any(resource),
            Clause::AllBut(t) => !t.iter().any(resource),
        };
        resource_ok && self.conditions.iter().all(|c| c.holds(req.context))
    }
}

impl Policy {
    /// Parses and validates a document given as JSON text.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(err(
                "$",
                format!(
                    "the document is {} bytes; the limit is {MAX_DOCUMENT_BYTES}",
                    text.len()
                ),
            ));
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| err("$", format!("not valid JSON: {e}")))?;
        Self::from_value(&value)
    }

    /// Validates a document already parsed as JSON.
    pub fn from_value(value: &Value) -> Result<Self, PolicyError> {
        let Value::Object(doc) = value else {
            return Err(err(
                "$",
                "a policy document is a JSON object with Version and Statement",
            ));
        };
        for key in doc.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(err(
                    key.clone(),
                    "unknown element; a document has Version, Id and Statement",
                ));
            }
        }
        // AWS: without a Version the old grammar applies, in which policy
        // variables are plain text.
        let variables = match doc.get("Version") {
            None => false,
            Some(Value::String(v)) if v == "2012-10-17" => true,
            Some(Value::String(v)) if v == "2008-10-17" => false,
            Some(_) => {
                return Err(err(
                    "Version",
                    "must be \"2012-10-17\" (or the older \"2008-10-17\")",
                ));
            }
        };
        if let Some(id) = doc.get("Id")
            && !id.is_string()
        {
            return Err(err("Id", "must be a string"));
        }
        let raw = match doc.get("Statement") {
            Some(Value::Array(list)) if list.is_empty() => {
                return Err(err("Statement", "the list of statements is empty"));
            }
            Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
            Some(one @ Value::Object(_)) => vec![one],
            Some(_) => return Err(err("Statement", "must be a statement object or a list of them")),
            None => {
                return Err(err(
                    "Statement",
                    "missing; a document needs at least one statement",
                ));
            }
        };
        let mut statements = Vec::with_capacity(raw.len());
        let mut sids = std::collections::HashSet::new();
        for (i, s) in raw.into_iter().enumerate() {
            let path = format!("Statement[{i}]");
            let statement = parse_statement(s, &path, variables)?;
            if let Some(sid) = &statement.sid
                && !sids.insert(sid.clone())
            {
                return Err(err(
                    format!("{path}.Sid"),
                    format!("the Sid {sid:?} is used twice"),
                ));
            }
            statements.push(statement);
        }
        Ok(Self {
            statements,
            document: value.clone(),
        })
    }

    /// The document as it was written.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Every `Resource` and `NotResource` string with its JSON path, for
    /// callers that accept only certain names (a store of policies for
    /// MiniCloud's own resources refuses AWS ARNs, say).
    pub fn resource_strings(&self) -> Vec<(String, String)> {
        let statements = match self.document.get("Statement") {
            Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
            Some(one) => vec![one],
            None => Vec::new(),
        };
        let mut out = Vec::new();
        for (i, s) in statements.iter().enumerate() {
            for key in ["Resource", "NotResource"] {
                match s.get(key) {
                    Some(Value::String(r)) => out.push((format!("Statement[{i}].{key}"), r.clone())),
                    Some(Value::Array(list)) => out.extend(list.iter().enumerate().filter_map(|(j, r)| {
                        Some((format!("Statement[{i}].{key}[{j}]"), r.as_str()?.to_owned()))
                    })),
                    _ => {}
                }
            }
        }
        out
    }

    /// The statements, in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
}

fn parse_statement(value: &Value, path: &str, variables: bool) -> Result<Statement, PolicyError> {
    let Value::Object(s) = value else {
        return Err(err(path, "a statement is a JSON object"));
    };
    for key in s.keys() {
        match key.as_str() {
            "Sid" | "Effect" | "Action" | "NotAction" | "Resource" | "NotResource" | "Condition" => {}
            "Principal" | "NotPrincipal" => {
                return Err(err(
                    format!("{path}.{key}"),
                    "identity policies name no principal: attach the policy to a user, key or role instead",
                ));
            }
            _ => return Err(err(format!("{path}.{key}"), "unknown statement element")),
        }
    }
    let sid = match s.get("Sid") {
        None => None,
        Some(Value::String(sid)) if sid.chars().all(|c| c.is_ascii_alphanumeric()) => Some(sid.clone()),
        Some(_) => {
            return Err(err(
                format!("{path}.Sid"),
                "must be a string of letters and digits",
            ));
        }
    };
    let effect = match s.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(_) => return Err(err(format!("{path}.Effect"), "must be \"Allow\" or \"Deny\"")),
        None => {
            return Err(err(
                format!("{path}.Effect"),
                "missing; say \"Allow\" or \"Deny\"",
            ));
        }
    };
    let actions = clause(s, path, "Action", "NotAction", |text, at| {
        parse_action(text).map_err(|m| err(at, m))
    })?;
    let resources = clause(s, path, "Resource", "NotResource", |text, at| {
        Template::parse(text, variables, Colons::SegmentTail).map_err(|e| err(at, e.to_string()))
    })?;
    let conditions = match s.get("Condition") {
        None => Vec::new(),
        Some(Value::Object(ops)) => {
            let mut out = Vec::new();
            for (op, keys) in ops {
                let at = format!("{path}.Condition.{op}");
                out.extend(Condition::parse(op, keys, variables).map_err(|m| err(at, m))?);
            }
            out
        }
        Some(_) => {
            return Err(err(
                format!("{path}.Condition"),
                "must map operators to keys, as in {\"StringEquals\": {\"mc:username\": \"alice\"}}",
            ));
        }
    };
    Ok(Statement {
        sid,
        effect,
        actions,
        resources,
        conditions,
    })
}

/// Reads `Action`/`NotAction` (or the resource pair): exactly one of them,
/// a string or a non-empty list of strings.
fn clause<T>(
    s: &Map<String, Value>,
    path: &str,
    listed: &str,
    all_but: &str,
    parse: impl Fn(&str, String) -> Result<T, PolicyError>,
) -> Result<Clause<T>, PolicyError> {
    let (name, value, negated) = match (s.get(listed), s.get(all_but)) {
        (Some(v), None) => (listed, v, false),
        (None, Some(v)) => (all_but, v, true),
        (Some(_), Some(_)) => {
            return Err(err(
                path,
                format!("a statement has {listed} or {all_but}, not both"),
            ));
        }
        (None, None) => return Err(err(path, format!("missing {listed} (or {all_but})"))),
    };
    let at = format!("{path}.{name}");
    let items = match value {
        Value::String(one) => vec![parse(one, at)?],
        Value::Array(list) if list.is_empty() => return Err(err(at, "the list is empty")),
        Value::Array(list) => list
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(text) => parse(text, format!("{at}[{i}]")),
                _ => Err(err(format!("{at}[{i}]"), "must be a string")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(err(at, "must be a string or a list of strings")),
    };
    Ok(if negated {
        Clause::AllBut(items)
    } else {
        Clause::Listed(items)
    })
}

/// `*`, or `service:Action` where the action part may hold wildcards.
fn parse_action(text: &str) -> Result<Vec<Token>, String> {
    if text == "*" {
        return Ok(glob::compile(text, Colons::Free));
    }
    let Some((service, action)) = text.split_once(':') else {
        return Err(format!(
            "{text:?} is not an action; write service:Action, such as functions:InvokeFunction, or *"
        ));
    };
    let service_ok = !service.is_empty() && service.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let action_ok = !action.is_empty()
        && action
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?');
    if !service_ok || !action_ok {
        return Err(format!(
            "{text:?} is not an action; write service:Action (letters, digits, and * or ? in the action)"
        ));
    }
    Ok(glob::compile(text, Colons::Free))
}
