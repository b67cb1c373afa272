//! Rules: what a person writes (checked when written) and what the router
//! keeps (compiled once): sources, pattern, targets, retry policy and
//! dead-letter destination.

use super::envelope::Origin;
use super::pattern::{Pattern, PatternError};
use super::transform::{InputTransform, TransformError};
use crate::store::rules::RuleRow;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// Targets a rule may have (EventBridge's limit).
pub const MAX_TARGETS: usize = 5;
/// NATS subjects a rule may listen on.
pub const MAX_SUBJECTS: usize = 10;
/// Platform sources events come from.
pub const PLATFORM_SOURCES: &[&str] = &["minicloud.storage", "minicloud.functions", super::loops::SOURCE];

/// Where a rule's events come from. At least one kind must be set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    /// NATS subjects, with `*` (one token) and `>` (the rest) wildcards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    /// Platform sources such as `minicloud.storage`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platform: Vec<String>,
    /// Events put through `POST .../events` and published by functions.
    #[serde(default)]
    pub api: bool,
}

/// Where matching events go.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Unique in the rule; part of the idempotency key. Default: the
    /// function's name.
    #[serde(default)]
    pub id: String,
    /// A function of the rule's project, serving the `handler` world.
    pub function: String,
    /// What the function receives instead of the whole event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
}

