//! Input transformation: what a target receives instead of the whole event.
//!
//! - `{"path": "$.detail.order"}`: the part of the event at a JSON path
//!   (`$`, `.name`, `['name']` and `[index]` steps: one node, read with
//!   `minicloud_asl::paths::ReferencePath`, the workflows' own); null when
//!   absent.
//! - `{"paths": {"id": "$.detail.id"}, "template": "{\"order\": <id>}"}`:
//!   EventBridge's input transformer. A placeholder outside quotes becomes
//!   the value's JSON; inside quotes a string's characters (other values'
//!   JSON), escaped. Besides the named paths, `<aws.events.rule-name>`,
//!   `<aws.events.event>` (the whole event), `<aws.events.event.ingestion-time>`
//!   and `<minicloud.idempotency-key>` are defined. A result that is not
//!   JSON is delivered as a JSON string.
//! - `{"constant": ...}`: that JSON, whatever the event.

use minicloud_asl::paths::ReferencePath;
use serde_json::Value;
use std::collections::BTreeMap;

/// Paths a template may name (EventBridge's limit).
const MAX_PATHS: usize = 100;
/// Longest template.
const MAX_TEMPLATE_BYTES: usize = 8192;
/// The largest input a transform may produce (EventBridge's event size):
/// an 8 KiB template of `<aws.events.event>` placeholders would otherwise
/// copy a large event hundreds of times on every attempt.
pub const MAX_INPUT_BYTES: usize = 256 * 1024;

/// Why a transformation was refused; its text starts with the field
/// (`.path: ...`) so it reads after `targets[0].input`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransformError(String);

/// A piece of a template.
#[derive(Debug, Clone)]
pub enum Piece {
    /// Copied as is.
    Text(String),
    /// A placeholder, and whether it sits inside a JSON string.
    Hole(String, bool),
}

/// A compiled input transformation.
#[derive(Debug, Clone)]
pub enum InputTransform {
    /// The value at a path.
    Path(ReferencePath),
    /// A template filled from paths.
    Template {
        /// Named paths.
        paths: BTreeMap<String, ReferencePath>,
        /// The template, cut at its placeholders.
        pieces: Vec<Piece>,
    },
    /// A fixed input.
    Constant(Value),
}

/// What a transformation may draw on beside the event.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The rule's name.
    pub rule_name: &'a str,
    /// The delivery's idempotency key.
    pub idempotency_key: &'a str,
    /// When the event was accepted, RFC 3339.
    pub ingestion_time: &'a str,
}

const PREDEFINED: &[&str] = &[
    "aws.events.rule-name",
    "aws.events.event",
    "aws.events.event.json",
    "aws.events.event.ingestion-time",
    "minicloud.idempotency-key",
];

fn err(field: &str, message: impl std::fmt::Display) -> TransformError {
    TransformError(format!(".{field}: {message}"))
}

