//! Policy variables: `${mc:username}`, `${mc:project, 'default'}`, and the
//! escapes `${*}`, `${?}`, `${$}`.
//!
//! A template is parsed once with its policy and expanded per request.
//! Substituted text is literal: a `*` in a user name is not a wildcard. A
//! variable whose key is missing from the request (or has several values)
//! and has no default leaves the template unresolved, and an unresolved
//! template matches nothing.

use crate::context::Context;
use crate::glob::{self, Colons, Token};

#[derive(Debug, Clone, PartialEq)]
enum Part {
    /// Text whose `*` and `?` are wildcards.
    Pattern(String),
    /// A literal character written as `${*}`, `${?}` or `${$}`.
    Literal(char),
    /// A request value, by lower-cased key, with an optional default.
    Variable { key: String, default: Option<String> },
}

/// A policy string that may contain variables.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    parts: Vec<Part>,
    /// The compiled pattern when the template has no variable.
    fixed: Option<Vec<Token>>,
    colons: Colons,
}

/// Why a `${...}` could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `${` without its `}`.
    #[error("`${{` without a closing `}}` in {0:?}")]
    Unclosed(String),
    /// `${}` or `${ , 'x'}`.
    #[error("an empty policy variable in {0:?}")]
    Empty(String),
    /// The default is not a single-quoted string.
    #[error(
        "the default of a policy variable must be in single quotes, as in ${{mc:username, 'none'}}: {0:?}"
    )]
    BadDefault(String),
}

impl Template {
    /// Parses `text`. With `variables` false (policy version 2008-10-17),
    /// `${...}` is plain text, as AWS does.
    pub(crate) fn parse(text: &str, variables: bool, colons: Colons) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut plain = String::new();
        while variables && let Some(start) = rest.find("${") {
            plain.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = closing_brace(after).ok_or_else(|| TemplateError::Unclosed(text.into()))?;
            let inner = &after[..end];
            let part = parse_variable(inner).map_err(|e| match e {
                VariableError::Empty => TemplateError::Empty(text.into()),
                VariableError::BadDefault => TemplateError::BadDefault(text.into()),
            })?;
            if !plain.is_empty() {
                parts.push(Part::Pattern(std::mem::take(&mut plain)));
            }
            parts.push(part);
            rest = &after[end + 1..];
        }
        plain.push_str(rest);
        if !plain.is_empty() {
            parts.push(Part::Pattern(plain));
        }
        let fixed = parts
            .iter()
            .all(|p| !matches!(p, Part::Variable { .. }))
            .then(|| glob::finish(tokens(&parts, |_| None).unwrap_or_default(), colons));
        Ok(Self { parts, fixed, colons })
    }

    /// Whether `subject` matches this template for the request in `ctx`.
    pub(crate) fn matches(&self, subject: &str, ctx: &Context, fold: bool) -> bool {
        match &self.fixed {
            Some(pattern) => glob::matches(pattern, subject, self.colons, fold),
            None => match tokens(&self.parts, |key| ctx.single(key)) {
                Some(t) => glob::matches(&glob::finish(t, self.colons), subject, self.colons, fold),
                None => false,
            },
        }
    }

    /// The text with variables substituted, wildcards kept as characters;
    /// `None` when a variable cannot be resolved. For operators that compare
    /// exactly (`StringEquals`, `Bool`).
    pub(crate) fn expand(&self, ctx: &Context) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Pattern(s) => out.push_str(s),
                Part::Literal(c) => out.push(*c),
                Part::Variable { key, default } => {
                    out.push_str(ctx.single(key).or(default.as_deref())?);
                }
            }
        }
        Some(out)
    }
}

fn tokens<'a>(parts: &'a [Part], lookup: impl Fn(&str) -> Option<&'a str>) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    for part in parts {
        match part {
            Part::Pattern(s) => out.extend(glob::compile(s, Colons::Free)),
            Part::Literal(c) => out.push(Token::Char(*c)),
            Part::Variable { key, default } => {
                let value = lookup(key).or(default.as_deref())?;
                out.extend(value.chars().map(Token::Char));
            }
        }
    }
    Some(out)
}

