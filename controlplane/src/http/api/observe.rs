//! Logs and invocation records of a function, and its log lines as they
//! come (server-sent events).

use super::error::{ApiError, ApiResult, QueryParams};
use super::openapi::ListPage;
use super::{PathParams, authorized_function, list_page, page_limit, time_cursor};
use crate::handover::Draining;
use crate::http::AppState;
use crate::http::api::described::ApiRouter;
use crate::http::api::described::routes;
use crate::iam::Caller;
use crate::iam::actions::functions;
use crate::store::records::InvocationRecord;
use crate::store::records::{LogRecord, LogsFrom};
use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

/// Routes of this resource.
pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(logs))
        .routes(routes!(stream_logs))
        .routes(routes!(invocations))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LogsQuery {
    /// Epoch ms; lines at or after it.
    since: Option<i64>,
    /// Lines at most (1 to 1000, default 100).
    limit: Option<i64>,
    /// Only the lines of this invocation.
    invocation_id: Option<String>,
    /// A workflow execution's id: the lines of its tasks.
    execution_id: Option<String>,
    /// With `after_seq`: the page goes on after this line of instant
    /// `since` (the `next` of the page before).
    after_invocation: Option<String>,
    /// With `after_invocation`: the line's sequence number.
    after_seq: Option<i64>,
}

/// A page of log lines.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a description of the JSON `logs` answers")]
struct LogsPage {
    /// Oldest first.
    items: Vec<LogRecord>,
    /// The query parameters of the next page; `null` on the last.
    next: Option<LogsNext>,
}

/// One server-sent event of the log stream.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a description of the stream's events")]
struct StreamEvent {
    /// `error` for the event that ends a refused stream; none for a line.
    event: Option<String>,
    /// A log line's JSON (as an item of `GET .../logs`), or with `event:
    /// error`, `{"error": {"code", "message", "status"}}`.
    data: String,
    id: Option<String>,
    retry: Option<i64>,
}

/// Where the next page of log lines starts.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a description of the JSON `logs` answers")]
struct LogsNext {
    since: i64,
    after_invocation: String,
    after_seq: i64,
}

/// A function's log lines, oldest first.
///
/// A full page has `next`: the query parameters (`since`,
/// `after_invocation`, `after_seq`) of the page after it.
#[utoipa::path(
    get,
    path = "/projects/{project}/functions/{name}/logs",
    tag = "functions",
    params(LogsQuery),
    responses((status = 200, description = "A page of lines", body = LogsPage))
)]
async fn logs(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<LogsQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let (project, _) =
        authorized_function(&state, &caller, &project_name, functions::GET_LOGS, &name).await?;
    let limit = page_limit(q.limit)?;
    let after = match (&q.after_invocation, q.after_seq) {
        (Some(i), Some(seq)) => Some((i.as_str(), seq)),
        (None, None) => None,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "after_invocation and after_seq go together (both from the `next` of the page before)",
            ));
        }
    };
    let from = LogsFrom {
        time_ms: q.since.unwrap_or(0),
        after,
    };
    let items = state
        .store
        .in_project(&project)
        .logs(
            &name,
            from,
            q.invocation_id.as_deref(),
            q.execution_id.as_deref(),
            limit,
        )
        .await?;
    let next = match items.last() {
        Some(last) if items.len() as i64 == limit => json!({
            "since": last.time_ms,
            "after_invocation": last.invocation_id,
            "after_seq": last.seq,
        }),
        _ => Value::Null,
    };
    Ok(Json(json!({ "items": items, "next": next })))
}

/// `?since=&invocation_id=` of the log stream.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct StreamQuery {
    /// Epoch ms; lines at or after it (default: now).
    since: Option<i64>,
    /// Only the lines of this invocation.
    invocation_id: Option<String>,
}

