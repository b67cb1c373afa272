//! The audit trail of the API: a middleware that records every mutating
//! call and every denied call once its answer is known, and
//! `GET /orgs/{org}/audit` (filtered, paginated) and
//! `GET /orgs/{org}/audit/verify`.

use super::error::{ApiError, ApiResult, QueryParams, trace_id};
use super::openapi::ListPage;
use super::{PathParams, list_page, page_limit};
use crate::http::AppState;
use crate::http::api::described::ApiRouter;
use crate::http::api::described::routes;
use crate::iam::{Caller, Target, actions};
use crate::store::audit::{AuditEntry, AuditFilter, AuditRecord, Verification};
use crate::util::now_ms;
use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};

/// Routes of this resource.
pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new().routes(routes!(list)).routes(routes!(verify))
}

/// The decision an API call got, waiting for its outcome.
#[derive(Debug, Clone)]
pub struct Pending {
    org_id: String,
    action: String,
    resource: String,
    allowed: bool,
}

tokio::task_local! {
    /// The first authorization decision of the request being served.
    static DECISION: Arc<Mutex<Option<Pending>>>;
}

/// Notes a decision for the audit record of the current request (the first
/// one counts: it is the endpoint's own action).
pub fn note(caller: &Caller, action: &str, target: &Target, allowed: bool) {
    let _ = DECISION.try_with(|slot| {
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(pending(caller, action, target, allowed));
        }
    });
}

/// Writes one record: the decision, its outcome and the parameters.
pub async fn append(state: &AppState, caller: &Caller, p: Pending, outcome: u16, params: &Value) {
    let c = &caller.principal;
    // A caller from another org (refused, or allowed by a cross-org
    // policy) is named with its org: `evil/admin` can never pass for this
    // org's `admin`, since names of users hold no `/`.
    let actor_name = if c.org.id == p.org_id {
        c.user_name.clone()
    } else {
        format!("{}/{}", c.org.name, c.user_name)
    };
    let entry = AuditEntry {
        time_ms: now_ms(),
        actor_type: c.kind.as_str().to_owned(),
        actor_id: c.id.clone(),
        actor_name,
        action: p.action,
        resource: p.resource,
        decision: if p.allowed { "Allow" } else { "Deny" }.to_owned(),
        outcome: i64::from(outcome),
        source_ip: caller.source_ip.map(|ip| ip.to_string()).unwrap_or_default(),
        user_agent: caller.user_agent.clone(),
        trace_id: trace_id().to_string(),
        params: params.to_string(),
    };
    state.audit.append(&p.org_id, entry).await;
}

/// A decision taken outside the API's middleware (the gateway's
/// authenticated triggers), for [`append`].
pub fn pending(caller: &Caller, action: &str, target: &Target, allowed: bool) -> Pending {
    Pending {
        org_id: if target.org_id.is_empty() {
            caller.principal.org.id.clone()
        } else {
            target.org_id.clone()
        },
        action: action.to_owned(),
        resource: target.mrn.to_string(),
        allowed,
    }
}

/// Runs `checks` (authorizations) outside a request's middleware, as a
/// stream's later polls do, and writes the record of a refusal among them:
/// a caller refused after its request was answered is audited too.
pub async fn denials_of<T>(
    state: &AppState,
    caller: &Caller,
    params: &Value,
    checks: impl std::future::Future<Output = super::error::ApiResult<T>>,
) -> super::error::ApiResult<T> {
    let slot: Arc<Mutex<Option<Pending>>> = Arc::default();
    let result = DECISION.scope(slot.clone(), checks).await;
    let pending = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(p) = pending.filter(|p| !p.allowed) {
        let outcome = result.as_ref().err().map_or(403, |e| e.status().as_u16());
        append(state, caller, p, outcome, params).await;
    }
    result
}

/// JSON bodies up to this size are recorded (secrets removed).
const MAX_RECORDED_BODY: usize = 64 * 1024;

/// Records the call when it changed something or was denied.
pub async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mutating = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let caller = req.extensions().get::<Caller>().cloned();
    let (req, params) = params(req).await;
    let slot: Arc<Mutex<Option<Pending>>> = Arc::default();
    let resp = DECISION.scope(slot.clone(), next.run(req)).await;
    let pending = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let (Some(p), Some(caller)) = (pending, caller)
        && (mutating || !p.allowed)
    {
        append(&state, &caller, p, resp.status().as_u16(), &params).await;
    }
    resp
}

/// The request's parameters: method, path, query and a small JSON body,
/// with the values of secret-looking fields replaced.
async fn params(req: Request) -> (Request, Value) {
    let (parts, body) = req.into_parts();
    let query: Map<String, Value> = parts
        .uri
        .query()
        .map(|q| url_pairs(q).map(|(k, v)| (k.clone(), json!(v))).collect())
        .unwrap_or_default();
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut params = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": redact(Value::Object(query)),
    });
    let body = if is_json && length.is_some_and(|n| n <= MAX_RECORDED_BODY) {
        match axum::body::to_bytes(body, MAX_RECORDED_BODY).await {
            Ok(bytes) => {
                params["body"] = serde_json::from_slice(&bytes).map_or(Value::Null, redact);
                Body::from(bytes)
            }
            Err(_) => Body::empty(),
        }
    } else {
        if let Some(n) = length {
            params["body_bytes"] = json!(n);
        }
        body
    };
    (Request::from_parts(parts, body), params)
}

