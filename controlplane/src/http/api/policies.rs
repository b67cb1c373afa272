//! The policy simulator: `POST /api/v1/policies/simulate` evaluates a
//! request against policy documents and says which statements decided it.
//! Resources may be our names or AWS ARNs, so policies written for AWS can
//! be tried here.

use super::error::{ApiError, ApiResult, JsonBody};
use crate::http::AppState;
use crate::http::api::described::ApiRouter;
use crate::http::api::described::routes;
use crate::iam::{Caller, Principal, PrincipalKind, Target, actions};
use axum::Json;
use axum::extract::State;
use minicloud_policy::{Context, Decision, Explanation, Mrn, Policy, Request, explain};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Routes of this resource.
pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new().routes(routes!(simulate))
}

/// The most documents one simulation takes.
const MAX_POLICIES: usize = 50;

/// A request to judge, and whose policies judge it: `policies` or
/// `principal`, exactly one of them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Simulation {
    /// IAM policy documents (`Version`, `Statement` ...), evaluated
    /// together as one principal's policies; at most 50. Resources may be
    /// MiniCloud names or AWS ARNs.
    #[schema(value_type = Option<Vec<Object>>)]
    policies: Option<Vec<Value>>,
    /// Or a principal whose policies are looked up (and whose bindings'
    /// scopes apply).
    principal: Option<SimulatedPrincipal>,
    /// `service:Action`, such as `functions:InvokeFunction`, or `*`.
    action: String,
    /// The resource: `*`, a name such as
    /// `mrn:functions:<org>:<project>:function/<name>`, or (with `policies`
    /// only) an AWS ARN such as `arn:aws:s3:::bucket/key`; at most 2048
    /// characters.
    resource: String,
    /// Condition keys: a string, number or boolean, or a list for a
    /// multivalued key. With `principal`, they override the keys the
    /// platform fills in.
    #[serde(default)]
    context: BTreeMap<String, Value>,
}

/// A user (`{"org", "user"}`) or an API key (`{"org", "key"}`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SimulatedPrincipal {
    /// The org of the user or key.
    org: String,
    /// A user's name.
    user: Option<String>,
    /// Or a live API key's id.
    key: Option<String>,
}

/// The decision, and the statements that made it.
#[derive(Debug, Serialize, ToSchema)]
struct SimulationOutcome {
    /// What the request would get.
    decision: SimulatedDecision,
    /// The statements that decided: the denying ones for an explicit
    /// deny, the allowing ones for an allow, none for an implicit deny.
    statements: Vec<DecidingStatement>,
}

/// A simulated decision.
#[derive(Debug, Serialize, ToSchema)]
enum SimulatedDecision {
    /// A statement allows it, and none denies it.
    Allow,
    /// A statement denies it.
    ExplicitDeny,
    /// No statement allows it.
    ImplicitDeny,
}

/// A statement that decided a simulation.
#[derive(Debug, Serialize, ToSchema)]
struct DecidingStatement {
    /// `policies[i]` (the document's place in the request), or the name of
    /// the principal's policy.
    policy: String,
    /// The statement's Sid, or its index when it has none.
    statement: String,
}

/// Simulates an authorization.
///
/// The answer is the decision, and the statements that made it. With `policies`, the documents given are evaluated alone (no scopes, no
/// condition keys but `context`); it needs `iam:SimulatePolicy` on
/// `simulator` in the caller's org. With `principal`, the request is judged
/// as the API would judge that user or key: its bindings, their scopes,
/// and the condition keys the platform fills in; it needs
/// `iam:SimulatePolicy` on `user/<name>` in the principal's org (the key's
/// user for a key), and the resource must be a MiniCloud name. Nothing is
/// changed.
#[utoipa::path(
    post,
    path = "/policies/simulate",
    tag = "policies",
    request_body = Simulation,
    responses((status = 200, description = "The decision and the deciding statements", body = SimulationOutcome))
)]
async fn simulate(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(sim): JsonBody<Simulation>,
) -> ApiResult<Json<SimulationOutcome>> {
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
    let mut extra = Vec::with_capacity(sim.context.len());
    for (key, value) in &sim.context {
        let values = match value {
            Value::Array(items) => items.iter().map(scalar).collect::<ApiResult<Vec<_>>>()?,
            v => vec![scalar(v)?],
        };
        extra.push((key.clone(), values));
    }
    let explanation = match (sim.policies, sim.principal) {
        (Some(docs), None) => {
            let target = Target::in_org("iam", &caller.principal.org, "simulator");
            state
                .authorize(&caller, actions::iam::SIMULATE_POLICY, &target)
                .await?;
            inline(&docs, action, &sim.resource, &extra)?
        }
        (None, Some(who)) => as_principal(&state, &caller, &who, action, &sim.resource, &extra).await?,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_simulation",
                "give either `policies` (documents) or `principal` ({org, user} or {org, key}), not both",
            ));
        }
    };
    Ok(Json(SimulationOutcome {
        decision: match explanation.decision {
            Decision::Allow(_) => SimulatedDecision::Allow,
            Decision::ExplicitDeny(_) => SimulatedDecision::ExplicitDeny,
            Decision::ImplicitDeny => SimulatedDecision::ImplicitDeny,
        },
        statements: explanation
            .statements
            .into_iter()
            .map(|r| DecidingStatement {
                policy: r.policy,
                statement: r.statement,
            })
            .collect(),
    }))
}