/// How often a stream looks for new lines.
const POLL: Duration = Duration::from_millis(500);
/// How long one stream lasts: the client opens the next, authenticated
/// and authorized again.
const STREAM_LIFE: Duration = Duration::from_secs(300);
/// How late a line may be stored after its time (the records writer
/// batches them, and other nodes write theirs): each poll looks back this
/// far, and skips the lines it sent.
const LATE_MS: i64 = 10_000;
/// Lines a poll reads, at most.
const POLL_LINES: i64 = 500;
/// Streams one principal may have open on a node at once.
pub const STREAMS_PER_PRINCIPAL: usize = 4;

/// The log streams open on this node, per principal.
#[derive(Debug, Default)]
pub struct OpenStreams(Mutex<HashMap<String, usize>>);

impl OpenStreams {
    /// A place for one more stream of `principal`, or 429 when it has
    /// [`STREAMS_PER_PRINCIPAL`] open.
    fn open(self: &Arc<Self>, principal: String) -> ApiResult<StreamSlot> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(principal.clone()).or_default();
        if *n >= STREAMS_PER_PRINCIPAL {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_streams",
                format!(
                    "this principal already follows {STREAMS_PER_PRINCIPAL} log streams on this server; \
                     close one first"
                ),
            ));
        }
        *n += 1;
        Ok(StreamSlot {
            streams: Arc::clone(self),
            principal,
        })
    }
}

/// One open stream, given back when the stream ends.
#[derive(Debug)]
struct StreamSlot {
    streams: Arc<OpenStreams>,
    principal: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.principal) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.principal);
            }
        }
    }
}

