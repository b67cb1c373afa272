//! The policy simulator: `POST /api/v1/policies/simulate` evaluates a
//! request against policy documents and says which statements decided it.
//! Resources may be our names or AWS ARNs, so policies written for AWS can
//! be tried here.

use super::error::{ApiError, ApiResult, JsonBody};
use crate::app::AppState;
use crate::iam::{Caller, Target, actions};
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use minicloud_policy::{Context, Decision, Policy, Request, explain};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/policies/simulate", post(simulate))
}

/// The most documents one simulation takes.
const MAX_POLICIES: usize = 50;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Simulation {
    /// Policy documents, evaluated together as one principal's policies.
    policies: Vec<Value>,
    action: String,
    resource: String,
    /// Condition keys: a string, number or boolean, or a list for a
    /// multivalued key.
    #[serde(default)]
    context: BTreeMap<String, Value>,
}

#[derive(Debug, Serialize)]
struct Outcome {
    decision: &'static str,
    statements: Vec<Decider>,
}

#[derive(Debug, Serialize)]
struct Decider {
    /// `policies[i]`: the document's place in the request.
    policy: String,
    /// The statement's Sid, or its index when it has none.
    statement: String,
}

async fn simulate(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(sim): JsonBody<Simulation>,
) -> ApiResult<Json<Outcome>> {
    let target = Target::in_org("iam", &caller.principal.org, "simulator");
    state
        .authorize(&caller, actions::iam::SIMULATE_POLICY, &target)
        .await?;
    if sim.policies.len() > MAX_POLICIES {
        return Err(ApiError::bad_request(
            "too_many_policies",
            format!("at most {MAX_POLICIES} policies per simulation"),
        ));
    }
    let policies = sim
        .policies
        .iter()
        .enumerate()
        .map(|(i, doc)| {
            let name = format!("policies[{i}]");
            Policy::from_value(doc)
                .map(|p| (name.clone(), p))
                .map_err(|e| ApiError::invalid_policy(&name, &e))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let action = sim.action.trim();
    if action.is_empty() || (action != "*" && !action.contains(':')) {
        return Err(ApiError::bad_request(
            "invalid_action",
            "action must be service:Action, such as functions:InvokeFunction",
        ));
    }
    if !resource_shaped(&sim.resource) {
        return Err(ApiError::bad_request(
            "invalid_resource",
            "resource must be a name such as mrn:functions:<org>:<project>:function/<name>, \
             or an AWS ARN such as arn:aws:s3:::bucket/key",
        ));
    }
    let mut context = Context::new();
    for (key, value) in &sim.context {
        context = match value {
            Value::Array(items) => {
                context.with_many(key, items.iter().map(scalar).collect::<ApiResult<Vec<_>>>()?)
            }
            v => context.with(key, scalar(v)?),
        };
    }
    let req = Request {
        action,
        resource: &sim.resource,
        context: &context,
    };
    let explanation = explain(policies.iter().map(|(n, p)| (n.as_str(), p)), &req);
    Ok(Json(Outcome {
        decision: match explanation.decision {
            Decision::Allow(_) => "Allow",
            Decision::ExplicitDeny(_) => "ExplicitDeny",
            Decision::ImplicitDeny => "ImplicitDeny",
        },
        statements: explanation
            .statements
            .into_iter()
            .map(|r| Decider {
                policy: r.policy,
                statement: r.statement,
            })
            .collect(),
    }))
}

/// `mrn:` or `arn:` followed by at least four more colon-separated parts.
fn resource_shaped(resource: &str) -> bool {
    resource == "*"
        || ((resource.starts_with("mrn:") || resource.starts_with("arn:"))
            && resource.split(':').count() >= 5
            && resource.len() <= 2048)
}

fn scalar(v: &Value) -> ApiResult<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(ApiError::bad_request(
            "invalid_context",
            format!("a context value must be a string, number, boolean or a list of them, not {other}"),
        )),
    }
}
