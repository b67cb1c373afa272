//! Changing a function: limits, environment, config, host limits, role,
//! tags and the active version.

use super::deploy::{require_pass_role, set_role};
use super::{FunctionView, LimitsView, exists, view};
use crate::http::AppState;
use crate::http::api::error::{ApiError, ApiResult, JsonBody};
use crate::http::api::{PathParams, authorized_function, check_tags};
use crate::iam::Caller;
use crate::iam::actions::functions;
use crate::store::functions::HttpAuth;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The body of `PATCH .../functions/{name}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Change {
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
#[utoipa::path(
    patch,
    path = "/projects/{project}/functions/{name}",
    tag = "functions",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, description = "Done", body = Object))
)]
pub(super) async fn change(
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
        check_tags(&tags)?;
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
