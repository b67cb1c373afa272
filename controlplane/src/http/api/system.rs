//! Health, readiness and metrics.

use super::error::ApiError;
use crate::http::AppState;
use crate::http::api::described::ApiRouter;
use crate::http::api::described::routes;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::{Arc, LazyLock};
use tokio::sync::Semaphore;
use utoipa::ToSchema;

/// Routes of this resource.
pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// A status.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// `ok` or `ready`.
    status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, description = "Up", body = Status)))]
async fn healthz() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", tag = "system", responses((status = 200, description = "Ready", body = Status)))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "not ready");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the database does not answer",
        )
    })?;
    Ok(Json(Status { status: "ready" }))
}

/// Prometheus text format, for a caller allowed `metrics:GetMetrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "system",
    security(("bearer" = [])),
    responses((status = 200, description = "The metrics", content_type = "text/plain", body = String))
)]
async fn metrics(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let caller = super::auth::caller_of(&state, super::auth::Credentials::of(&req)).await?;
    state
        .authorize(
            &caller,
            crate::iam::actions::METRICS_GET,
            &crate::iam::Target::platform("metrics", "platform"),
        )
        .await?;
    Ok(render(&state).await)
}

/// The metrics, rendered on a blocking thread: a render drains the
/// histogram samples taken since the last upkeep and formats every series
/// (one for each workflow, rule, state...), work that on a tokio worker
/// would hold every request that worker serves meanwhile.
pub async fn render(state: &AppState) -> Response {
    metrics::gauge!("minicloud_invocations_in_flight").set(state.functions.in_flight().current() as f64);
    // One render at a time: a flood of scrapes (the private metrics
    // address takes no credentials) waits here rather than taking the
    // blocking threads that compiles and artifact loads need. The render
    // holds the turn, not the request: a scraper that goes away drops its
    // request, while the render it started runs on.
    static RENDERING: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(1)));
    let Ok(turn) = RENDERING.clone().acquire_owned().await else {
        return ApiError::internal("the metrics' render turn is closed").into_response();
    };
    let handle = state.metrics.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        handle.render()
    });
    match rendered.await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}
