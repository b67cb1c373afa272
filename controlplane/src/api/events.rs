//! Events for people. So far `POST /api/v1/events/test-pattern`: whether an
//! event matches a pattern (EventBridge's TestEventPattern), with the
//! pattern's problems reported by JSON path.

use super::error::{ApiError, ApiResult, JsonBody};
use crate::app::AppState;
use crate::events::pattern::Pattern;
use crate::iam::{Caller, Target, actions};
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/events/test-pattern", post(test_pattern))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestPattern {
    /// The pattern, as a JSON object or as its text.
    pattern: Value,
    /// The event, as a JSON object or as its text.
    event: Value,
}

/// A JSON value, or JSON text holding one (as AWS's API takes them).
fn document(v: Value, what: &'static str) -> ApiResult<Value> {
    match v {
        Value::String(text) => serde_json::from_str(&text)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("the {what} is not JSON: {e}"))),
        other => Ok(other),
    }
}

async fn test_pattern(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<TestPattern>,
) -> ApiResult<Json<Value>> {
    let target = Target::in_org("events", &caller.principal.org, "pattern-tester");
    state
        .authorize(&caller, actions::events::TEST_EVENT_PATTERN, &target)
        .await?;
    let pattern =
        Pattern::from_value(&document(req.pattern, "pattern")?).map_err(|e| ApiError::invalid_pattern(&e))?;
    let event = document(req.event, "event")?;
    if !event.is_object() {
        return Err(ApiError::bad_request(
            "invalid_event",
            "the event must be a JSON object",
        ));
    }
    Ok(Json(json!({ "match": pattern.matches(&event) })))
}