/// Evaluates documents given in the request.
fn inline(
    docs: &[Value],
    action: &str,
    resource: &str,
    extra: &[(String, Vec<String>)],
) -> ApiResult<Explanation> {
    if docs.len() > MAX_POLICIES {
        return Err(ApiError::bad_request(
            "too_many_policies",
            format!("at most {MAX_POLICIES} policies per simulation"),
        ));
    }
    let policies = docs
        .iter()
        .enumerate()
        .map(|(i, doc)| {
            let name = format!("policies[{i}]");
            Policy::from_value(doc)
                .map(|p| (name.clone(), p))
                .map_err(|e| ApiError::invalid_policy(&name, &e))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let mut context = Context::new();
    for (key, values) in extra {
        context = context.with_many(key, values.iter().cloned());
    }
    let req = Request {
        action,
        resource,
        context: &context,
    };
    Ok(explain(policies.iter().map(|(n, p)| (n.as_str(), p)), &req))
}

/// Evaluates as a stored principal would be judged by the API: its
/// bindings, their scopes, and the condition keys the platform fills in
/// (the request's `context` overrides them).
async fn as_principal(
    state: &AppState,
    caller: &Caller,
    who: &SimulatedPrincipal,
    action: &str,
    resource: &str,
    extra: &[(String, Vec<String>)],
) -> ApiResult<Explanation> {
    let org = state
        .store
        .org(&who.org)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("org {:?} does not exist", who.org)))?;
    let scope = state.store.in_org(&org);
    // Seeing someone's access is reading their permissions: the caller is
    // authorized before anything is looked up, so that a caller who may
    // not learns nothing of which users or keys exist.
    let may_read = |user: String| {
        let target = Target::in_org("iam", &org, &format!("user/{user}"));
        async move {
            state
                .authorize(caller, actions::iam::SIMULATE_POLICY, &target)
                .await
        }
    };
    let (kind, id, user) = match (&who.user, &who.key) {
        (Some(name), None) => {
            may_read(name.clone()).await?;
            let u = scope
                .user(name)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("user {name:?} does not exist")))?;
            (PrincipalKind::User, u.id.clone(), u)
        }
        (None, Some(key)) => {
            let found = state
                .store
                .live_api_key(key)
                .await?
                .filter(|(k, _, _)| k.org_id == org.id);
            let Some((k, u, _)) = found else {
                // No such key: a 404 only for who may read every user's.
                may_read("*".into()).await?;
                return Err(ApiError::not_found(format!(
                    "no live API key {key:?} in this org"
                )));
            };
            may_read(u.name.clone()).await?;
            (PrincipalKind::ApiKey, k.id, u)
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_simulation",
                "a principal is {org, user} or {org, key}",
            ));
        }
    };
    let mrn = Mrn::parse(resource).map_err(|e| {
        ApiError::bad_request(
            "invalid_resource",
            format!("with a principal, the resource must be one of ours: {e}"),
        )
    })?;
    // The resource's tenant decides which bindings apply.
    let org_id = match state.store.org(mrn.org_name()).await? {
        Some(o) if !mrn.org_name().is_empty() => o.id,
        _ => String::new(),
    };
    let project_id = match state.project(mrn.project_name()).await? {
        Some(p) if p.org_id == org_id => Some(p.id),
        _ => None,
    };
    let subject = Caller {
        principal: Principal {
            kind,
            id,
            user_id: user.id.clone(),
            user_name: user.name.clone(),
            tags: user.tags.clone(),
            org,
        },
        source_ip: None,
        user_agent: String::new(),
    };
    let target = Target {
        mrn,
        org_id,
        project_id,
        tags: Default::default(),
    };
    state
        .authorizer
        .explain(&subject, action, &target, extra)
        .await
        .map_err(|e| match e {
            crate::iam::AuthzError::Store(e) => e.into(),
            crate::iam::AuthzError::Denied(m) => ApiError::internal(m),
        })
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