/// The index of the `}` closing a variable, skipping quoted defaults.
fn closing_brace(s: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

enum VariableError {
    Empty,
    BadDefault,
}

fn parse_variable(inner: &str) -> Result<Part, VariableError> {
    match inner {
        "*" => return Ok(Part::Literal('*')),
        "?" => return Ok(Part::Literal('?')),
        "$" => return Ok(Part::Literal('$')),
        _ => {}
    }
    let (key, default) = match inner.split_once(',') {
        None => (inner, None),
        Some((key, default)) => {
            let d = default.trim();
            let quoted = d.len() >= 2 && d.starts_with('\'') && d.ends_with('\'');
            if !quoted {
                return Err(VariableError::BadDefault);
            }
            // Inside the quotes, '' stands for one quote.
            (key, Some(d[1..d.len() - 1].replace("''", "'")))
        }
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(VariableError::Empty);
    }
    Ok(Part::Variable {
        key: key.to_ascii_lowercase(),
        default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context::new()
            .with("mc:username", "al*ce")
            .with("mc:project", "web")
            .with_many("mc:TagKeys", ["a", "b"])
    }

    fn resource(text: &str) -> Template {
        Template::parse(text, true, Colons::SegmentTail).expect("valid template")
    }

    #[test]
    fn variables_are_substituted_as_literal_text() {
        let t = resource("mrn:storage:o:${mc:project}:bucket/home/${mc:username}/*");
        assert!(t.matches("mrn:storage:o:web:bucket/home/al*ce/notes.txt", &ctx(), false));
        // The `*` inside the user name is not a wildcard.
        assert!(!t.matches("mrn:storage:o:web:bucket/home/alice/notes.txt", &ctx(), false));
        assert!(!t.matches("mrn:storage:o:api:bucket/home/al*ce/x", &ctx(), false));
    }

    #[test]
    fn key_names_are_case_insensitive_and_spaces_ignored() {
        let t = resource("${ MC:Project }");
        assert_eq!(t.expand(&ctx()).as_deref(), Some("web"));
    }

    #[test]
    fn defaults_apply_only_when_the_key_is_missing() {
        let t = resource("team/${mc:PrincipalTag/team, 'company-wide'}");
        assert_eq!(t.expand(&ctx()).as_deref(), Some("team/company-wide"));
        let with_tag = ctx().with("mc:PrincipalTag/team", "infra");
        assert_eq!(t.expand(&with_tag).as_deref(), Some("team/infra"));
        let quote = resource("${mc:nothing, 'it''s, fine}'}");
        assert_eq!(quote.expand(&ctx()).as_deref(), Some("it's, fine}"));
    }

    #[test]
    fn unresolved_and_multivalued_variables_match_nothing() {
        let t = resource("mrn:f:o:p:function/${mc:userid}");
        assert!(!t.matches("mrn:f:o:p:function/", &ctx(), false));
        assert!(!t.matches("mrn:f:o:p:function/*", &ctx(), false));
        assert_eq!(t.expand(&ctx()), None);
        let multi = resource("${mc:TagKeys}");
        assert_eq!(multi.expand(&ctx()), None);
    }

    #[test]
    fn escapes_make_wildcards_literal() {
        let t = resource("file${*}name${?}${$}");
        assert!(t.matches("file*name?$", &ctx(), false));
        assert!(!t.matches("fileXnameY$", &ctx(), false));
    }

    #[test]
    fn version_2008_keeps_variables_as_text() {
        let t = Template::parse("home/${mc:username}", false, Colons::Free).expect("valid");
        assert!(t.matches("home/${mc:username}", &ctx(), false));
        assert!(!t.matches("home/al*ce", &ctx(), false));
    }

    #[test]
    fn malformed_variables_are_errors() {
        assert!(matches!(
            Template::parse("a${mc:x", true, Colons::Free),
            Err(TemplateError::Unclosed(_))
        ));
        assert!(matches!(
            Template::parse("${}", true, Colons::Free),
            Err(TemplateError::Empty(_))
        ));
        assert!(matches!(
            Template::parse("${mc:x, nope}", true, Colons::Free),
            Err(TemplateError::BadDefault(_))
        ));
    }
}