/// Attempts, age and backoff of deliveries.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 to 1000; default 185, as
    /// EventBridge).
    pub max_attempts: u32,
    /// Seconds after acceptance past which an event is not tried again
    /// (1 to 86,400; default a day).
    pub max_age_secs: u64,
    /// Wait before the second attempt, ms (default 1000); it doubles with
    /// each attempt up to `max_backoff_ms`, and each wait is drawn between
    /// half of it and all of it (jitter).
    pub initial_backoff_ms: u64,
    /// Longest wait between attempts, ms (default 60,000).
    pub max_backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 185,
            max_age_secs: 86_400,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 60_000,
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempts` (1 based).
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        let full = self
            .initial_backoff_ms
            .saturating_mul(1u64 << exp)
            .min(self.max_backoff_ms);
        let jittered = if full == 0 {
            0
        } else {
            rand::random_range(full / 2..=full)
        };
        Duration::from_millis(jittered)
    }
}

/// Where deliveries go when they run out of attempts or age. They are
/// always kept in the project's dead letters (listable, replayable);
/// `subject` also publishes them to NATS.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeadLetter {
    /// A NATS subject (no wildcards) that receives each dead letter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// Why a rule was refused: a code and a message that names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    /// Stable code.
    pub code: &'static str,
    /// What to fix.
    pub message: String,
    /// For pattern problems, the JSON path in the pattern.
    pub path: Option<String>,
}

fn refuse(code: &'static str, message: impl Into<String>) -> RuleError {
    RuleError {
        code,
        message: message.into(),
        path: None,
    }
}

impl From<PatternError> for RuleError {
    fn from(e: PatternError) -> Self {
        RuleError {
            path: Some(e.path.clone()),
            ..refuse("invalid_pattern", format!("pattern: {e}"))
        }
    }
}

/// A target, compiled.
#[derive(Debug, Clone)]
pub struct Target {
    /// Id in the rule.
    pub id: String,
    /// The function's name.
    pub function: String,
    /// The input transformation, if any.
    pub input: Option<InputTransform>,
}

/// A rule ready to match.
#[derive(Debug)]
pub struct Rule {
    /// Stable id.
    pub id: String,
    /// Its project's id.
    pub project_id: String,
    /// Its name.
    pub name: String,
    /// Off: matches nothing.
    pub enabled: bool,
    /// Where its events come from.
    pub sources: Sources,
    /// The compiled pattern; none: every event of the sources.
    pub pattern: Option<Pattern>,
    /// Compiled targets.
    pub targets: Vec<Target>,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Dead-letter destination.
    pub dead_letter: DeadLetter,
}

impl Rule {
    /// Whether events of `origin` reach this rule (before its pattern).
    pub fn listens_to(&self, origin: &Origin) -> bool {
        self.enabled
            && match origin {
                Origin::Api => self.sources.api,
                Origin::Platform(source) => self.sources.platform.iter().any(|p| p == source),
                Origin::Subject(s) => self.sources.subjects.iter().any(|p| subject_matches(p, s)),
            }
    }

    /// Whether the event (its envelope as JSON) matches the pattern.
    pub fn matches(&self, event: &Value) -> bool {
        self.pattern.as_ref().is_none_or(|p| p.matches(event))
    }

    /// The target with this id.
    pub fn target(&self, id: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.id == id)
    }

    /// Compiles a stored rule.
    pub fn compile(row: &RuleRow) -> Result<Self, RuleError> {
        let sources: Sources = parse(&row.sources, "sources")?;
        let targets: Vec<TargetSpec> = parse(&row.targets, "targets")?;
        let retry: RetryPolicy = parse(&row.retry, "retry")?;
        let dead_letter: DeadLetter = parse(&row.dead_letter, "dead_letter")?;
        check_sources(&sources)?;
        check_retry(&retry)?;
        check_dead_letter(&dead_letter)?;
        let pattern = match &row.pattern {
            Value::Null => None,
            p => Some(Pattern::from_value(p)?),
        };
        let targets = compile_targets(targets)?;
        Ok(Self {
            id: row.id.clone(),
            project_id: row.project_id.clone(),
            name: row.name.clone(),
            enabled: row.enabled,
            sources,
            pattern,
            targets,
            retry,
            dead_letter,
        })
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: &Value, field: &str) -> Result<T, RuleError> {
    serde_json::from_value(v.clone()).map_err(|e| refuse("invalid_rule", format!("{field}: {e}")))
}

fn check_sources(s: &Sources) -> Result<(), RuleError> {
    if s.subjects.is_empty() && s.platform.is_empty() && !s.api {
        return Err(refuse(
            "invalid_sources",
            "sources: name at least one of subjects (NATS), platform (such as \"minicloud.storage\") or api: true",
        ));
    }
    if s.subjects.len() > MAX_SUBJECTS {
        return Err(refuse(
            "invalid_sources",
            format!("sources.subjects: at most {MAX_SUBJECTS}"),
        ));
    }
    for (i, subject) in s.subjects.iter().enumerate() {
        check_subject(subject, true)
            .map_err(|m| refuse("invalid_sources", format!("sources.subjects[{i}]: {m}")))?;
    }
    for (i, p) in s.platform.iter().enumerate() {
        if !PLATFORM_SOURCES.contains(&p.as_str()) {
            return Err(refuse(
                "invalid_sources",
                format!(
                    "sources.platform[{i}]: {p:?} is not a platform source; use one of {}",
                    PLATFORM_SOURCES.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn check_retry(r: &RetryPolicy) -> Result<(), RuleError> {
    if !(1..=1000).contains(&r.max_attempts) {
        return Err(refuse("invalid_retry", "retry.max_attempts must be 1 to 1000"));
    }
    if !(1..=86_400).contains(&r.max_age_secs) {
        return Err(refuse("invalid_retry", "retry.max_age_secs must be 1 to 86400"));
    }
    if r.max_backoff_ms > 3_600_000 || r.initial_backoff_ms > r.max_backoff_ms {
        return Err(refuse(
            "invalid_retry",
            "retry: initial_backoff_ms must not exceed max_backoff_ms, which must not exceed 3600000",
        ));
    }
    Ok(())
}

fn check_dead_letter(d: &DeadLetter) -> Result<(), RuleError> {
    if let Some(subject) = &d.subject {
        check_subject(subject, false)
            .map_err(|m| refuse("invalid_dead_letter", format!("dead_letter.subject: {m}")))?;
    }
    Ok(())
}

fn compile_targets(specs: Vec<TargetSpec>) -> Result<Vec<Target>, RuleError> {
    if specs.is_empty() || specs.len() > MAX_TARGETS {
        return Err(refuse("invalid_targets", format!("targets: 1 to {MAX_TARGETS}")));
    }
    let mut out: Vec<Target> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.into_iter().enumerate() {
        if !minicloud_runtime::names::valid_name(&spec.function) {
            return Err(refuse(
                "invalid_targets",
                format!(
                    "targets[{i}].function: {:?} is not a function name",
                    spec.function
                ),
            ));
        }
        let id = if spec.id.is_empty() {
            spec.function.clone()
        } else {
            spec.id
        };
        let id_ok = id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !id_ok {
            return Err(refuse(
                "invalid_targets",
                format!("targets[{i}].id: 1 to 64 of letters, digits, '-', '_' and '.'"),
            ));
        }
        if out.iter().any(|t| t.id == id) {
            return Err(refuse(
                "invalid_targets",
                format!("targets[{i}].id: {id:?} is used twice; give each target its own id"),
            ));
        }
        let input = spec
            .input
            .as_ref()
            .map(InputTransform::compile)
            .transpose()
            .map_err(|e: TransformError| refuse("invalid_input", format!("targets[{i}].input{e}")))?;
        out.push(Target {
            id,
            function: spec.function,
            input,
        });
    }
    Ok(out)
}

/// The first token of every tenant subject.
pub const SUBJECT_ROOT: &str = "mc";

/// Every org's NATS subjects start with `mc.<org>.`: one org can never
/// listen on, or dead-letter into, another's subjects, whatever it is
/// granted. Outside producers publish there, or the operator maps their
/// subjects in (NATS accounts' subject mappings; `docs/SECURITY.md`).
/// Rules stored before subjects had owners are held to it as well: they
/// are not listened on and do not dead-letter until they are changed.
pub fn subject_in_org(subject: &str, org: &str) -> Result<(), String> {
    let mut tokens = subject.split('.');
    let inside = tokens.next() == Some(SUBJECT_ROOT) && tokens.next() == Some(org) && tokens.next().is_some();
    if inside {
        Ok(())
    } else {
        Err(format!(
            "NATS subject {subject:?} is outside org {org:?}'s subjects: they start with \"{SUBJECT_ROOT}.{org}.\""
        ))
    }
}

/// Checks a NATS subject: dot-separated non-empty tokens of printable
/// characters; with `wildcards`, a token may be `*`, and the last may be
/// `>`.
pub fn check_subject(subject: &str, wildcards: bool) -> Result<(), String> {
    if subject.is_empty() || subject.len() > 256 {
        return Err("a subject is 1 to 256 characters".into());
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, t) in tokens.iter().enumerate() {
        if t.is_empty() {
            return Err(format!("{subject:?} has an empty token"));
        }
        if t.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
            return Err(format!("{subject:?} contains whitespace"));
        }
        let wild = *t == "*" || *t == ">";
        if !wildcards && (t.contains('*') || t.contains('>')) {
            return Err(format!("{subject:?}: wildcards are not allowed here"));
        }
        if !wild && (t.contains('*') || t.contains('>')) {
            return Err(format!("{subject:?}: '*' and '>' must be whole tokens"));
        }
        if *t == ">" && i + 1 != tokens.len() {
            return Err(format!("{subject:?}: '>' must be the last token"));
        }
    }
    Ok(())
}

/// Whether `subject` (no wildcards) matches `filter` (with NATS wildcards).
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut s = subject.split('.');
    for f in filter.split('.') {
        match (f, s.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (f, Some(t)) if f == t => {}
            _ => return false,
        }
    }
    s.next().is_none()
}

/// A rule as the API takes it on create (PATCH takes the same fields, all
/// optional).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique in the project.
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Default on.
    pub enabled: Option<bool>,
    /// Where its events come from.
    pub sources: Option<Value>,
    /// The event pattern (an object, or text holding one); absent or null:
    /// every event of the sources.
    pub pattern: Option<Value>,
    /// Where matching events go.
    pub targets: Option<Value>,
    /// Default: EventBridge's.
    pub retry: Option<Value>,
    /// Default: the project's dead letters only.
    pub dead_letter: Option<Value>,
}

impl RuleSpec {
    /// Applies this spec over `row` (a new rule starts from defaults) and
    /// checks the result; the row's targets come back normalized (ids
    /// filled in).
    pub fn apply(self, row: &mut RuleRow) -> Result<Rule, RuleError> {
        if let Some(d) = self.description {
            if d.len() > 512 {
                return Err(refuse("invalid_rule", "description: at most 512 characters"));
            }
            row.description = d;
        }
        if let Some(e) = self.enabled {
            row.enabled = e;
        }
        if let Some(s) = self.sources {
            row.sources = s;
        }
        if let Some(p) = self.pattern {
            row.pattern = match p {
                Value::String(text) => serde_json::from_str(&text)
                    .map_err(|e| refuse("invalid_pattern", format!("pattern is not JSON: {e}")))?,
                other => other,
            };
        }
        if let Some(t) = self.targets {
            row.targets = t;
        }
        if let Some(r) = self.retry {
            // Fields left out keep their defaults.
            row.retry = r;
        }
        if let Some(d) = self.dead_letter {
            row.dead_letter = d;
        }
        let rule = Rule::compile(row)?;
        // Store what was understood, so reads show the defaults in force.
        row.sources = to_value(&rule.sources);
        row.retry = to_value(&rule.retry);
        row.dead_letter = to_value(&rule.dead_letter);
        let targets: Vec<TargetSpec> = parse(&row.targets, "targets")?;
        row.targets = Value::Array(
            targets
                .into_iter()
                .zip(&rule.targets)
                .map(|(spec, t)| {
                    to_value(&TargetSpec {
                        id: t.id.clone(),
                        ..spec
                    })
                })
                .collect(),
        );
        Ok(rule)
    }
}

fn to_value<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subjects_stay_in_their_org() {
        for inside in ["mc.acme.orders", "mc.acme.orders.*", "mc.acme.>"] {
            assert!(subject_in_org(inside, "acme").is_ok(), "{inside}");
        }
        for outside in [
            "orders.new",
            ">",
            "mc.>",
            "mc.*.orders",
            "mc.acme",
            "mc.other.orders",
            "mc.acmex.orders",
            "MC.acme.orders",
            "x.mc.acme.orders",
        ] {
            assert!(subject_in_org(outside, "acme").is_err(), "{outside}");
        }
    }

    #[test]
    fn subjects_match_with_nats_wildcards() {
        assert!(subject_matches("orders.*", "orders.new"));
        assert!(!subject_matches("orders.*", "orders.new.eu"));
        assert!(!subject_matches("orders.*", "orders"));
        assert!(subject_matches("orders.>", "orders.new.eu"));
        assert!(!subject_matches("orders.>", "orders"));
        assert!(subject_matches("*.new", "orders.new"));
        assert!(subject_matches("a.b", "a.b"));
        assert!(!subject_matches("a.b", "a.b.c"));
        assert!(!subject_matches("a.b.c", "a.b"));
    }

    #[test]
    fn subjects_are_checked() {
        assert!(check_subject("orders.*.eu", true).is_ok());
        assert!(check_subject("orders.>", true).is_ok());
        assert!(check_subject("orders.>.x", true).is_err());
        assert!(check_subject("orders..x", true).is_err());
        assert!(check_subject("ord*rs", true).is_err());
        assert!(check_subject("orders.*", false).is_err());
        assert!(check_subject("a b", true).is_err());
    }

    fn row() -> RuleRow {
        RuleRow::new("p", "n")
    }

    fn spec(v: Value) -> RuleSpec {
        serde_json::from_value(v).expect("spec shape")
    }

    #[test]
    fn a_rule_is_checked_and_normalized() {
        let mut r = row();
        let rule = spec(json!({
            "sources": {"api": true, "subjects": ["orders.>"]},
            "pattern": "{\"source\": [\"shop\"]}",
            "targets": [{"function": "f"}],
            "retry": {"max_attempts": 3}
        }))
        .apply(&mut r)
        .expect("valid");
        assert_eq!(rule.targets[0].id, "f");
        assert_eq!(r.targets, json!([{"id": "f", "function": "f"}]));
        assert_eq!(r.retry["max_age_secs"], 86_400);
        assert!(rule.listens_to(&Origin::Subject("orders.eu.new".into())));
        assert!(!rule.listens_to(&Origin::Subject("invoices.new".into())));
    }

    #[test]
    fn refusals_name_the_field() {
        let err = |v: Value| {
            let mut r = row();
            spec(v).apply(&mut r).expect_err("refused").message
        };
        let base = json!({"sources": {"api": true}, "targets": [{"function": "f"}]});
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        assert!(err(with("sources", json!({}))).contains("at least one"));
        assert!(err(with("sources", json!({"platform": ["aws.s3"]}))).contains("sources.platform[0]"));
        assert!(err(with("sources", json!({"subjects": ["a..b"]}))).contains("sources.subjects[0]"));
        assert!(
            err(with("pattern", json!({"detail": {"n": [{"numeric": [">"]}]}})))
                .starts_with("pattern: $.detail.n[0]")
        );
        assert!(err(with("targets", json!([]))).contains("targets: 1 to 5"));
        assert!(err(with("targets", json!([{"function": "f"}, {"function": "f"}]))).contains("used twice"));
        assert!(err(with("targets", json!([{"function": "Bad Name"}]))).contains("targets[0].function"));
        assert!(err(with("retry", json!({"max_attempts": 0}))).contains("max_attempts"));
        assert!(
            err(with(
                "retry",
                json!({"initial_backoff_ms": 5000, "max_backoff_ms": 10})
            ))
            .contains("initial_backoff_ms")
        );
        assert!(err(with("dead_letter", json!({"subject": "dlq.*"}))).contains("dead_letter.subject"));
        assert!(
            err(with(
                "targets",
                json!([{"function": "f", "input": {"path": "detail"}}])
            ))
            .contains("targets[0].input")
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_stops_at_the_cap() {
        let p = RetryPolicy {
            initial_backoff_ms: 100,
            max_backoff_ms: 1_000,
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let first = p.backoff(1).as_millis();
            assert!((50..=100).contains(&first), "{first}");
            let third = p.backoff(3).as_millis();
            assert!((200..=400).contains(&third), "{third}");
            let late = p.backoff(40).as_millis();
            assert!((500..=1_000).contains(&late), "{late}");
        }
    }
}