impl InputTransform {
    /// Compiles `{"path"}`, `{"paths", "template"}` or `{"constant"}`.
    pub fn compile(v: &Value) -> Result<Self, TransformError> {
        let Some(obj) = v.as_object() else {
            return Err(TransformError(
                ": must be an object with \"path\", \"template\" (and \"paths\") or \"constant\"".into(),
            ));
        };
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        match keys.as_slice() {
            ["path"] => {
                let text = obj["path"]
                    .as_str()
                    .ok_or_else(|| err("path", "must be a string"))?;
                Ok(Self::Path(
                    ReferencePath::parse(text).map_err(|e| err("path", e))?,
                ))
            }
            ["constant"] => Ok(Self::Constant(obj["constant"].clone())),
            ["template"] | ["paths", "template"] => {
                let mut paths = BTreeMap::new();
                if let Some(p) = obj.get("paths") {
                    let p = p
                        .as_object()
                        .ok_or_else(|| err("paths", "must be an object of names to paths"))?;
                    if p.len() > MAX_PATHS {
                        return Err(err("paths", format!("at most {MAX_PATHS}")));
                    }
                    for (name, path) in p {
                        let ok_name = !name.is_empty()
                            && name
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
                        if !ok_name || PREDEFINED.contains(&name.as_str()) {
                            return Err(err(
                                &format!("paths.{name}"),
                                "a name is letters, digits, '-' and '_'",
                            ));
                        }
                        let text = path
                            .as_str()
                            .ok_or_else(|| err(&format!("paths.{name}"), "must be a string"))?;
                        let path =
                            ReferencePath::parse(text).map_err(|e| err(&format!("paths.{name}"), e))?;
                        paths.insert(name.clone(), path);
                    }
                }
                let template = obj["template"]
                    .as_str()
                    .ok_or_else(|| err("template", "must be a string"))?;
                if template.len() > MAX_TEMPLATE_BYTES {
                    return Err(err("template", format!("at most {MAX_TEMPLATE_BYTES} bytes")));
                }
                let pieces = cut(template, &paths)?;
                Ok(Self::Template { paths, pieces })
            }
            _ => Err(TransformError(format!(
                ": expected \"path\", \"template\" (with \"paths\") or \"constant\", not {}",
                keys.join(", ")
            ))),
        }
    }

    /// The input for `event`, as JSON text; refused past
    /// [`MAX_INPUT_BYTES`], which a template stops building at.
    pub fn apply(&self, event: &Value, ctx: Context<'_>) -> Result<String, TransformError> {
        let too_large = || {
            TransformError(format!(
                "the transformed input is larger than {MAX_INPUT_BYTES} bytes; select less of the event"
            ))
        };
        let out = match self {
            Self::Path(p) => p.get(event).unwrap_or(&Value::Null).to_string(),
            Self::Constant(v) => v.to_string(),
            Self::Template { paths, pieces } => {
                let mut out = String::new();
                for piece in pieces {
                    if out.len() > MAX_INPUT_BYTES {
                        return Err(too_large());
                    }
                    match piece {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Hole(name, quoted) => {
                            let value = resolve(name, paths, event, ctx);
                            match (&value, quoted) {
                                (Value::String(s), true) => out.push_str(escape(s).as_str()),
                                (Value::Null, true) => {}
                                (v, true) => out.push_str(escape(&v.to_string()).as_str()),
                                (v, false) => out.push_str(&v.to_string()),
                            }
                        }
                    }
                }
                match serde_json::from_str::<Value>(&out) {
                    Ok(_) => out,
                    Err(_) => Value::String(out).to_string(),
                }
            }
        };
        if out.len() > MAX_INPUT_BYTES {
            return Err(too_large());
        }
        Ok(out)
    }
}

fn resolve(name: &str, paths: &BTreeMap<String, ReferencePath>, event: &Value, ctx: Context<'_>) -> Value {
    match name {
        "aws.events.rule-name" => Value::String(ctx.rule_name.to_owned()),
        "aws.events.event" | "aws.events.event.json" => event.clone(),
        "aws.events.event.ingestion-time" => Value::String(ctx.ingestion_time.to_owned()),
        "minicloud.idempotency-key" => Value::String(ctx.idempotency_key.to_owned()),
        _ => paths
            .get(name)
            .and_then(|p| p.get(event))
            .cloned()
            .unwrap_or(Value::Null),
    }
}

