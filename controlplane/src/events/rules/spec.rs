//! What a person writes: the rule spec the API takes, its sources and
//! targets, and the checks of each part.

use super::{
    DeadLetter, MAX_SUBJECTS, PLATFORM_SOURCES, RetryPolicy, Rule, RuleError, check_subject, refuse,
};
use crate::store::rules::RuleRow;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a rule's events come from. At least one kind must be set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RuleSources)]
pub struct Sources {
    /// NATS subjects, with `*` (one token) and `>` (the rest) wildcards:
    /// at most 10, under the org's namespace; they need NATS
    /// (`--nats-url`) and `events:UseSubject` on each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    /// Platform sources: `minicloud.storage`, `minicloud.functions`,
    /// `minicloud.workflows`, `minicloud.events`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platform: Vec<String>,
    /// Events put through `POST .../events` and published by functions.
    #[serde(default)]
    pub api: bool,
}

/// Where matching events go: a function or a workflow (one of them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RuleTarget)]
pub struct TargetSpec {
    /// Unique in the rule, up to 64 letters, digits, `-`, `_` and `.`;
    /// part of the idempotency key. Default: the function's (or
    /// workflow's) name.
    #[serde(default)]
    pub id: String,
    /// A function of the rule's project, serving the `handler` world.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub function: String,
    /// A workflow of the rule's project: each event starts an execution
    /// (once per delivery, whatever the retries), the event its input.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workflow: String,
    /// What the target receives instead of the whole event: an object,
    /// `{"path": "$.detail.order"}` (the part of the event at a JSON
    /// path), `{"paths": {"id": "$.detail.id"}, "template": "..."}`
    /// (EventBridge's input transformer) or `{"constant": ...}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(v: &Value, field: &str) -> Result<T, RuleError> {
    serde_json::from_value(v.clone()).map_err(|e| refuse("invalid_rule", format!("{field}: {e}")))
}

pub(super) fn check_sources(s: &Sources) -> Result<(), RuleError> {
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

pub(super) fn check_retry(r: &RetryPolicy) -> Result<(), RuleError> {
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

pub(super) fn check_dead_letter(d: &DeadLetter) -> Result<(), RuleError> {
    if let Some(subject) = &d.subject {
        check_subject(subject, false)
            .map_err(|m| refuse("invalid_dead_letter", format!("dead_letter.subject: {m}")))?;
    }
    Ok(())
}

/// A rule as the API takes it on create (PATCH takes the same fields, all
/// optional: what is left out, or `null`, stays as it is).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique in the project; required on create, and a `PATCH` may only
    /// repeat it (a rule is not renamed).
    pub name: Option<String>,
    /// Free text, at most 512 bytes.
    pub description: Option<String>,
    /// Default on; a disabled rule matches nothing.
    pub enabled: Option<bool>,
    /// Where its events come from; required on create.
    #[schema(value_type = Option<Sources>)]
    pub sources: Option<Value>,
    /// The event pattern (an object, or text holding one); absent or null
    /// on create: every event of the sources.
    pub pattern: Option<Value>,
    /// Where matching events go: 1 to 5 targets; required on create.
    #[schema(value_type = Option<Vec<TargetSpec>>)]
    pub targets: Option<Value>,
    /// Attempts, age and backoff; fields left out take their defaults
    /// (EventBridge's).
    #[schema(value_type = Option<RetryPolicy>)]
    pub retry: Option<Value>,
    /// Where deliveries go that run out of attempts; default: the
    /// project's dead letters only.
    #[schema(value_type = Option<DeadLetter>)]
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
    use crate::events::envelope::Origin;
    use serde_json::json;

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
}
