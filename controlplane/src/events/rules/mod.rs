//! Rules: what a person writes (checked when written) and what the router
//! keeps (compiled once): sources, pattern, targets, retry policy and
//! dead-letter destination.
//!
//! - `spec`: what a person writes: the rule spec, its sources and targets,
//!   and their checks.
//! - `compiled`: what the router keeps: rules and targets, compiled, with
//!   their retry policy and dead-letter destination.
//! - `subjects`: NATS subjects: an org's own, well formed, matched by a
//!   filter.

use super::pattern::PatternError;

mod compiled;
mod spec;
mod subjects;

pub use compiled::{DeadLetter, Destination, RetryPolicy, Rule, Target};
pub use spec::{RuleSpec, Sources, TargetSpec};
pub use subjects::{SUBJECT_ROOT, check_subject, subject_in_org, subject_matches};

/// Targets a rule may have (EventBridge's limit).
pub const MAX_TARGETS: usize = 5;
/// NATS subjects a rule may listen on.
pub const MAX_SUBJECTS: usize = 10;
/// Platform sources events come from.
pub const PLATFORM_SOURCES: &[&str] = &[
    "minicloud.storage",
    "minicloud.functions",
    "minicloud.workflows",
    super::loops::SOURCE,
];

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
