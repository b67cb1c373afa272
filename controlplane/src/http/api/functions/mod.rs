//! Functions: deploy (`PUT` with the component as the body), read, change,
//! delete, list, versions, and the JSON invoke API.
//!
//! - `deploy`: the deploy handler, its upload, and the execution role checks.
//! - `change`: the `PATCH` handler and the checks of what it changes.
//! - `invoke`: the JSON invoke handler.

mod change;
pub(crate) mod deploy;
mod invoke;

pub use deploy::DeployQuery;

use super::error::{ApiError, ApiResult, QueryParams};
use super::openapi::ListPage;
use super::{Page, PathParams, authorized, authorized_function, next_cursor};
use crate::http::AppState;
use crate::http::api::described::ApiRouter;
use crate::http::api::described::routes;
use crate::iam::Caller;
use crate::iam::actions::functions;
use crate::store::functions::{FunctionRow, HttpAuth, Settings, VersionRow};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Routes of this resource.
pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(deploy::deploy, read, change::change, remove))
        .routes(routes!(versions))
        .routes(routes!(invoke::invoke))
}

impl From<crate::services::functions::FunctionError> for ApiError {
    fn from(e: crate::services::functions::FunctionError) -> Self {
        use crate::services::functions::FunctionError as F;
        match e {
            F::NotFound { .. } | F::NoVersion { .. } => Self::not_found(e.to_string()),
            F::Conflict => Self::new(axum::http::StatusCode::CONFLICT, "conflict", e.to_string()),
            F::InputTooLarge(_) => Self::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                e.to_string(),
            ),
            F::InputNotJson(m) => Self::bad_request("invalid_json", m),
            F::InputUnreadable(_) => Self::bad_request("bad_body", e.to_string()),
            F::Quota(q) => q.into(),
            F::Refused(r) => r.into(),
            F::Compile(c) => c.into(),
            F::NotReusable { .. } | F::ComposedNotReusable { .. } => {
                Self::bad_request("reuse_unsupported", e.to_string())
            }
            F::Invoke(i) => i.into(),
            F::Load(_) | F::Artifact(_) | F::Store(_) => Self::internal(e),
        }
    }
}

/// Limits as the API shows and takes them. A function's view shows every
/// one; a change sets those it names and keeps the others.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsView {
    /// Memory per instance, MiB: 1 to the platform's ceiling
    /// (`--max-memory-mib`, 1024 by default).
    pub memory_mib: Option<u64>,
    /// Wall-clock limit per invocation, ms: 1 to 900000 (15 minutes).
    pub timeout_ms: Option<u64>,
    /// Instances running at once: 1 to the platform's pool size
    /// (`--pool-instances`, 512 by default).
    pub concurrency: Option<u64>,
    /// Largest request body, bytes: 0 to 2^40.
    pub max_request_bytes: Option<u64>,
    /// Largest response body, bytes: 0 to 2^40.
    pub max_response_bytes: Option<u64>,
}

impl LimitsView {
    fn of(s: &Settings) -> Self {
        Self {
            memory_mib: Some(s.memory_bytes as u64 / (1024 * 1024)),
            timeout_ms: Some(s.timeout_ms as u64),
            concurrency: Some(s.concurrency as u64),
            max_request_bytes: Some(s.max_request_bytes as u64),
            max_response_bytes: Some(s.max_response_bytes as u64),
        }
    }

    /// Applies the given fields to `s`, refusing values out of range.
    fn apply(&self, state: &AppState, s: &mut Settings) -> ApiResult<()> {
        let c = &state.config;
        let check = |field: &str, v: u64, lo: u64, hi: u64| {
            if (lo..=hi).contains(&v) {
                Ok(v as i64)
            } else {
                Err(ApiError::bad_request(
                    "invalid_limits",
                    format!("{field} must be between {lo} and {hi}, not {v}"),
                ))
            }
        };
        if let Some(v) = self.memory_mib {
            s.memory_bytes = check("memory_mib", v, 1, c.max_memory_mib)? * 1024 * 1024;
        }
        if let Some(v) = self.timeout_ms {
            s.timeout_ms = check("timeout_ms", v, 1, 15 * 60 * 1000)?;
        }
        if let Some(v) = self.concurrency {
            s.concurrency = check("concurrency", v, 1, u64::from(c.pool_instances))?;
        }
        if let Some(v) = self.max_request_bytes {
            s.max_request_bytes = check("max_request_bytes", v, 0, 1 << 40)?;
        }
        if let Some(v) = self.max_response_bytes {
            s.max_response_bytes = check("max_response_bytes", v, 0, 1 << 40)?;
        }
        Ok(())
    }
}

