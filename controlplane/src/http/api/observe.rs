//! Logs and invocation records of a function, and its log lines as they
//! come (server-sent events).

use super::error::{ApiError, ApiResult, QueryParams};
use super::{PathParams, authorized_function, list_page, page_limit};
use crate::http::AppState;
use crate::iam::Caller;
use crate::iam::actions::functions;
use crate::store::records::LogRecord;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Json, Router};
use futures::Stream;
use serde::Deserialize;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{project}/functions/{name}/logs", get(logs))
        .route(
            "/projects/{project}/functions/{name}/logs/stream",
            get(stream_logs),
        )
        .route(
            "/projects/{project}/functions/{name}/invocations",
            get(invocations),
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsQuery {
    /// Epoch ms; lines at or after it.
    since: Option<i64>,
    limit: Option<i64>,
    invocation_id: Option<String>,
    /// A workflow execution's id: the lines of its tasks.
    execution_id: Option<String>,
}

/// `GET .../logs?since=&limit=&invocation_id=&execution_id=`: oldest first.
async fn logs(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<LogsQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let (project, _) =
        authorized_function(&state, &caller, &project_name, functions::GET_LOGS, &name).await?;
    let limit = page_limit(q.limit)?;
    let items = state
        .store
        .in_project(&project)
        .logs(
            &name,
            q.since.unwrap_or(0),
            q.invocation_id.as_deref(),
            q.execution_id.as_deref(),
            limit,
        )
        .await?;
    Ok(Json(json!({ "items": items })))
}

/// `?since=&invocation_id=` of the log stream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    /// Epoch ms; lines at or after it (default: now).
    since: Option<i64>,
    invocation_id: Option<String>,
}

/// How often a stream looks for new lines.
const POLL: Duration = Duration::from_millis(500);
/// How long one stream lasts: the client opens the next, authenticated
/// and authorized again (a revoked key or a removed grant ends the
/// following within this).
const STREAM_LIFE: Duration = Duration::from_secs(300);
/// How late a line may be stored after its time (the records writer
/// batches them, and other nodes write theirs): each poll looks back this
/// far, and skips the lines it sent.
const LATE_MS: i64 = 10_000;
/// Lines a poll reads, at most.
const POLL_LINES: i64 = 500;

/// `GET .../logs/stream?since=`: the function's log lines from `since` on,
/// then new ones as they are stored, as server-sent events (`data:` one
/// line's JSON, as in `GET .../logs`). The caller is authorized again at
/// every poll; a refusal ends the stream with an `error` event. A stream
/// ends after five minutes: the client asks again from its last line.
async fn stream_logs(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<StreamQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    authorized_function(&state, &caller, &project_name, functions::GET_LOGS, &name).await?;
    let follow = Follow {
        state,
        caller,
        project_name,
        name,
        invocation_id: q.invocation_id,
        from: q.since.unwrap_or_else(crate::util::now_ms),
        sent: HashMap::new(),
        queue: VecDeque::new(),
        ends: tokio::time::Instant::now() + STREAM_LIFE,
        again: true,
        over: false,
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
    project_name: String,
    name: String,
    invocation_id: Option<String>,
    /// The next poll reads lines at or after this.
    from: i64,
    /// Lines sent whose time is at or after `from`, and their times.
    sent: HashMap<(String, i64), i64>,
    queue: VecDeque<LogRecord>,
    ends: tokio::time::Instant,
    /// Whether to poll again at once (the first poll, or after a full
    /// page).
    again: bool,
    over: bool,
}

impl Follow {
    /// The next event; `None` when the stream ends.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(line) = self.queue.pop_front() {
                return Some(Event::default().json_data(&line).unwrap_or_default());
            }
            if self.over || tokio::time::Instant::now() >= self.ends {
                return None;
            }
            if !self.again {
                tokio::time::sleep(POLL).await;
            }
            if let Err(e) = self.poll().await {
                self.over = true;
                let body = json!({"error": {"code": e.code(), "message": e.message()}});
                return Some(Event::default().event("error").data(body.to_string()));
            }
        }
    }

    /// Reads new lines into the queue, the caller authorized again first.
    async fn poll(&mut self) -> Result<(), ApiError> {
        let s = &self.state;
        let (project, _) = authorized_function(
            s,
            &self.caller,
            &self.project_name,
            functions::GET_LOGS,
            &self.name,
        )
        .await?;
        let lines = s
            .store
            .in_project(&project)
            .logs(
                &self.name,
                self.from,
                self.invocation_id.as_deref(),
                None,
                POLL_LINES,
            )
            .await?;
        let full = lines.len() as i64 == POLL_LINES;
        let mut newest = self.from;
        for line in lines {
            newest = newest.max(line.time_ms);
            let key = (line.invocation_id.clone(), line.seq);
            if self.sent.insert(key, line.time_ms).is_none() {
                self.queue.push_back(line);
            }
        }
        // A full page: the next poll goes on from its last line (those
        // at that instant are in `sent`); else it looks back for lines
        // stored late.
        self.again = full;
        self.from = if full {
            newest
        } else {
            self.from.max(newest - LATE_MS)
        };
        let from = self.from;
        self.sent.retain(|_, at| *at >= from);
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvocationsQuery {
    limit: Option<i64>,
    /// Epoch ms; invocations started before it (the previous page's cursor).
    cursor: Option<i64>,
}

/// `GET .../invocations?limit=&cursor=`: newest first.
async fn invocations(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<InvocationsQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let (project, _) =
        authorized_function(&state, &caller, &project_name, functions::LIST_INVOCATIONS, &name).await?;
    let limit = page_limit(q.limit)?;
    let items = state
        .store
        .in_project(&project)
        .invocations(&name, q.cursor.unwrap_or(i64::MAX), limit)
        .await?;
    Ok(list_page(&items, limit, |r| r.started_ms))
}
