//! What the router keeps, compiled once: rules and their targets, with the
//! retry policy and dead-letter destination of their deliveries.

use super::spec::{check_dead_letter, check_retry, check_sources, parse};
use super::{MAX_TARGETS, RuleError, Sources, TargetSpec, refuse, subject_matches};
use crate::events::envelope::Origin;
use crate::events::pattern::Pattern;
use crate::events::transform::{InputTransform, TransformError};
use crate::store::rules::RuleRow;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// Attempts, age and backoff of deliveries.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
#[schema(as = RuleRetry)]
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
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RuleDeadLetter)]
pub struct DeadLetter {
    /// A NATS subject (no wildcards) that receives each dead letter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// A target, compiled.
#[derive(Debug, Clone)]
pub struct Target {
    /// Id in the rule.
    pub id: String,
    /// What runs.
    pub destination: Destination,
    /// The input transformation, if any.
    pub input: Option<InputTransform>,
}

/// What a target runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A function of the rule's project (its name).
    Function(String),
    /// A workflow of the rule's project (its name): each delivery starts
    /// one execution.
    Workflow(String),
}

impl Destination {
    /// Its name.
    pub fn name(&self) -> &str {
        match self {
            Self::Function(n) | Self::Workflow(n) => n,
        }
    }
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

fn compile_targets(specs: Vec<TargetSpec>) -> Result<Vec<Target>, RuleError> {
    if specs.is_empty() || specs.len() > MAX_TARGETS {
        return Err(refuse("invalid_targets", format!("targets: 1 to {MAX_TARGETS}")));
    }
    let mut out: Vec<Target> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.into_iter().enumerate() {
        let destination = match (spec.function.is_empty(), spec.workflow.is_empty()) {
            (false, true) => Destination::Function(spec.function),
            (true, false) => Destination::Workflow(spec.workflow),
            _ => {
                return Err(refuse(
                    "invalid_targets",
                    format!("targets[{i}]: name a function or a workflow (one of them)"),
                ));
            }
        };
        if !minicloud_runtime::names::valid_name(destination.name()) {
            let field = match destination {
                Destination::Function(_) => "function",
                Destination::Workflow(_) => "workflow",
            };
            return Err(refuse(
                "invalid_targets",
                format!(
                    "targets[{i}].{field}: {:?} is not a {field} name",
                    destination.name()
                ),
            ));
        }
        let id = if spec.id.is_empty() {
            destination.name().to_owned()
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
            destination,
            input,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
