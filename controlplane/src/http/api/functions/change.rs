//! Changing a function: limits, environment, config, host limits, reuse,
//! role, tags and the active version.

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

/// The body of `PATCH .../functions/{name}`: what is left out (or `null`)
/// stays as it is.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct FunctionChange {
    /// Sets the limits named; the others stay.
    limits: Option<LimitsView>,
    /// Replaces the environment variables: at most 256, 64 KiB in all;
    /// names of letters, digits and `_`, not starting with a digit.
    env: Option<BTreeMap<String, String>>,
    /// Makes this version (an existing one) the active one; needs
    /// `iam:PassRole` on the function's role when it changes.
    active_version: Option<i64>,
    /// `public` or `authenticated`.
    http_auth: Option<HttpAuth>,
    /// Replaces the function's tags (also needs `functions:TagResource`):
    /// at most 50, keys of 1 to 128 and values of up to 256 letters,
    /// digits, spaces and `_ . : / = + - @`.
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    tags: Option<crate::store::iam::Tags>,
    /// The execution role, a role of the org; empty removes it (also needs
    /// `iam:PassRole` on it).
    role: Option<String>,
    /// Replaces the settings served through `wasi:config`: at most 256,
    /// keys of 1 to 256 bytes, 64 KiB in all.
    config: Option<BTreeMap<String, String>>,
    /// Replaces the per-invocation caps on host use.
    #[schema(value_type = Option<super::HostLimits>)]
    host_limits: Option<minicloud_runtime::HostLimits>,
    /// Instance reuse (WASI 0.3 HTTP functions only): an object with all
    /// three settings turns it on or changes it; `"off"` turns it off (a
    /// fresh instance per request, the default).
    #[schema(value_type = Option<Object>)]
    reuse: Option<serde_json::Value>,
}

/// Reads a change's `reuse`: `"off"`, or the three settings in range.
fn parse_reuse(value: serde_json::Value) -> ApiResult<Option<minicloud_runtime::Reuse>> {
    let invalid = |why: String| ApiError::bad_request("invalid_reuse", why);
    if value.as_str() == Some("off") {
        return Ok(None);
    }
    if !value.is_object() {
        return Err(invalid(format!(
            "reuse must be \"off\" or an object with max_requests, max_concurrent and idle_timeout_ms; got {value}"
        )));
    }
    minicloud_runtime::Reuse::from_fields(value)
        .map(Some)
        .map_err(invalid)
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

/// Changes a function's settings or active version.
///
/// Limits, environment, config, host limits, instance reuse, HTTP auth,
/// tags, execution role and the active version; every field is optional. Nothing is
/// stored unless every change is valid and allowed. Needs
/// `functions:UpdateFunction` on `function/<name>`, `functions:TagResource`
/// to change tags, and `iam:PassRole` on the role the function runs with
/// when the role or the active version changes. The function loads afresh
/// on its next call. Audited (the record keeps the names in `env` and
/// `config`, not their values).
#[utoipa::path(
    patch,
    path = "/projects/{project}/functions/{name}",
    tag = "functions",
    request_body = FunctionChange,
    responses((status = 200, description = "The function as changed", body = FunctionView))
)]
pub(super) async fn change(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    JsonBody(change): JsonBody<FunctionChange>,
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
    if let Some(reuse) = change.reuse {
        f.settings.reuse = parse_reuse(reuse)?;
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