fn url_pairs(q: &str) -> impl Iterator<Item = (String, String)> + '_ {
    q.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (k.to_owned(), v.to_owned())
    })
}

/// Replaces the values of fields whose names suggest secrets, and the
/// values (not the names) of a function's `env` and `config`, which people
/// use for connection strings and keys whatever they call them.
fn redact(v: Value) -> Value {
    const SECRET: &[&str] = &[
        "password",
        "secret",
        "token",
        "authorization",
        "credential",
        "private",
    ];
    const SETTINGS: &[&str] = &["env", "config"];
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    if SECRET.iter().any(|s| lower.contains(s)) {
                        (k, json!("[redacted]"))
                    } else if SETTINGS.contains(&lower.as_str()) {
                        (k, redact_values(v))
                    } else {
                        (k, redact(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

/// An object's keys with every value replaced; anything else whole.
fn redact_values(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, _)| (k, json!("[redacted]"))).collect()),
        Value::Null => Value::Null,
        _ => json!("[redacted]"),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only the records of this actor: a user's or key's id, or a user's
    /// name.
    actor: Option<String>,
    /// Only the records of this action, such as `functions:DeleteFunction`.
    action: Option<String>,
    /// Only the records whose resource name starts with this.
    resource_prefix: Option<String>,
    /// `Allow` or `Deny`.
    decision: Option<String>,
    /// `success` (HTTP status below 400), `failure` (400 and above), or one
    /// status code.
    outcome: Option<String>,
    /// Epoch ms; records at or after it.
    since: Option<i64>,
    /// Epoch ms; records before it.
    until: Option<i64>,
    /// Records per page (1 to 1000, default 100).
    limit: Option<i64>,
    /// The `seq` where the previous page ended (its `next_cursor`).
    cursor: Option<i64>,
}

async fn audited_org(state: &AppState, caller: &Caller, name: &str, action: &str) -> ApiResult<String> {
    let org = state
        .store
        .org(name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("org {name:?} does not exist")))?;
    state
        .authorize(caller, action, &Target::in_org("audit", &org, "log"))
        .await?;
    Ok(org.id)
}

/// The org's audit records, newest first.
///
/// Needs `audit:ListRecords` on `log` in the org. Every call that changes
/// something (`POST`, `PUT`, `PATCH`, `DELETE`) and got as far as its
/// authorization, and every call authorization refused, is recorded with
/// the status it was answered, in a hash chain per org (see
/// `GET .../audit/verify`); so are logins, allowed and refused.
#[utoipa::path(
    get,
    path = "/orgs/{org}/audit",
    tag = "audit",
    params(ListQuery),
    responses((status = 200, description = "A page of records, newest first", body = ListPage<AuditRecord>))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org): PathParams<String>,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<Value>> {
    let org_id = audited_org(&state, &caller, &org, actions::audit::LIST_RECORDS).await?;
    let limit = page_limit(q.limit)?;
    if let Some(d) = &q.decision
        && d != "Allow"
        && d != "Deny"
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            "decision is Allow or Deny",
        ));
    }
    let (outcome_min, outcome_below) = match q.outcome.as_deref() {
        None => (0, 0),
        Some("success") => (0, 400),
        Some("failure") => (400, 0),
        Some(code) => match code.parse::<i64>() {
            Ok(n) if (100..600).contains(&n) => (n, n + 1),
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    "outcome is success, failure or an HTTP status code",
                ));
            }
        },
    };
    let filter = AuditFilter {
        outcome_min,
        outcome_below,
        actor: q.actor.unwrap_or_default(),
        action: q.action.unwrap_or_default(),
        resource_prefix: q.resource_prefix.unwrap_or_default(),
        decision: q.decision.unwrap_or_default(),
        since_ms: q.since.unwrap_or(0),
        until_ms: q.until.unwrap_or(0),
    };
    let rows = state
        .store
        .audit_page(&org_id, &filter, q.cursor.unwrap_or(0), limit)
        .await?;
    Ok(list_page(&rows, limit, |r| r.seq))
}

/// Verifies the org's audit chain.
///
/// Needs `audit:VerifyLog` on `log` in the org. Walks every record from
/// the first and reports the first broken link: a gap in the sequence, a
/// record whose previous hash does not match, or one whose content no
/// longer matches its hash. A broken chain still answers 200, with `ok`
/// false.
#[utoipa::path(
    get,
    path = "/orgs/{org}/audit/verify",
    tag = "audit",
    responses((status = 200, description = "What the walk found", body = Verification))
)]
async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org): PathParams<String>,
) -> ApiResult<Json<Verification>> {
    let org_id = audited_org(&state, &caller, &org, actions::audit::VERIFY_LOG).await?;
    Ok(Json(state.store.verify_audit(&org_id).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_function_settings_are_redacted() {
        let body = json!({
            "env": {"DATABASE_URL": "postgres://u:p@db/x"},
            "config": {"api-key": "k-123"},
            "limits": {"memory_mib": 64},
            "nested": [{"secret_string": "s", "name": "n"}],
            "Authorization": "Bearer x",
        });
        let out = redact(body);
        assert_eq!(
            out,
            json!({
                "env": {"DATABASE_URL": "[redacted]"},
                "config": {"api-key": "[redacted]"},
                "limits": {"memory_mib": 64},
                "nested": [{"secret_string": "[redacted]", "name": "n"}],
                "Authorization": "[redacted]",
            })
        );
    }
}
