//! Events for people: `POST .../events` (EventBridge's PutEvents), the
//! dead letters of a project (list, replay, delete), and
//! `POST /api/v1/events/test-pattern` (TestEventPattern), with a pattern's
//! problems reported by JSON path.

use super::error::{ApiError, ApiResult, JsonBody, QueryParams};
use super::openapi::ListPage;
use super::{PathParams, authorized, list_page, page_limit, time_cursor};
use crate::events::envelope::{Entry, MAX_EVENT_BYTES, Origin};
use crate::events::pattern::Pattern;
use crate::http::AppState;
use crate::http::api::described::ApiRouter;
use crate::http::api::described::routes;
use crate::iam::{Caller, Target, actions};
use crate::store::events::DeadLetterRow;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// Entries one `PutEvents` call may carry.
pub const MAX_ENTRIES: usize = 100;

/// Routes of this resource.
pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(test_pattern))
        .routes(routes!(put_events))
        .routes(routes!(dead_letters))
        .routes(routes!(delete_dead_letter))
        .routes(routes!(replay))
}

/// Events to put.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PutEvents {
    /// 1 to 100 events.
    #[schema(value_type = Vec<Entry>, min_items = 1, max_items = 100)]
    entries: Vec<Value>,
}

/// The events accepted.
#[derive(Debug, Serialize, ToSchema)]
struct PutEventsResult {
    /// One per entry, in the order of the request.
    entries: Vec<AcceptedEvent>,
    /// Always 0: a call accepts every entry or none.
    failed_entry_count: u32,
}

/// An accepted event.
#[derive(Debug, Serialize, ToSchema)]
struct AcceptedEvent {
    /// The event's id.
    id: String,
}

/// Puts events on the project's bus (EventBridge's `PutEvents`).
///
/// Every entry is checked, and the caller authorized for each source
/// (`events:PutEvents` on `source/<source>`), before any is accepted; a
/// refused entry refuses the call, naming it (`entries[i]`). Then every
/// event is stored with every delivery it owes to the rules that match it
/// before the answer. An event's JSON envelope is at most 256 KiB.
/// Audited.
#[utoipa::path(
    post,
    path = "/projects/{project}/events",
    tag = "events",
    request_body = PutEvents,
    responses((status = 200, description = "Every event, accepted", body = PutEventsResult))
)]
async fn put_events(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    JsonBody(req): JsonBody<PutEvents>,
) -> ApiResult<Json<PutEventsResult>> {
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
    let ids: Vec<AcceptedEvent> = events
        .iter()
        .map(|(_, e)| AcceptedEvent { id: e.id.clone() })
        .collect();
    state.events.publish(&project, events).await?;
    Ok(Json(PutEventsResult {
        entries: ids,
        failed_entry_count: 0,
    }))
}

/// `?rule=&limit=&cursor=` of the dead letters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DeadLetterQuery {
    /// Only the dead letters of this rule (by name).
    rule: Option<String>,
    /// Dead letters per page (1 to 1000, default 100).
    limit: Option<i64>,
    /// The `next_cursor` of the page before, as it came.
    cursor: Option<String>,
}

/// The project's dead letters, oldest first.
///
/// A dead letter is a delivery that ran out of attempts or age, kept with
/// its event and last error until it is replayed or deleted. Needs
/// `events:ListDeadLetters` on `rule/*`.
#[utoipa::path(
    get,
    path = "/projects/{project}/dead-letters",
    tag = "events",
    params(DeadLetterQuery),
    responses((status = 200, description = "A page of dead letters, oldest first", body = ListPage<DeadLetterRow>))
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
    let after = time_cursor(q.cursor.as_deref())?;
    let rows = state
        .store
        .in_project(&project)
        .dead_letters(
            q.rule.as_deref(),
            after.as_ref().map(|(ms, id)| (*ms, id.as_str())),
            limit,
        )
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

/// A dead letter sent again.
#[derive(Debug, Serialize, ToSchema)]
struct ReplayedDeadLetter {
    /// The delivery's idempotency key, the same as the first time.
    idempotency_key: String,
    /// The event's id.
    event_id: String,
    /// The rule's name.
    rule: String,
}

/// Sends a dead letter again.
///
/// A fresh delivery, with a fresh count of attempts and the same
/// idempotency key. The dead letter leaves the list; if the delivery fails
/// again it comes back. The rule must still exist (409 `rule_gone`). Needs
/// `events:ReplayDeadLetter` on `rule/<rule>`; audited.
#[utoipa::path(
    post,
    path = "/projects/{project}/dead-letters/{id}/replay",
    tag = "events",
    params(("id" = String, Path, description = "The dead letter's id")),
    responses((status = 202, description = "The delivery, under way", body = ReplayedDeadLetter))
)]
async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, id)): PathParams<(String, String)>,
) -> ApiResult<(StatusCode, Json<ReplayedDeadLetter>)> {
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
        Json(ReplayedDeadLetter {
            idempotency_key: key,
            event_id: dead.event_id,
            rule: dead.rule,
        }),
    ))
}

/// Deletes a dead letter.
///
/// Needs `events:DeleteDeadLetter` on `rule/<rule>`; audited.
#[utoipa::path(
    delete,
    path = "/projects/{project}/dead-letters/{id}",
    tag = "events",
    params(("id" = String, Path, description = "The dead letter's id")),
    responses((status = 204, description = "Deleted"))
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

/// A pattern and an event to test it on.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TestPattern {
    /// The pattern, as a JSON object or as its text.
    pattern: Value,
    /// The event, as a JSON object or as its text.
    event: Value,
}

/// Whether the pattern matches.
#[derive(Debug, Serialize, ToSchema)]
struct PatternMatch {
    /// Whether the event matches the pattern.
    #[serde(rename = "match")]
    matches: bool,
}

/// A JSON value, or JSON text holding one (as AWS's API takes them).
fn document(v: Value, what: &'static str) -> ApiResult<Value> {
    match v {
        Value::String(text) => serde_json::from_str(&text)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("the {what} is not JSON: {e}"))),
        other => Ok(other),
    }
}

/// Tests an event pattern on an event (EventBridge's `TestEventPattern`).
///
/// Stores nothing. An invalid pattern is 400 `invalid_pattern`, with the
/// problem's JSON path in `error.path`; the event must be a JSON object.
/// Needs `events:TestEventPattern` on the caller's org's `pattern-tester`.
#[utoipa::path(
    post,
    path = "/events/test-pattern",
    tag = "events",
    request_body = TestPattern,
    responses((status = 200, description = "Whether the event matches", body = PatternMatch))
)]
async fn test_pattern(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<TestPattern>,
) -> ApiResult<Json<PatternMatch>> {
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
    Ok(Json(PatternMatch {
        matches: pattern.matches(&event),
    }))
}
