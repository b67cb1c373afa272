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
use crate::http::api::described::ApiRouter;
use crate::http::api::described::routes;
use crate::iam::actions::{orgs, quotas};
use crate::iam::{Caller, Target};
use crate::store::orgs::Org;
use crate::store::projects::Project;
use crate::store::quotas::{QuotaError, QuotaExceeded, QuotaOverride, Quotas, Usage};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// Routes of this resource.
pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
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

/// One tenant's quota: the limits in force, the override, the defaults
/// and the usage.
#[derive(Debug, Serialize, ToSchema)]
struct QuotaView {
    /// The limits in force: the override's value for each kind it sets,
    /// else the default.
    limits: Quotas,
    /// The platform administrator's override; a `null` kind takes the
    /// default.
    #[serde(rename = "override")]
    over: QuotaOverride,
    /// The server's defaults for every org or every project
    /// (`--org-quota`, `--project-quota`).
    defaults: Quotas,
    /// What the tenant uses now.
    usage: QuotaUsage,
}

/// What a tenant uses of its quota (request rates are not shown).
#[derive(Debug, Serialize, ToSchema)]
struct QuotaUsage {
    /// Instances running now, on the node that answers.
    concurrency: u64,
    /// MiB those instances reserve, on the node that answers.
    memory_mib: u64,
    /// Bytes of stored objects.
    stored_bytes: u64,
    /// Live functions.
    functions: u64,
    /// Event rules.
    rules: u64,
}

/// An org's quota.
#[derive(Debug, Serialize, ToSchema)]
struct OrgQuota {
    #[serde(flatten)]
    quota: QuotaView,
    /// The org's name.
    org: String,
}

/// A project's quota.
#[derive(Debug, Serialize, ToSchema)]
struct ProjectQuota {
    #[serde(flatten)]
    quota: QuotaView,
    /// The project's name.
    project: String,
    /// The name of the org that owns it.
    org: String,
}

/// The view of one tenant's quota. Running instances and their memory are
/// counted on the node that answers.
fn view(limits: Quotas, over: QuotaOverride, defaults: Quotas, counted: Usage, running: InUse) -> QuotaView {
    QuotaView {
        limits,
        over,
        defaults,
        usage: QuotaUsage {
            concurrency: running.concurrency,
            memory_mib: running.memory_mib,
            stored_bytes: counted.stored_bytes,
            functions: counted.functions,
            rules: counted.rules,
        },
    }
}

async fn org_view(state: &AppState, org: &Org) -> ApiResult<OrgQuota> {
    let book = &state.quotas;
    let quota = view(
        book.org(&org.id),
        book.org_override(&org.id),
        book.defaults().org,
        state.store.org_usage(org).await?,
        state.functions.tenants().org_in_use(&org.id),
    );
    Ok(OrgQuota {
        quota,
        org: org.name.clone(),
    })
}

async fn project_view(state: &AppState, p: &Project) -> ApiResult<ProjectQuota> {
    let book = &state.quotas;
    let quota = view(
        book.project(&p.id),
        book.project_override(&p.id),
        book.defaults().project,
        state.store.in_project(p).usage().await?,
        state.functions.tenants().project_in_use(&p.id),
    );
    Ok(ProjectQuota {
        quota,
        project: p.name.clone(),
        org: p.org_name.clone(),
    })
}

/// Refuses values the database cannot hold.
fn checked(over: QuotaOverride) -> ApiResult<QuotaOverride> {
    over.check()
        .map_err(|e| ApiError::bad_request("invalid_quota", e.to_string()))?;
    Ok(over)
}

/// An org's quota and usage.
///
/// Needs `orgs:GetOrg` on `org/<name>` in the org. Running instances and
/// their memory are counted on the node that answers.
#[utoipa::path(
    get,
    path = "/orgs/{org}/quota",
    tag = "quotas",
    responses((status = 200, description = "The org's quota", body = OrgQuota))
)]
async fn get_org(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(name): PathParams<String>,
) -> ApiResult<Json<OrgQuota>> {
    let org = org_named(&state, &name).await?;
    let target = Target::in_org("orgs", &org, &format!("org/{}", org.name));
    state.authorize(&caller, orgs::GET_ORG, &target).await?;
    Ok(Json(org_view(&state, &org).await?))
}

/// Replaces the org's quota override.
///
/// Kinds absent or `null` take the server's default. Needs
/// `quotas:PutQuota` on the platform resource `mrn:quotas:::org/<name>`,
/// which only the platform administrator's grants reach: an org's admin
/// cannot raise its own quota. Values are at most 2^63 - 1.
#[utoipa::path(
    put,
    path = "/orgs/{org}/quota",
    tag = "quotas",
    request_body = QuotaOverride,
    responses((status = 200, description = "The org's quota, with the new override", body = OrgQuota))
)]
async fn put_org(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(name): PathParams<String>,
    JsonBody(over): JsonBody<QuotaOverride>,
) -> ApiResult<Json<OrgQuota>> {
    let org = org_named(&state, &name).await?;
    let target = Target::platform("quotas", &format!("org/{}", org.name));
    state.authorize(&caller, quotas::PUT_QUOTA, &target).await?;
    state.quotas.set_org(&org, &checked(over)?).await?;
    Ok(Json(org_view(&state, &org).await?))
}

/// A project's quota and usage.
///
/// Needs `orgs:GetProject` on `project/<name>` in the project. Running
/// instances and their memory are counted on the node that answers.
#[utoipa::path(
    get,
    path = "/projects/{project}/quota",
    tag = "quotas",
    responses((status = 200, description = "The project's quota", body = ProjectQuota))
)]
async fn get_project(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(name): PathParams<String>,
) -> ApiResult<Json<ProjectQuota>> {
    let project = super::project(&state, &name).await?;
    let target = Target::in_project("orgs", &project, &format!("project/{}", project.name));
    state.authorize(&caller, orgs::GET_PROJECT, &target).await?;
    Ok(Json(project_view(&state, &project).await?))
}

/// Replaces the project's quota override.
///
/// Kinds absent or `null` take the server's default. Needs
/// `quotas:PutQuota` on the platform resource
/// `mrn:quotas:::project/<name>`, which only the platform administrator's
/// grants reach. Values are at most 2^63 - 1.
#[utoipa::path(
    put,
    path = "/projects/{project}/quota",
    tag = "quotas",
    request_body = QuotaOverride,
    responses((status = 200, description = "The project's quota, with the new override", body = ProjectQuota))
)]
async fn put_project(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(name): PathParams<String>,
    JsonBody(over): JsonBody<QuotaOverride>,
) -> ApiResult<Json<ProjectQuota>> {
    let project = super::project(&state, &name).await?;
    let target = Target::platform("quotas", &format!("project/{}", project.name));
    state.authorize(&caller, quotas::PUT_QUOTA, &target).await?;
    state.quotas.set_project(&project, &checked(over)?).await?;
    Ok(Json(project_view(&state, &project).await?))
}
