//! Deploying a component: the upload, its limits, and the execution role.

use super::LimitsView;
use crate::http::AppState;
use crate::http::api::error::{ApiError, ApiResult, QueryParams};
use crate::http::api::{PathParams, authorized_function, check_name, declared_length};
use crate::iam::Caller;
use crate::iam::actions::functions;
use crate::services::functions::Deployed;
use crate::store::functions::{DeployOutcome, HttpAuth, Settings};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;

/// The query of a deploy: limits and who may call it over HTTP. What is
/// left out keeps the function's current setting (a new function's: the
/// platform's default).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeployQuery {
    /// Memory per instance, MiB: 1 to the platform's ceiling
    /// (`--max-memory-mib`, 1024 by default).
    memory_mib: Option<u64>,
    /// Wall-clock limit per invocation, ms: 1 to 900000.
    timeout_ms: Option<u64>,
    /// Instances running at once: 1 to the platform's pool size
    /// (`--pool-instances`, 512 by default).
    concurrency: Option<u64>,
    /// Largest request body, bytes: 0 to 2^40.
    max_request_bytes: Option<u64>,
    /// Largest response body, bytes: 0 to 2^40.
    max_response_bytes: Option<u64>,
    /// Who may call it over HTTP: `public` (a new function's default) or
    /// `authenticated`.
    http_auth: Option<HttpAuth>,
    /// The execution role (a role of the project's org; empty: none).
    /// Needs `iam:PassRole` on it.
    role: Option<String>,
    /// Instance reuse (WASI 0.3 HTTP components only):
    /// `MAX_REQUESTS,MAX_CONCURRENT,IDLE_TIMEOUT_MS` (e.g. `100,4,30000`)
    /// turns it on or changes it, `off` turns it off. A component that
    /// cannot reuse instances is refused before anything is stored.
    reuse: Option<String>,
}

/// What a deploy did.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Deployment {
    /// The function's name.
    name: String,
    /// The project's name.
    project: String,
    /// The version now active.
    version: i64,
    /// Whether the component made a new version; `false` when the same
    /// bytes were already a version of the function, which is now the
    /// active one.
    created: bool,
    /// Hex SHA-256 of the component.
    sha256: String,
    /// Size of the component, bytes.
    size_bytes: i64,
    /// The world the component serves: `http` or `handler`.
    world: String,
    /// The function's limits now.
    limits: LimitsView,
    /// Who may call it over HTTP.
    http_auth: HttpAuth,
    /// The execution role; empty: none.
    role: String,
    /// Instance reuse across requests; `null`: a fresh instance per request.
    #[schema(value_type = Option<super::Reuse>)]
    reuse: Option<minicloud_runtime::Reuse>,
    /// When the version was first deployed, epoch ms.
    created_ms: i64,
}

/// A WebAssembly component's bytes.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code, reason = "describes the body of a deploy")]
pub(super) struct WasmComponent(Vec<u8>);

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
    if declared_length(headers).is_some_and(|n| n > max) {
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

/// Deploys a component: creates the function or gives it new code.
///
/// The body is the WebAssembly component itself (a `.wasm` file of the
/// `http` or `handler` world), sent with `Content-Type: application/wasm`
/// or `application/octet-stream` (or none), at most the platform's upload
/// limit (`--max-upload-bytes`, 50 MiB by default). It is compiled before
/// anything is stored: a component that does not compile is refused. New
/// bytes become a new version, made active; bytes that are already a
/// version of the function make that version active again (200, no new
/// version). The query's settings apply to the function, the others stay.
///
/// Needs `functions:CreateFunction` on `function/<name>`, and `iam:PassRole`
/// on the execution role the new code runs with (the one given, or the
/// function's own); a new function counts against the project's and the
/// org's quotas. Audited.
#[utoipa::path(
    put,
    path = "/projects/{project}/functions/{name}",
    tag = "functions",
    params(DeployQuery),
    request_body(
        description = "The WebAssembly component",
        content((WasmComponent = "application/wasm"), (WasmComponent = "application/octet-stream"))
    ),
    responses(
        (status = 201, description = "A new version, now active (and a new function if there was none)", body = Deployment),
        (status = 200, description = "The bytes were already a version of the function; that version is active now", body = Deployment)
    )
)]
pub(super) async fn deploy(
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
    if let Some(reuse) = &query.reuse {
        settings.reuse = minicloud_runtime::Reuse::parse_short(reuse)
            .map_err(|why| ApiError::bad_request("invalid_reuse", why))?;
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
    let body = Deployment {
        limits: LimitsView::of(&f.settings),
        http_auth: f.settings.http_auth,
        name: f.name,
        project: project.name,
        version: v.version,
        created: outcome == DeployOutcome::Created,
        sha256: v.sha256,
        size_bytes: v.size_bytes,
        world: v.world,
        role: f.settings.role,
        reuse: f.settings.reuse,
        created_ms: v.created_ms,
    };
    Ok((status, Json(body)).into_response())
}

/// Makes `role` the function's execution role: the role must exist in the
/// project's org, and the caller must be allowed `iam:PassRole` on it, so
/// nobody hands a function more than they could grant themselves.
pub(super) async fn set_role(
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
pub(crate) async fn require_pass_role(
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