/// A function as the API shows it: its settings and its active version.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunctionView {
    /// Unique in the project.
    name: String,
    /// The project's name.
    project: String,
    /// The version that serves calls.
    active_version: i64,
    /// The active version's world: `http` or `handler`.
    world: String,
    /// Hex SHA-256 of the active version's component.
    sha256: String,
    /// Size of the active version's component, bytes.
    size_bytes: i64,
    /// Limits of every invocation.
    limits: LimitsView,
    /// Environment variables the function sees (and no others).
    env: BTreeMap<String, String>,
    /// Who may call it over HTTP.
    http_auth: HttpAuth,
    /// Tags, seen by policies as `mc:ResourceTag/<key>`.
    #[schema(value_type = BTreeMap<String, String>)]
    tags: crate::store::iam::Tags,
    /// The execution role (a role of the org) whose grants the function
    /// acts with; empty: none, and the function may use no platform
    /// resource.
    role: String,
    /// Settings served to the function through `wasi:config`.
    config: BTreeMap<String, String>,
    /// Per-invocation caps on the use of host interfaces.
    #[schema(value_type = HostLimits)]
    host_limits: minicloud_runtime::HostLimits,
    /// Instance reuse across requests; `null`: a fresh instance per request.
    #[schema(value_type = Option<Reuse>)]
    reuse: Option<minicloud_runtime::Reuse>,
    /// Creation time, epoch ms.
    created_ms: i64,
    /// Last change (a deploy or a `PATCH`), epoch ms.
    updated_ms: i64,
}

/// Per-invocation caps on the use of host interfaces
/// (`minicloud_runtime::HostLimits`); a call past a cap fails inside the
/// function. Zero refuses every such call. A change may leave fields out:
/// they take their defaults.
#[derive(Debug, ToSchema)]
#[serde(default)]
#[allow(dead_code, reason = "describes the JSON of minicloud_runtime::HostLimits")]
pub struct HostLimits {
    /// Calls into platform interfaces (storage, key-value, secrets,
    /// identity, outbound HTTP): at most 1000000.
    host_calls: u64,
    /// Outbound HTTP requests: at most 1000.
    outbound_requests: u64,
    /// Bytes read from storage, key-value and secrets: at most 16 GiB.
    bytes_read: u64,
    /// Bytes written to storage and key-value: at most 16 GiB.
    bytes_written: u64,
}

impl Default for HostLimits {
    /// The runtime's defaults, shown in the description.
    fn default() -> Self {
        let d = minicloud_runtime::HostLimits::default();
        Self {
            host_calls: d.host_calls,
            outbound_requests: d.outbound_requests,
            bytes_read: d.bytes_read,
            bytes_written: d.bytes_written,
        }
    }
}

/// Instance reuse of a WASI 0.3 HTTP function (`minicloud_runtime::Reuse`):
/// each instance serves up to `max_requests` requests, up to
/// `max_concurrent` at once, and ends after `idle_timeout_ms` without one.
/// State in the instance's memory survives from one request to the next
/// of the same function, never to another function; a trap ends the
/// instance; memory, timeouts and host limits still hold per request.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "describes the JSON of minicloud_runtime::Reuse")]
pub struct Reuse {
    /// Requests one instance serves before it ends: 1 to 1000000.
    max_requests: u32,
    /// Requests one instance serves at once: 1 to 1000.
    max_concurrent: u32,
    /// Milliseconds an idle instance waits for another request: 1 to
    /// 600000.
    idle_timeout_ms: u64,
}

