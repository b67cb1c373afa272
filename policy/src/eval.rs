//! The decision: AWS's evaluation logic for identity policies.
//!
//! An explicit deny in any applicable statement wins; otherwise an allow in
//! any applicable statement allows; otherwise the request is implicitly
//! denied.

use crate::context::Request;
use crate::document::{Effect, Policy};

/// The statement that decided a request, for audit records and error
/// messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// The name the caller gave the policy.
    pub policy: String,
    /// The statement's `Sid`, or its index when it has none.
    pub statement: String,
}

/// The outcome of evaluating a request against a set of policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A statement allowed it and none denied it.
    Allow(Reason),
    /// A statement denied it.
    ExplicitDeny(Reason),
    /// No statement applied.
    ImplicitDeny,
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }
}

/// Evaluates `req` against named policies.
pub fn evaluate<'p, I>(policies: I, req: &Request<'_>) -> Decision
where
    I: IntoIterator<Item = (&'p str, &'p Policy)>,
{
    let mut allowed = None;
    for (name, policy) in policies {
        for (i, statement) in policy.statements().iter().enumerate() {
            if !statement.applies(req) {
                continue;
            }
            let reason = || Reason {
                policy: name.to_owned(),
                statement: statement.sid().map_or_else(|| i.to_string(), str::to_owned),
            };
            match statement.effect() {
                Effect::Deny => return Decision::ExplicitDeny(reason()),
                Effect::Allow => {
                    if allowed.is_none() {
                        allowed = Some(reason());
                    }
                }
            }
        }
    }
    allowed.map_or(Decision::ImplicitDeny, Decision::Allow)
}
