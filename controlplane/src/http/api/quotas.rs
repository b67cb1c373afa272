//! Quotas: `GET/PUT /orgs/{org}/quota` and `GET/PUT
//! /projects/{project}/quota`.
//!
//! Reading shows the limits in force (the override, else the server's
//! default), the override, the defaults and the usage; it is allowed to
//! whoever may read the org (`orgs:GetOrg`) or project (`orgs:GetProject`).
//! Changing is the platform administrator's alone: `quotas:PutQuota` is
//! authorized on a platform resource, which no org's grants reach, so an
//! org admin cannot raise its own quota.
//!
//! Refusals answer `quota_exceeded`: 429 with `Retry-After` for the kinds
//! that pass with time (running instances, their memory, request rates),
//! 409 for those that pass only when the tenant deletes something or the
//! quota is raised (functions, rules, stored bytes): retrying the same
//! request would meet the same refusal.

use super::PathParams;
use super::error::{ApiError, ApiResult, JsonBody};
use super::orgs::org_named;
use crate::capabilities::objects::PutError;
use crate::gate::{InUse, Refused};
use crate::http::AppState;
use crate::iam::actions::{orgs, quotas};
use crate::iam::{Caller, Target};
use crate::store::orgs::Org;
use crate::store::projects::Project;
use crate::store::quotas::{QuotaError, QuotaExceeded, QuotaOverride, Quotas, Usage};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_org, put_org))
        .routes(routes!(get_project, put_project))
}

impl From<QuotaExceeded> for ApiError {
    fn from(e: QuotaExceeded) -> Self {
        metrics::counter!("minicloud_quota_exceeded_total", "kind" => e.kind.key()).increment(1);
        // 429 for every quota: rates and running instances pass with time
        // (`Retry-After` says when), counts and bytes once something is
        // deleted (the message says so).
        let err = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", e.to_string());
        match e.retry_after_secs {
            Some(secs) => err.retry_after(secs),
            None => err,
        }
    }
}

impl From<QuotaError> for ApiError {
    fn from(e: QuotaError) -> Self {
        match e {
            QuotaError::Exceeded(q) => q.into(),
            QuotaError::Store(e) => e.into(),
        }
    }
}

impl From<Refused> for ApiError {
    fn from(e: Refused) -> Self {
        match e {
            Refused::Throttled(t) => t.into(),
            Refused::Quota(q) => q.into(),
        }
    }
}

impl From<PutError> for ApiError {
    fn from(e: PutError) -> Self {
        match e {
            PutError::Backend(b) => b.into(),
            PutError::Quota(q) => q.into(),
        }
    }
}

/// The view of one tenant's quota. Running instances and their memory are
/// counted on the node that answers.
fn view(limits: Quotas, over: QuotaOverride, defaults: Quotas, counted: Usage, running: InUse) -> Value {
    json!({
        "limits": limits,
        "override": over,
        "defaults": defaults,
        "usage": {
            "concurrency": running.concurrency,
            "memory_mib": running.memory_mib,
            "stored_bytes": counted.stored_bytes,
            "functions": counted.functions,
            "rules": counted.rules,
        },
    })
}

async fn org_view(state: &AppState, org: &Org) -> ApiResult<Value> {
    let book = &state.quotas;
    let mut v = view(
        book.org(&org.id),
        book.org_override(&org.id),
        book.defaults().org,
        state.store.org_usage(org).await?,
        state.functions.tenants().org_in_use(&org.id),
    );
    v["org"] = json!(org.name);
    Ok(v)
}

async fn project_view(state: &AppState, p: &Project) -> ApiResult<Value> {
    let book = &state.quotas;
    let mut v = view(
        book.project(&p.id),
        book.project_override(&p.id),
        book.defaults().project,
        state.store.in_project(p).usage().await?,
        state.functions.tenants().project_in_use(&p.id),
    );
    v["project"] = json!(p.name);
    v["org"] = json!(p.org_name);
    Ok(v)
}

/// Refuses values the database cannot hold.
fn checked(over: QuotaOverride) -> ApiResult<QuotaOverride> {
    over.check()
        .map_err(|e| ApiError::bad_request("invalid_quota", e.to_string()))?;
    Ok(over)
}

#[utoipa::path(
    get,
    path = "/orgs/{org}/quota",
    tag = "quotas",
    responses((status = 200, description = "Done", body = Object))
)]
async fn get_org(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(name): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let org = org_named(&state, &name).await?;
    let target = Target::in_org("orgs", &org, &format!("org/{}", org.name));
    state.authorize(&caller, orgs::GET_ORG, &target).await?;
    Ok(Json(org_view(&state, &org).await?))
}

/// Replaces the org's override: kinds absent or `null` take the default.
#[utoipa::path(
    put,
    path = "/orgs/{org}/quota",
    tag = "quotas",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, description = "Done", body = Object))
)]
async fn put_org(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(name): PathParams<String>,
    JsonBody(over): JsonBody<QuotaOverride>,
) -> ApiResult<Json<Value>> {
    let org = org_named(&state, &name).await?;
    let target = Target::platform("quotas", &format!("org/{}", org.name));
    state.authorize(&caller, quotas::PUT_QUOTA, &target).await?;
    state.quotas.set_org(&org, &checked(over)?).await?;
    Ok(Json(org_view(&state, &org).await?))
}

#[utoipa::path(
    get,
    path = "/projects/{project}/quota",
    tag = "quotas",
    responses((status = 200, description = "Done", body = Object))
)]
async fn get_project(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(name): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let project = super::project(&state, &name).await?;
    let target = Target::in_project("orgs", &project, &format!("project/{}", project.name));
    state.authorize(&caller, orgs::GET_PROJECT, &target).await?;
    Ok(Json(project_view(&state, &project).await?))
}

/// Replaces the project's override: kinds absent or `null` take the
/// default.
#[utoipa::path(
    put,
    path = "/projects/{project}/quota",
    tag = "quotas",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, description = "Done", body = Object))
)]
async fn put_project(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(name): PathParams<String>,
    JsonBody(over): JsonBody<QuotaOverride>,
) -> ApiResult<Json<Value>> {
    let project = super::project(&state, &name).await?;
    let target = Target::platform("quotas", &format!("project/{}", project.name));
    state.authorize(&caller, quotas::PUT_QUOTA, &target).await?;
    state.quotas.set_project(&project, &checked(over)?).await?;
    Ok(Json(project_view(&state, &project).await?))
}
