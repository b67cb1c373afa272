//! Functions: deploy (`PUT` with the component as the body), read, change,
//! delete, list, versions, and the JSON invoke API.

use super::error::{ApiError, ApiResult, JsonBody, QueryParams};
use super::{Page, PathParams, authorized, authorized_function, check_name};
use crate::http::AppState;
use crate::iam::Caller;
use crate::iam::actions::functions;
use crate::services::functions::{Deployed, FunctionError, Input, Output, Trigger};
use crate::store::functions::{DeployOutcome, FunctionRow, HttpAuth, Settings, VersionRow};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use tokio::io::AsyncWriteExt;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{project}/functions", get(list))
        .route(
            "/projects/{project}/functions/{name}",
            put(deploy).get(read).patch(change).delete(remove),
        )
        .route("/projects/{project}/functions/{name}/versions", get(versions))
        .route("/projects/{project}/functions/{name}/invoke", post(invoke))
}

/// Limits as the API shows and takes them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsView {
    /// Memory per instance, MiB.
    pub memory_mib: Option<u64>,
    /// Wall-clock limit per invocation, ms.
    pub timeout_ms: Option<u64>,
    /// Instances running at once.
    pub concurrency: Option<u64>,
    /// Largest request body, bytes.
    pub max_request_bytes: Option<u64>,
    /// Largest response body, bytes.
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

/// The query of a deploy: limits and who may call it over HTTP.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployQuery {
    memory_mib: Option<u64>,
    timeout_ms: Option<u64>,
    concurrency: Option<u64>,
    max_request_bytes: Option<u64>,
    max_response_bytes: Option<u64>,
    /// `public` (default) or `authenticated`.
    http_auth: Option<HttpAuth>,
    /// The execution role (a role of the project's org).
    role: Option<String>,
}

impl DeployQuery {
    fn limits(&self) -> LimitsView {
        LimitsView {
            memory_mib: self.memory_mib,
            timeout_ms: self.timeout_ms,
            concurrency: self.concurrency,
            max_request_bytes: self.max_request_bytes,
            max_response_bytes: self.max_response_bytes,
        }
    }
}

/// A function as the API shows it.
#[derive(Debug, Serialize)]
pub struct FunctionView {
    name: String,
    project: String,
    active_version: i64,
    world: String,
    sha256: String,
    size_bytes: i64,
    limits: LimitsView,
    env: BTreeMap<String, String>,
    http_auth: HttpAuth,
    tags: crate::store::iam::Tags,
    role: String,
    config: BTreeMap<String, String>,
    host_limits: minicloud_runtime::HostLimits,
    created_ms: i64,
    updated_ms: i64,
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
        created_ms: f.created_ms,
        updated_ms: f.updated_ms,
    }
}

/// The function looked up with the authorization, or 404.
fn exists(f: Option<FunctionRow>, name: &str) -> ApiResult<FunctionRow> {
    f.ok_or_else(|| ApiError::not_found(format!("function {name:?} does not exist")))
}

/// Streams the upload to a temporary file, refusing it past `max` bytes,
/// then reads it back for the compiler (which needs it whole).
async fn receive_upload(state: &AppState, headers: &HeaderMap, body: Body) -> ApiResult<Bytes> {
    let max = state.config.max_upload_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the component is larger than the upload limit of {max} bytes"),
        )
    };
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default();
        if !(ct.starts_with("application/wasm") || ct.starts_with("application/octet-stream")) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("send the component with Content-Type: application/wasm, not {ct:?}"),
            ));
        }
    }
    if super::declared_length(headers).is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let tmp =
        tempfile::NamedTempFile::new_in(state.config.data_dir.join("tmp")).map_err(ApiError::internal)?;
    let mut file = tokio::fs::File::from_std(tmp.reopen().map_err(ApiError::internal)?);
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request("bad_body", format!("reading the upload failed: {e}")))?;
        size += chunk.len() as u64;
        if size > max {
            return Err(too_large());
        }
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    file.flush().await.map_err(ApiError::internal)?;
    let bytes = tokio::fs::read(tmp.path()).await.map_err(ApiError::internal)?;
    Ok(Bytes::from(bytes))
}