/// A string's JSON escape, without the quotes.
fn escape(s: &str) -> String {
    let quoted = Value::String(s.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// Cuts a template at its placeholders, noting which sit inside JSON
/// strings; a `<...>` that names nothing defined is refused.
fn cut(template: &str, paths: &BTreeMap<String, ReferencePath>) -> Result<Vec<Piece>, TransformError> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if c == '<'
            && let Some(end) = rest.find('>')
        {
            let name = &rest[1..end];
            let looks_like = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if looks_like {
                if !paths.contains_key(name) && !PREDEFINED.contains(&name) {
                    return Err(err(
                        "template",
                        format!("<{name}> is neither one of paths nor a predefined name"),
                    ));
                }
                pieces.push(Piece::Text(std::mem::take(&mut text)));
                pieces.push(Piece::Hole(name.to_owned(), in_string));
                rest = &rest[end + 1..];
                continue;
            }
        }
        match (c, escaped) {
            ('\\', false) if in_string => escaped = true,
            ('"', false) => in_string = !in_string,
            _ => escaped = false,
        }
        text.push(c);
        rest = &rest[c.len_utf8()..];
    }
    pieces.push(Piece::Text(text));
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CTX: Context<'static> = Context {
        rule_name: "r",
        idempotency_key: "e/r/t",
        ingestion_time: "2026-01-01T00:00:00Z",
    };

    fn apply(spec: Value, event: &Value) -> Value {
        let t = InputTransform::compile(&spec).expect("valid");
        serde_json::from_str(&t.apply(event, CTX).expect("within the size cap")).expect("JSON out")
    }

    #[test]
    fn a_template_cannot_multiply_an_event_past_the_cap() {
        let event = json!({"detail": {"blob": "x".repeat(64 * 1024)}});
        let many = "<aws.events.event>,".repeat(400);
        let t = InputTransform::compile(&json!({"template": format!("[{many}0]")})).expect("valid");
        let refused = t.apply(&event, CTX).expect_err("400 copies of 64 KiB");
        assert!(refused.to_string().contains("larger than"), "{refused}");
        let few = InputTransform::compile(&json!({"template": "[<aws.events.event>, 0]"})).expect("valid");
        assert!(few.apply(&event, CTX).is_ok());
    }

    #[test]
    fn paths_select_parts() {
        let e = json!({"detail": {"items": [{"sku": "a"}, {"sku": "b"}]}});
        assert_eq!(apply(json!({"path": "$.detail.items[1].sku"}), &e), json!("b"));
        assert_eq!(apply(json!({"path": "$"}), &e), e);
        assert_eq!(apply(json!({"path": "$.nope"}), &e), Value::Null);
        assert_eq!(apply(json!({"constant": {"k": 1}}), &e), json!({"k": 1}));
    }

    #[test]
    fn templates_fill_quoted_and_bare_placeholders() {
        let e = json!({"detail": {"id": "o-1", "n": 3, "who": "say \"hi\""}});
        let out = apply(
            json!({"paths": {"id": "$.detail.id", "n": "$.detail.n", "who": "$.detail.who", "gone": "$.x"},
                   "template": "{\"order\": <id>, \"label\": \"order <id> x<n>\", \"n\": <n>, \"who\": \"<who>\", \"gone\": <gone>, \"key\": \"<minicloud.idempotency-key>\", \"rule\": \"<aws.events.rule-name>\"}"}),
            &e,
        );
        assert_eq!(
            out,
            json!({"order": "o-1", "label": "order o-1 x3", "n": 3, "who": "say \"hi\"", "gone": null, "key": "e/r/t", "rule": "r"})
        );
        let out = apply(
            json!({"paths": {"id": "$.detail.id"}, "template": "order <id> arrived"}),
            &e,
        );
        assert_eq!(out, json!("order \"o-1\" arrived"));
        let out = apply(json!({"template": "{\"all\": <aws.events.event>}"}), &e);
        assert_eq!(out["all"], e);
    }

    #[test]
    fn refusals_name_the_field() {
        let msg = |v: Value| InputTransform::compile(&v).expect_err("refused").0;
        assert!(msg(json!({"path": "detail"})).starts_with(".path: "));
        assert!(msg(json!({"path": "$.a[x]"})).contains("index"));
        assert!(msg(json!({"template": "<nope>"})).contains("<nope>"));
        assert!(msg(json!({"paths": {"a b": "$"}, "template": ""})).starts_with(".paths.a b"));
        assert!(msg(json!({"other": 1})).contains("expected"));
        assert!(msg(json!([1])).contains("must be an object"));
    }
}
