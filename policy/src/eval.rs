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

/// A decision with every statement that decided it: all the applicable
/// denies when there is one, else all the applicable allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The outcome, as [`evaluate`] gives it.
    pub decision: Decision,
    /// The statements behind it (empty for an implicit deny).
    pub statements: Vec<Reason>,
}

/// Evaluates like [`evaluate`], but visits every statement to list all
/// that decided the outcome; for simulators and explanations.
pub fn explain<'p, I>(policies: I, req: &Request<'_>) -> Explanation
where
    I: IntoIterator<Item = (&'p str, &'p Policy)>,
{
    let (mut denies, mut allows) = (Vec::new(), Vec::new());
    for (name, policy) in policies {
        for (i, statement) in policy.statements().iter().enumerate() {
            if statement.applies(req) {
                let reason = Reason {
                    policy: name.to_owned(),
                    statement: statement.sid().map_or_else(|| i.to_string(), str::to_owned),
                };
                match statement.effect() {
                    Effect::Deny => denies.push(reason),
                    Effect::Allow => allows.push(reason),
                }
            }
        }
    }
    match (denies.first(), allows.first()) {
        (Some(first), _) => Explanation {
            decision: Decision::ExplicitDeny(first.clone()),
            statements: denies,
        },
        (None, Some(first)) => Explanation {
            decision: Decision::Allow(first.clone()),
            statements: allows,
        },
        (None, None) => Explanation {
            decision: Decision::ImplicitDeny,
            statements: Vec::new(),
        },
    }
}