/// `PUT .../functions/{name}`: deploy a component.
async fn deploy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    QueryParams(query): QueryParams<DeployQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    check_name("function", &name)?;
    let (project, existing) =
        authorized_function(&state, &caller, &project_name, functions::CREATE_FUNCTION, &name).await?;
    if existing.is_none() {
        state.functions.room_for_new(&project).await?;
    }
    let mut settings = match existing {
        Some(existing) => existing.settings,
        None => state.functions.default_settings(),
    };
    query.limits().apply(&state, &mut settings)?;
    if let Some(auth) = query.http_auth {
        settings.http_auth = auth;
    }
    match query.role {
        Some(role) => set_role(&state, &caller, &project, &mut settings, role).await?,
        // The new code inherits the function's role.
        None => require_pass_role(&state, &caller, &project, &settings.role).await?,
    }
    let bytes = receive_upload(&state, &headers, body).await?;
    let Deployed {
        function: f,
        version: v,
        outcome,
    } = state.functions.deploy(&project, &name, bytes, &settings).await?;
    let status = match outcome {
        DeployOutcome::Created => StatusCode::CREATED,
        DeployOutcome::Existing => StatusCode::OK,
    };
    let body = json!({
        "name": f.name,
        "project": project.name,
        "version": v.version,
        "created": outcome == DeployOutcome::Created,
        "sha256": v.sha256,
        "size_bytes": v.size_bytes,
        "world": v.world,
        "limits": LimitsView::of(&f.settings),
        "http_auth": f.settings.http_auth,
        "role": f.settings.role,
        "created_ms": v.created_ms,
    });
    Ok((status, Json(body)).into_response())
}

/// `GET .../functions/{name}`.
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

/// The body of `PATCH .../functions/{name}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    limits: Option<LimitsView>,
    env: Option<BTreeMap<String, String>>,
    active_version: Option<i64>,
    /// `public` or `authenticated`.
    http_auth: Option<HttpAuth>,
    /// Replaces the function's tags (also needs functions:TagResource).
    tags: Option<crate::store::iam::Tags>,
    /// The execution role; empty removes it (also needs iam:PassRole).
    role: Option<String>,
    /// Replaces the settings served through `wasi:config`.
    config: Option<BTreeMap<String, String>>,
    /// Replaces the per-invocation caps on host use.
    host_limits: Option<minicloud_runtime::HostLimits>,
}

/// Makes `role` the function's execution role: the role must exist in the
/// project's org, and the caller must be allowed `iam:PassRole` on it, so
/// nobody hands a function more than they could grant themselves.
async fn set_role(
    state: &AppState,
    caller: &Caller,
    project: &crate::store::projects::Project,
    settings: &mut Settings,
    role: String,
) -> ApiResult<()> {
    if !role.is_empty() {
        let org = project.org();
        require_pass_role(state, caller, project, &role).await?;
        if state.store.in_org(&org).role(&role).await?.is_none() {
            return Err(ApiError::bad_request(
                "invalid_role",
                format!(
                    "org {:?} has no role {role:?}; create it with POST /api/v1/orgs/{}/roles",
                    org.name, org.name
                ),
            ));
        }
    }
    settings.role = role;
    Ok(())
}

/// Refuses unless the caller may pass `role` (of the project's org) to a
/// function. Asked whenever a change decides which code runs with a role:
/// setting the role, deploying new code under it, or moving the active
/// version; otherwise anyone allowed to deploy could borrow the grants of
/// a role an admin gave the function.
async fn require_pass_role(
    state: &AppState,
    caller: &Caller,
    project: &crate::store::projects::Project,
    role: &str,
) -> ApiResult<()> {
    if role.is_empty() {
        return Ok(());
    }
    let target = crate::iam::Target::in_org("iam", &project.org(), &format!("role/{role}"));
    state
        .authorize(caller, crate::iam::actions::iam::PASS_ROLE, &target)
        .await
}

/// Per-invocation host caps stay within what one invocation may cost the
/// node; zero is allowed (it refuses every such call).
fn check_host_limits(limits: &minicloud_runtime::HostLimits) -> ApiResult<()> {
    const GIB: u64 = 1 << 30;
    let bounds = [
        ("host_calls", limits.host_calls, 1_000_000),
        ("outbound_requests", limits.outbound_requests, 1_000),
        ("bytes_read", limits.bytes_read, 16 * GIB),
        ("bytes_written", limits.bytes_written, 16 * GIB),
    ];
    match bounds.iter().find(|(_, value, max)| value > max) {
        Some((name, value, max)) => Err(ApiError::bad_request(
            "invalid_host_limits",
            format!("host_limits.{name} is {value}; it may be at most {max}"),
        )),
        None => Ok(()),
    }
}

fn check_config(config: &BTreeMap<String, String>) -> ApiResult<()> {
    let total: usize = config.iter().map(|(k, v)| k.len() + v.len()).sum();
    if config.len() > 256 || total > 64 * 1024 || config.keys().any(|k| k.is_empty() || k.len() > 256) {
        return Err(ApiError::bad_request(
            "invalid_config",
            "at most 256 settings, keys of 1 to 256 bytes, and 64 KiB in all",
        ));
    }
    Ok(())
}

