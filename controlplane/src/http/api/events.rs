//! Events for people: `POST .../events` (EventBridge's PutEvents), the
//! dead letters of a project (list, replay, delete), and
//! `POST /api/v1/events/test-pattern` (TestEventPattern), with a pattern's
//! problems reported by JSON path.

use super::error::{ApiError, ApiResult, JsonBody, QueryParams};
use super::{PathParams, authorized, list_page, page_limit};
use crate::events::envelope::{Entry, MAX_EVENT_BYTES, Origin};
use crate::events::pattern::Pattern;
use crate::http::AppState;
use crate::iam::{Caller, Target, actions};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Entries one `PutEvents` call may carry.
pub const MAX_ENTRIES: usize = 100;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(test_pattern))
        .routes(routes!(put_events))
        .routes(routes!(dead_letters))
        .routes(routes!(delete_dead_letter))
        .routes(routes!(replay))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutEvents {
    entries: Vec<Value>,
}

/// All entries are checked and authorized before any is accepted; then
/// all are stored (every delivery they owe) before the answer.
#[utoipa::path(
    post,
    path = "/projects/{project}/events",
    tag = "events",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, description = "Done", body = Object))
)]
async fn put_events(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    JsonBody(req): JsonBody<PutEvents>,
) -> ApiResult<Json<Value>> {
    if req.entries.is_empty() || req.entries.len() > MAX_ENTRIES {
        return Err(ApiError::bad_request(
            "invalid_entries",
            format!("entries: 1 to {MAX_ENTRIES} events"),
        ));
    }
    let project = super::project(&state, &project_name).await?;
    let mut events = Vec::with_capacity(req.entries.len());
    for (i, v) in req.entries.into_iter().enumerate() {
        let entry: Entry = serde_json::from_value(v)
            .map_err(|e| ApiError::bad_request("invalid_entry", format!("entries[{i}]: {e}")))?;
        let event = entry
            .into_event(crate::util::new_id(), &project.name, state.events.region())
            .map_err(|e| ApiError::bad_request(e.code, format!("entries[{i}]: {}", e.message)))?;
        if event.to_value().to_string().len() > MAX_EVENT_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "event_too_large",
                format!("entries[{i}]: an event may be at most {MAX_EVENT_BYTES} bytes"),
            ));
        }
        events.push((Origin::Api, event));
    }
    let sources: BTreeSet<&str> = events.iter().map(|(_, e)| e.source.as_str()).collect();
    for source in sources {
        let target = Target::in_project("events", &project, &format!("source/{source}"));
        state
            .authorize(&caller, actions::events::PUT_EVENTS, &target)
            .await?;
    }
    let ids: Vec<Value> = events.iter().map(|(_, e)| json!({ "id": e.id })).collect();
    state.events.publish(&project, events).await?;
    Ok(Json(json!({ "entries": ids, "failed_entry_count": 0 })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DeadLetterQuery {
    rule: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/projects/{project}/dead-letters",
    tag = "events",
    params(DeadLetterQuery),
    responses((status = 200, description = "Done", body = Object))
)]
async fn dead_letters(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    QueryParams(q): QueryParams<DeadLetterQuery>,
) -> ApiResult<Json<Value>> {
    let limit = page_limit(q.limit)?;
    let project = authorized(
        &state,
        &caller,
        &project_name,
        actions::events::LIST_DEAD_LETTERS,
        "rule/*",
    )
    .await?;
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            c.split_once(':')
                .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id)))
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_query", "cursor: pass next_cursor back as it came")
                })?,
        ),
    };
    let rows = state
        .store
        .in_project(&project)
        .dead_letters(q.rule.as_deref(), after, limit)
        .await?;
    Ok(list_page(&rows, limit, |r| format!("{}:{}", r.created_ms, r.id)))
}

/// The project and the dead letter, once the caller may `action` on its
/// rule.
async fn authorized_dead_letter(
    state: &AppState,
    caller: &Caller,
    project_name: &str,
    id: &str,
    action: &str,
) -> ApiResult<(
    crate::store::projects::Project,
    crate::store::events::DeadLetterRow,
)> {
    let project = super::project(state, project_name).await?;
    let dead = state
        .store
        .in_project(&project)
        .dead_letter(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("dead letter {id:?} does not exist")))?;
    let target = Target::in_project("events", &project, &format!("rule/{}", dead.rule));
    state.authorize(caller, action, &target).await?;
    Ok((project, dead))
}

/// Sends a dead letter again: a fresh delivery with a fresh count of
/// attempts and the same idempotency key.
#[utoipa::path(
    post,
    path = "/projects/{project}/dead-letters/{id}/replay",
    tag = "events",
    responses((status = 202, description = "Done", body = Object))
)]
async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, id)): PathParams<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (project, dead) = authorized_dead_letter(
        &state,
        &caller,
        &project_name,
        &id,
        actions::events::REPLAY_DEAD_LETTER,
    )
    .await?;
    let replayed = state.events.replay(&project, &dead).await?;
    let key = replayed.idempotency_key;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "idempotency_key": key, "event_id": dead.event_id, "rule": dead.rule })),
    ))
}

#[utoipa::path(
    delete,
    path = "/projects/{project}/dead-letters/{id}",
    tag = "events",
    responses((status = 204, description = "Done"))
)]
async fn delete_dead_letter(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, id)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let (project, _) = authorized_dead_letter(
        &state,
        &caller,
        &project_name,
        &id,
        actions::events::DELETE_DEAD_LETTER,
    )
    .await?;
    state.store.in_project(&project).delete_dead_letter(&id).await?;
    Ok(StatusCode::NO_CONTENT)
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

#[utoipa::path(
    post,
    path = "/events/test-pattern",
    tag = "events",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, description = "Done", body = Object))
)]
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
