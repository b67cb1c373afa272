//! `{% %}` strings: which strings are expressions, and an expression parsed
//! once, when the definition is read.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use jsonata_core::ast::AstNode;
use serde_json::Value;

use super::session::Session;
use super::{Env, MAX_EXPRESSION_BYTES};
use crate::errors::Failure;

/// Why a `{% %}` string is not a valid expression; definition validation
/// shows it at the string's JSON path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExpressionError(pub String);

/// The text of the expression `value` holds, between `{%` and `%}`, or
/// `None` for a literal string. A string that starts an expression without
/// ending it, or that would be one but for spaces before `{%` or after `%}`,
/// is an error: AWS refuses both rather than read them as literals.
pub fn expression_text(value: &str) -> Result<Option<&str>, ExpressionError> {
    if let Some(inner) = value.strip_prefix("{%").and_then(|rest| rest.strip_suffix("%}")) {
        return Ok(Some(inner));
    }
    if value.starts_with("{%") {
        return Err(ExpressionError(
            "a JSONata expression must end with %} (the string starts with {%)".into(),
        ));
    }
    let trimmed = value.trim();
    if trimmed.len() >= 4 && trimmed.starts_with("{%") && trimmed.ends_with("%}") {
        return Err(ExpressionError(
            "a JSONata expression must start with {% and end with %}, with no space before or after".into(),
        ));
    }
    Ok(None)
}

/// A JSONata expression, parsed once; cheap to clone and shared between
/// threads.
#[derive(Clone)]
pub struct Expression {
    /// The text between `{%` and `%}`, trimmed, as failures quote it.
    source: Arc<str>,
    ast: Arc<AstNode>,
}

impl Expression {
    /// Parses `value`, a whole `{% ... %}` string. A literal string, a
    /// syntax error, an expression longer than [`MAX_EXPRESSION_BYTES`] or
    /// one nested deeper than the engine parses (1,000 levels) is an error.
    pub fn parse(value: &str) -> Result<Self, ExpressionError> {
        let text = expression_text(value)?
            .ok_or_else(|| ExpressionError("a JSONata expression is written {% expression %}".into()))?;
        Self::parse_text(text)
    }

    /// Parses the text between `{%` and `%}`.
    pub fn parse_text(text: &str) -> Result<Self, ExpressionError> {
        if text.len() > MAX_EXPRESSION_BYTES {
            return Err(ExpressionError(format!(
                "the JSONata expression is {} bytes long; at most {MAX_EXPRESSION_BYTES} are allowed",
                text.len()
            )));
        }
        let source: Arc<str> = text.trim().into();
        if source.is_empty() {
            return Err(ExpressionError("the JSONata expression is empty".into()));
        }
        // The parser is a third party's; a panic in it must not take the
        // definition's reader down.
        let parsed = catch_unwind(AssertUnwindSafe(|| jsonata_core::parser::parse(text))).map_err(|_| {
            ExpressionError(format!(
                "the JSONata expression {} could not be parsed",
                excerpt(&source)
            ))
        })?;
        let ast = parsed.map_err(|e| {
            ExpressionError(format!(
                "the JSONata expression {} is not valid: {e}",
                excerpt(&source)
            ))
        })?;
        Ok(Self {
            source,
            ast: Arc::new(ast),
        })
    }

    /// The expression as written, trimmed.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The parsed expression the evaluator runs.
    pub(super) fn ast(&self) -> &AstNode {
        &self.ast
    }

    /// Evaluates the expression in `env` for the ASL field `field` (say
    /// `Output` or `Arguments/Payload`), which failures name. An error, a
    /// timeout, an undefined result or one JSON cannot hold fails with
    /// `States.QueryEvaluationError`.
    pub fn evaluate(&self, env: &Env<'_>, field: &str) -> Result<Value, Failure> {
        Session::new(env)?.evaluate(self, field)
    }
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{% {} %}}", self.source)
    }
}

/// Two expressions are equal when they are written alike.
impl PartialEq for Expression {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// The expression quoted for a message, cut short when it is long.
fn excerpt(source: &str) -> String {
    const MAX_CHARS: usize = 80;
    match source.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => format!("'{}...'", &source[..end]),
        None => format!("'{source}'"),
    }
}