/// A function's log lines as they come, as server-sent events.
///
/// The lines from `since` on, then new ones as they are stored (`data:`
/// one line's JSON, as in `GET .../logs`). At every poll the credentials are
/// checked again (a revoked key, a removed user, an ended session) and the
/// caller authorized again; a refusal is audited and ends the stream with
/// an `error` event (`{"error": {"code", "message", "status"}}`). A stream
/// ends after five minutes, or when the server drains: the client asks
/// again from its last line. A principal has at most four open at once.
#[utoipa::path(
    get,
    path = "/projects/{project}/functions/{name}/logs/stream",
    tag = "functions",
    params(StreamQuery),
    responses((status = 200, description = "Server-sent events, one log line each", content_type = "text/event-stream", body = StreamEvent))
)]
async fn stream_logs(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Extension(draining): Extension<Draining>,
    PathParams((project_name, name)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<StreamQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    authorized_function(&state, &caller, &project_name, functions::GET_LOGS, &name).await?;
    let principal = &caller.principal;
    let slot = state
        .streams
        .open(format!("{}:{}", principal.kind.as_str(), principal.id))?;
    let token = super::auth::bearer(&headers).unwrap_or_default();
    let from = q.since.unwrap_or_else(crate::util::now_ms);
    let follow = Follow {
        state,
        caller,
        token,
        project_name,
        name,
        invocation_id: q.invocation_id,
        start: from,
        from,
        after: None,
        sent: HashMap::new(),
        queue: VecDeque::new(),
        ends: tokio::time::Instant::now() + STREAM_LIFE,
        draining,
        again: true,
        over: false,
        _slot: slot,
    };
    let events = futures::stream::unfold(follow, |mut f| async move {
        let event = f.next().await?;
        Some((Ok(event), f))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// One stream of log lines.
struct Follow {
    state: AppState,
    caller: Caller,
    /// The credential the stream was opened with, checked at every poll.
    token: String,
    project_name: String,
    name: String,
    invocation_id: Option<String>,
    /// The `since` asked for: no poll looks back before it.
    start: i64,
    /// The next poll reads lines from this instant on ...
    from: i64,
    /// ... after this line of it (when a full page ended inside it).
    after: Option<(String, i64)>,
    /// Lines sent whose time is at or after `from`, and their times.
    sent: HashMap<(String, i64), i64>,
    queue: VecDeque<LogRecord>,
    ends: tokio::time::Instant,
    draining: Draining,
    /// Whether to poll again at once (the first poll, or after a full
    /// page).
    again: bool,
    over: bool,
    _slot: StreamSlot,
}

impl Follow {
    /// The next event; `None` when the stream ends.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(line) = self.queue.pop_front() {
                return Some(Event::default().json_data(&line).unwrap_or_default());
            }
            if self.over || tokio::time::Instant::now() >= self.ends || self.draining.now() {
                return None;
            }
            if !self.again {
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = self.draining.started() => return None,
                }
            }
            if let Err(e) = self.poll().await {
                self.over = true;
                let body = json!({"error": {"code": e.code(), "message": e.message(), "status": e.status().as_u16()}});
                return Some(Event::default().event("error").data(body.to_string()));
            }
        }
    }

    /// Reads new lines into the queue, the caller authenticated and
    /// authorized again first.
    async fn poll(&mut self) -> Result<(), ApiError> {
        let s = &self.state;
        let params =
            json!({"stream": format!("/projects/{}/functions/{}/logs/stream", self.project_name, self.name)});
        let checks = async {
            let caller = super::auth::reauthenticate(s, &self.token, &self.caller).await?;
            authorized_function(s, &caller, &self.project_name, functions::GET_LOGS, &self.name).await
        };
        let (project, _) = super::audit::denials_of(s, &self.caller, &params, checks).await?;
        let from = LogsFrom {
            time_ms: self.from,
            after: self.after.as_ref().map(|(i, seq)| (i.as_str(), *seq)),
        };
        let lines = s
            .store
            .in_project(&project)
            .logs(&self.name, from, self.invocation_id.as_deref(), None, POLL_LINES)
            .await?;
        let full = lines.len() as i64 == POLL_LINES;
        let last = lines.last().map(|l| (l.time_ms, l.invocation_id.clone(), l.seq));
        let mut newest = self.from;
        for line in lines {
            newest = newest.max(line.time_ms);
            let key = (line.invocation_id.clone(), line.seq);
            if self.sent.insert(key, line.time_ms).is_none() {
                self.queue.push_back(line);
            }
        }
        // A full page: the next poll goes on after its last line. Else
        // the next looks back (not before the start) for lines stored
        // late, and skips those it sent.
        self.again = full;
        match last {
            Some((time_ms, invocation_id, seq)) if full => {
                self.from = time_ms;
                self.after = Some((invocation_id, seq));
            }
            _ => {
                self.from = self.start.max(self.from).max(newest - LATE_MS);
                self.after = None;
            }
        }
        let from = self.from;
        self.sent.retain(|_, at| *at >= from);
        Ok(())
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct InvocationsQuery {
    /// Invocations at most (1 to 1000, default 100).
    limit: Option<i64>,
    /// The previous page's `next_cursor`, `<started_ms>:<id>`: the
    /// invocations after it, newest first. A bare `<started_ms>` (epoch
    /// ms) gives those started before it.
    cursor: Option<String>,
}

/// A function's invocations, newest first.
#[utoipa::path(
    get,
    path = "/projects/{project}/functions/{name}/invocations",
    tag = "functions",
    params(InvocationsQuery),
    responses((status = 200, description = "A page of invocations", body = ListPage<InvocationRecord>))
)]
async fn invocations(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<InvocationsQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let (project, _) =
        authorized_function(&state, &caller, &project_name, functions::LIST_INVOCATIONS, &name).await?;
    let limit = page_limit(q.limit)?;
    // A bare epoch ms (the cursor this list gave before it had ids):
    // every invocation started before it.
    let before = match q.cursor.as_deref().map(|c| c.parse::<i64>()) {
        Some(Ok(ms)) => (ms, String::new()),
        _ => time_cursor(q.cursor.as_deref())?.unwrap_or((i64::MAX, String::new())),
    };
    let items = state
        .store
        .in_project(&project)
        .invocations(&name, (before.0, &before.1), limit)
        .await?;
    Ok(list_page(&items, limit, |r| format!("{}:{}", r.started_ms, r.id)))
}