/// The versions of a function.
#[derive(Debug, Serialize, ToSchema)]
struct FunctionVersions {
    /// Every version, newest first.
    items: Vec<VersionRow>,
    /// The version that serves calls.
    active_version: i64,
}

fn view(project: &str, f: &FunctionRow, v: &VersionRow) -> FunctionView {
    FunctionView {
        name: f.name.clone(),
        project: project.to_owned(),
        active_version: f.active_version,
        world: v.world.clone(),
        sha256: v.sha256.clone(),
        size_bytes: v.size_bytes,
        limits: LimitsView::of(&f.settings),
        env: f.settings.env.clone(),
        http_auth: f.settings.http_auth,
        tags: f.settings.tags.clone(),
        role: f.settings.role.clone(),
        config: f.settings.config.clone(),
        host_limits: f.settings.host_limits,
        reuse: f.settings.reuse,
        created_ms: f.created_ms,
        updated_ms: f.updated_ms,
    }
}

/// The function looked up with the authorization, or 404.
fn exists(f: Option<FunctionRow>, name: &str) -> ApiResult<FunctionRow> {
    f.ok_or_else(|| ApiError::not_found(format!("function {name:?} does not exist")))
}

/// A function: its settings and active version.
///
/// Needs `functions:GetFunction` on `function/<name>`.
#[utoipa::path(
    get,
    path = "/projects/{project}/functions/{name}",
    tag = "functions",
    responses((status = 200, description = "The function", body = FunctionView))
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<Json<FunctionView>> {
    let (project, f) =
        authorized_function(&state, &caller, &project_name, functions::GET_FUNCTION, &name).await?;
    let f = exists(f, &name)?;
    let v = state.functions.active_version(&project, &f).await?;
    Ok(Json(view(&project.name, &f, &v)))
}

/// Deletes a function, with its versions.
///
/// Needs `functions:DeleteFunction` on `function/<name>`; audited. Calls in
/// flight finish; later ones find no function. The name is free at once
/// for a new function. Routes and rules that name the function are kept.
#[utoipa::path(
    delete,
    path = "/projects/{project}/functions/{name}",
    tag = "functions",
    responses((status = 204, description = "Deleted"))
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let (project, f) =
        authorized_function(&state, &caller, &project_name, functions::DELETE_FUNCTION, &name).await?;
    let f = exists(f, &name)?;
    state.functions.delete(&project, &f).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The project's functions, by name.
///
/// Needs `functions:ListFunctions` on `function/*`. The cursor is the last
/// name of the page before.
#[utoipa::path(
    get,
    path = "/projects/{project}/functions",
    tag = "functions",
    params(Page),
    responses((status = 200, description = "A page of functions, by name", body = ListPage<FunctionView>))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    QueryParams(page): QueryParams<Page>,
) -> ApiResult<Json<serde_json::Value>> {
    let project = authorized(
        &state,
        &caller,
        &project_name,
        functions::LIST_FUNCTIONS,
        "function/*",
    )
    .await?;
    let limit = page.limit()?;
    let scope = state.store.in_project(&project);
    let rows = scope
        .list_functions(page.cursor.as_deref().unwrap_or(""), limit)
        .await?;
    let next = next_cursor(&rows, limit, |f| f.name.clone());
    let mut items = Vec::with_capacity(rows.len());
    for f in &rows {
        let v = state.functions.active_version(&project, f).await?;
        items.push(view(&project.name, f, &v));
    }
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

/// A function's versions, newest first.
///
/// Needs `functions:GetFunction` on `function/<name>`. Every deploy of new
/// code is a version; versions are never changed, and any of them can be
/// made active again with `PATCH` (`active_version`).
#[utoipa::path(
    get,
    path = "/projects/{project}/functions/{name}/versions",
    tag = "functions",
    responses((status = 200, description = "Every version, and the active one", body = FunctionVersions))
)]
async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<Json<FunctionVersions>> {
    let (project, f) =
        authorized_function(&state, &caller, &project_name, functions::GET_FUNCTION, &name).await?;
    let f = exists(f, &name)?;
    let items = state.store.in_project(&project).versions(&f.id).await?;
    Ok(Json(FunctionVersions {
        items,
        active_version: f.active_version,
    }))
}
