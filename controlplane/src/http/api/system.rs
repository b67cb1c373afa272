//! Health, readiness and metrics.

use super::error::ApiError;
use crate::http::AppState;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process is up.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers.
async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "not ready");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the database does not answer",
        )
    })?;
    Ok(Json(json!({ "status": "ready" })))
}

/// Prometheus text format, for a caller allowed `metrics:GetMetrics`.
async fn metrics(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let caller = super::auth::caller_of(&state, super::auth::Credentials::of(&req)).await?;
    state
        .authorize(
            &caller,
            crate::iam::actions::METRICS_GET,
            &crate::iam::Target::platform("metrics", "platform"),
        )
        .await?;
    Ok(render(&state))
}

/// The metrics, rendered.
pub fn render(state: &AppState) -> Response {
    metrics::gauge!("minicloud_invocations_in_flight").set(state.functions.in_flight().current() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// The router of the private metrics address: `/metrics` without
/// credentials, and nothing else.
pub fn metrics_only(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(s): State<AppState>| async move { render(&s) }),
        )
        .with_state(state)
}