fn check_env(env: &BTreeMap<String, String>) -> ApiResult<()> {
    let total: usize = env.iter().map(|(k, v)| k.len() + v.len()).sum();
    if env.len() > 256 || total > 64 * 1024 {
        return Err(ApiError::bad_request(
            "invalid_env",
            "at most 256 variables and 64 KiB in all",
        ));
    }
    for key in env.keys() {
        let ok = !key.is_empty()
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !key.as_bytes()[0].is_ascii_digit();
        if !ok {
            return Err(ApiError::bad_request(
                "invalid_env",
                format!(
                    "environment variable name {key:?} must be letters, digits and '_', not starting with a digit"
                ),
            ));
        }
    }
    Ok(())
}

/// `PATCH .../functions/{name}`: limits, environment, active version.
async fn change(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    JsonBody(change): JsonBody<Change>,
) -> ApiResult<Json<FunctionView>> {
    let (project, f) =
        authorized_function(&state, &caller, &project_name, functions::UPDATE_FUNCTION, &name).await?;
    let mut f = exists(f, &name)?;
    if let Some(limits) = &change.limits {
        limits.apply(&state, &mut f.settings)?;
    }
    if let Some(env) = change.env {
        check_env(&env)?;
        f.settings.env = env;
    }
    if let Some(auth) = change.http_auth {
        f.settings.http_auth = auth;
    }
    if let Some(config) = change.config {
        check_config(&config)?;
        f.settings.config = config;
    }
    if let Some(limits) = change.host_limits {
        check_host_limits(&limits)?;
        f.settings.host_limits = limits;
    }
    match change.role {
        Some(role) => set_role(&state, &caller, &project, &mut f.settings, role).await?,
        // Another version runs under the function's role.
        None if change.active_version.is_some_and(|v| v != f.active_version) => {
            require_pass_role(&state, &caller, &project, &f.settings.role).await?;
        }
        None => {}
    }
    if let Some(tags) = change.tags {
        super::check_tags(&tags)?;
        let target = crate::iam::Target::in_project("functions", &project, &format!("function/{name}"))
            .with_tags(f.settings.tags.clone());
        state
            .authorize_with(
                &caller,
                functions::TAG_RESOURCE,
                &target,
                &crate::iam::request_tags(&tags),
            )
            .await?;
        f.settings.tags = tags;
    }
    if let Some(version) = change.active_version {
        f.active_version = version;
    }
    let (f, v) = state.functions.update(&project, &f).await?;
    Ok(Json(view(&project.name, &f, &v)))
}

/// `DELETE .../functions/{name}`.
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

/// `GET .../functions?limit=&cursor=`: by name.
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
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|f| f.name.clone()))
        .flatten();
    let mut items = Vec::with_capacity(rows.len());
    for f in &rows {
        let v = state.functions.active_version(&project, f).await?;
        items.push(view(&project.name, f, &v));
    }
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

/// `GET .../functions/{name}/versions`: newest first.
async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    let (project, f) =
        authorized_function(&state, &caller, &project_name, functions::GET_FUNCTION, &name).await?;
    let f = exists(f, &name)?;
    let items = state.store.in_project(&project).versions(&f.id).await?;
    Ok(Json(
        json!({ "items": items, "active_version": f.active_version }),
    ))
}

/// `POST .../functions/{name}/invoke`: JSON in, the function's JSON out.
async fn invoke(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (project, _) =
        authorized_function(&state, &caller, &project_name, functions::INVOKE_FUNCTION, &name).await?;
    let target = state.functions.target(&project, &name).await?;
    let max = target.function.limits().max_request_bytes;
    if super::declared_length(&headers).is_some_and(|n| n > max) {
        return Err(FunctionError::InputTooLarge(max).into());
    }
    let trigger = Trigger {
        caller: Some(caller),
        trace_id: super::error::trace_id(),
        delivery: None,
    };
    let invoked = state
        .functions
        .invoke(&target, Input::JsonBody(body), trigger)
        .await?;
    let Output::Json(output) = invoked.output else {
        return Err(ApiError::internal("a JSON call answered HTTP"));
    };
    let invocation_id = invoked.invocation_id;
    let output: serde_json::Value = serde_json::from_str(&output).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "invalid_output",
            format!("the function returned text that is not JSON: {e}"),
        )
    })?;
    let mut resp = Json(output).into_response();
    if let Ok(v) = HeaderValue::from_str(&invocation_id) {
        resp.headers_mut().insert("x-minicloud-invocation-id", v);
    }
    Ok(resp)
}
