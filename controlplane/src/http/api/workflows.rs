//! Workflows of a project (definitions validated on write: 400
//! `invalid_definition` with every problem at its JSON path), their
//! executions and histories, and task tokens sent back.

use super::error::{ApiError, ApiResult, JsonBody, QueryParams};
use super::functions::deploy::require_pass_role;
use super::{Page, PathParams, authorized, check_name, list_page, next_cursor, page_limit};
use crate::http::AppState;
use crate::iam::actions::workflows as actions;
use crate::iam::{Caller, Target};
use crate::services::workflows::WorkflowError;
use crate::store::projects::Project;
use crate::store::workflows::executions::ExecutionRow;
use crate::store::workflows::{PutOutcome, WorkflowRow};
use crate::workflows::StoredSignal;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use minicloud_asl::machine::Event;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(describe, put, remove))
        .routes(routes!(executions, start))
        .routes(routes!(start_sync))
        .routes(routes!(execution))
        .routes(routes!(history))
        .routes(routes!(stop))
        .routes(routes!(logs))
        .routes(routes!(token_success))
        .routes(routes!(token_failure))
        .routes(routes!(token_heartbeat))
}

impl From<WorkflowError> for ApiError {
    fn from(e: WorkflowError) -> Self {
        use WorkflowError as E;
        match e {
            E::Invalid(problems) => Self::invalid_definition(&problems),
            E::NoWorkflow(_) | E::NoExecution(_) => Self::not_found(e.to_string()),
            E::Busy(..) => Self::new(StatusCode::CONFLICT, "workflow_busy", e.to_string()),
            E::AlreadyExists(_) => Self::new(StatusCode::CONFLICT, "execution_exists", e.to_string()),
            E::InputTooLarge(_) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "input_too_large", e.to_string()),
            E::BadName(_) => Self::bad_request("invalid_name", e.to_string()),
            E::TooManyOpen => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_executions",
                e.to_string(),
            ),
            E::NotRunning(_) => Self::new(StatusCode::CONFLICT, "execution_not_running", e.to_string()),
            E::BadToken => Self::bad_request("invalid_token", e.to_string()),
            E::TaskTimedOut => Self::bad_request("task_timed_out", e.to_string()),
            E::Store(s) => s.into(),
            E::Engine(x) => Self::internal(x),
        }
    }
}

/// The project named in the path, once the caller may do `action` on
/// workflow `name` in it.
async fn authorized_workflow(
    state: &AppState,
    caller: &Caller,
    project_name: &str,
    action: &str,
    name: &str,
) -> ApiResult<Project> {
    authorized(state, caller, project_name, action, &format!("workflow/{name}")).await
}

/// The project and the workflow named in the path, once the caller may do
/// `action` on it.
async fn existing(
    state: &AppState,
    caller: &Caller,
    project_name: &str,
    action: &str,
    name: &str,
) -> ApiResult<(Project, WorkflowRow)> {
    let project = authorized_workflow(state, caller, project_name, action, name).await?;
    let workflow = state.workflows.workflow(&project, name).await?;
    Ok((project, workflow))
}

/// `PUT` body: the definition (an object, or its JSON text as Step
/// Functions takes it), and optionally the execution role and a
/// description.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    definition: Value,
    #[serde(default)]
    role: String,
    #[serde(default)]
    description: String,
}

fn shown(row: &WorkflowRow, definition: &Value) -> Value {
    let mut v = serde_json::to_value(row).unwrap_or_default();
    if let Some(map) = v.as_object_mut() {
        map.insert("definition".into(), definition.clone());
    }
    v
}

#[utoipa::path(
    put,
    path = "/projects/{project}/workflows/{name}",
    tag = "workflows",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 201, description = "Done", body = Object))
)]
async fn put(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<PutBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_name("workflow", &name)?;
    let project =
        authorized_workflow(&state, &caller, &project_name, actions::CREATE_WORKFLOW, &name).await?;
    if !body.role.is_empty() {
        check_name("role", &body.role)?;
    }
    require_pass_role(&state, &caller, &project, &body.role).await?;
    let definition = match body.definition {
        Value::String(text) => serde_json::from_str(&text).map_err(|e| {
            ApiError::bad_request(
                "invalid_definition",
                format!("definition is a string that is not JSON: {e}"),
            )
        })?,
        other => other,
    };
    let (row, outcome) = state
        .workflows
        .put(&project, &name, &definition, &body.role, &body.description)
        .await?;
    let status = match outcome {
        PutOutcome::Created => StatusCode::CREATED,
        PutOutcome::NewVersion | PutOutcome::Unchanged => StatusCode::OK,
    };
    Ok((status, Json(shown(&row, &definition))))
}

#[utoipa::path(
    get,
    path = "/projects/{project}/workflows",
    tag = "workflows",
    params(Page),
    responses((status = 200, description = "Done", body = Object))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    QueryParams(page): QueryParams<Page>,
) -> ApiResult<Json<Value>> {
    let limit = page.limit()?;
    let project = authorized(
        &state,
        &caller,
        &project_name,
        actions::LIST_WORKFLOWS,
        "workflow/*",
    )
    .await?;
    let rows = state
        .store
        .in_project(&project)
        .workflows(page.cursor.as_deref(), limit)
        .await?;
    Ok(list_page(&rows, limit, |r| r.name.clone()))
}

#[utoipa::path(
    get,
    path = "/projects/{project}/workflows/{name}",
    tag = "workflows",
    responses((status = 200, description = "Done", body = Object))
)]
async fn describe(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    let project = authorized_workflow(&state, &caller, &project_name, actions::GET_WORKFLOW, &name).await?;
    let (row, definition) = state.workflows.get(&project, &name).await?;
    Ok(Json(shown(&row, &definition)))
}

#[utoipa::path(
    delete,
    path = "/projects/{project}/workflows/{name}",
    tag = "workflows",
    responses((status = 204, description = "Done"))
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let project =
        authorized_workflow(&state, &caller, &project_name, actions::DELETE_WORKFLOW, &name).await?;
    state.workflows.delete(&project, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A start: the execution's input (`{}` when none) and optional name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    name: Option<String>,
}

#[utoipa::path(
    post,
    path = "/projects/{project}/workflows/{name}/executions",
    tag = "workflows",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 201, description = "Done", body = Object))
)]
async fn start(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<StartBody>,
) -> ApiResult<(StatusCode, Json<ExecutionRow>)> {
    let (project, workflow) =
        existing(&state, &caller, &project_name, actions::START_EXECUTION, &name).await?;
    let input = body.input.unwrap_or_else(|| json!({}));
    let (row, created) = state
        .workflows
        .start(&project, &workflow, body.name.as_deref(), &input, 0)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(row)))
}

#[utoipa::path(
    post,
    path = "/projects/{project}/workflows/{name}/start-sync",
    tag = "workflows",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, description = "Done", body = Object))
)]
async fn start_sync(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<StartBody>,
) -> ApiResult<Json<ExecutionRow>> {
    let (project, workflow) =
        existing(&state, &caller, &project_name, actions::START_EXECUTION, &name).await?;
    let input = body.input.unwrap_or_else(|| json!({}));
    let row = state
        .workflows
        .start_sync(&project, &workflow, body.name.as_deref(), &input)
        .await?;
    Ok(Json(row))
}

/// `?status=&limit=&cursor=` of the executions' list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ExecutionsQuery {
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

const STATUSES: [&str; 5] = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];

#[utoipa::path(
    get,
    path = "/projects/{project}/workflows/{name}/executions",
    tag = "workflows",
    params(ExecutionsQuery),
    responses((status = 200, description = "Done", body = Object))
)]
async fn executions(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<ExecutionsQuery>,
) -> ApiResult<Json<Value>> {
    let limit = page_limit(q.limit)?;
    if let Some(s) = &q.status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("status is one of {}, not {s:?}", STATUSES.join(", ")),
        ));
    }
    let before = match &q.cursor {
        None => None,
        Some(c) => Some(
            c.split_once(':')
                .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id.to_owned())))
                .ok_or_else(|| ApiError::bad_request("invalid_query", "cursor is not one this API gave"))?,
        ),
    };
    let (project, workflow) =
        existing(&state, &caller, &project_name, actions::LIST_EXECUTIONS, &name).await?;
    let rows = state
        .store
        .in_project(&project)
        .executions(
            &workflow.id,
            q.status.as_deref(),
            before.as_ref().map(|(ms, id)| (*ms, id.as_str())),
            limit,
        )
        .await?;
    Ok(list_page(&rows, limit, |r| format!("{}:{}", r.started_ms, r.id)))
}

#[utoipa::path(
    get,
    path = "/projects/{project}/workflows/{name}/executions/{id}",
    tag = "workflows",
    responses((status = 200, description = "Done", body = Object))
)]
async fn execution(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name, id)): PathParams<(String, String, String)>,
) -> ApiResult<Json<ExecutionRow>> {
    let (project, workflow) =
        existing(&state, &caller, &project_name, actions::DESCRIBE_EXECUTION, &name).await?;
    Ok(Json(state.workflows.execution(&project, &workflow, &id).await?))
}

#[utoipa::path(
    get,
    path = "/projects/{project}/workflows/{name}/executions/{id}/history",
    tag = "workflows",
    params(Page),
    responses((status = 200, description = "Done", body = Object))
)]
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name, id)): PathParams<(String, String, String)>,
    QueryParams(page): QueryParams<Page>,
) -> ApiResult<Json<Value>> {
    let limit = page.limit()?;
    let after = match &page.cursor {
        None => -1,
        Some(c) => c
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request("invalid_query", "cursor is not one this API gave"))?,
    };
    let (project, workflow) = existing(
        &state,
        &caller,
        &project_name,
        actions::GET_EXECUTION_HISTORY,
        &name,
    )
    .await?;
    let rows = state
        .workflows
        .history(&project, &workflow, &id, after, limit)
        .await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            let kind = serde_json::from_value::<Event>(r.body.clone())
                .map(|e| e.history_type())
                .unwrap_or_default();
            json!({
                "id": r.seq,
                "type": kind,
                "timestamp": chrono::DateTime::from_timestamp_millis(r.at_ms)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                "details": r.body,
            })
        })
        .collect();
    let next = next_cursor(&rows, limit, |r| r.seq.to_string());
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

/// `?since=&limit=` of an execution's logs.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LogsQuery {
    /// Epoch ms; lines at or after it.
    since: Option<i64>,
    limit: Option<i64>,
}

/// The log lines of every task of an execution, oldest first (its id is
/// their trace id).
#[utoipa::path(
    get,
    path = "/projects/{project}/workflows/{name}/executions/{id}/logs",
    tag = "workflows",
    params(LogsQuery),
    responses((status = 200, description = "Done", body = Object))
)]
async fn logs(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name, id)): PathParams<(String, String, String)>,
    QueryParams(q): QueryParams<LogsQuery>,
) -> ApiResult<Json<Value>> {
    let limit = page_limit(q.limit)?;
    let (project, workflow) = existing(
        &state,
        &caller,
        &project_name,
        actions::GET_EXECUTION_HISTORY,
        &name,
    )
    .await?;
    let execution = state.workflows.execution(&project, &workflow, &id).await?;
    let items = state
        .store
        .in_project(&project)
        .trace_logs(&execution.id, q.since.unwrap_or(0), limit)
        .await?;
    Ok(Json(json!({ "items": items })))
}

/// A stop's error and cause.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    cause: Option<String>,
}

#[utoipa::path(
    post,
    path = "/projects/{project}/workflows/{name}/executions/{id}/stop",
    tag = "workflows",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 202, description = "Done"))
)]
async fn stop(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name, id)): PathParams<(String, String, String)>,
    JsonBody(body): JsonBody<StopBody>,
) -> ApiResult<StatusCode> {
    let (project, workflow) =
        existing(&state, &caller, &project_name, actions::STOP_EXECUTION, &name).await?;
    let error = body.error.unwrap_or_else(|| "States.Aborted".into());
    let cause = body.cause.unwrap_or_else(|| "stopped through the API".into());
    state
        .workflows
        .stop(&project, &workflow, &id, &error, &cause)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// A task token sent back: with the task's output, or its error and
/// cause, or alone (a heartbeat).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    cause: Option<String>,
}

/// Sends `signal` for the execution `token` names, once the caller may do
/// `action` on its workflow: the token itself grants nothing.
async fn send_token(
    state: &AppState,
    caller: &Caller,
    action: &str,
    token: &str,
    signal: StoredSignal,
) -> ApiResult<StatusCode> {
    let (execution, project) = state.workflows.token_owner(token).await?;
    let target = Target::in_project("workflows", &project, &format!("workflow/{}", execution.workflow));
    state.authorize(caller, action, &target).await?;
    state
        .workflows
        .answer_token(&project, &execution, token, &signal)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(
    post,
    path = "/task-tokens/success",
    tag = "workflows",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, description = "Done"))
)]
async fn token_success(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<TokenBody>,
) -> ApiResult<StatusCode> {
    let output = body.output.unwrap_or_else(|| json!({}));
    let signal = StoredSignal::TaskSuccess {
        token: body.token.clone(),
        output,
    };
    send_token(&state, &caller, actions::SEND_TASK_SUCCESS, &body.token, signal).await
}

#[utoipa::path(
    post,
    path = "/task-tokens/failure",
    tag = "workflows",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, description = "Done"))
)]
async fn token_failure(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<TokenBody>,
) -> ApiResult<StatusCode> {
    let signal = StoredSignal::TaskFailure {
        token: body.token.clone(),
        error: body.error.unwrap_or_else(|| "States.TaskFailed".into()),
        cause: body.cause.unwrap_or_default(),
    };
    send_token(&state, &caller, actions::SEND_TASK_FAILURE, &body.token, signal).await
}

#[utoipa::path(
    post,
    path = "/task-tokens/heartbeat",
    tag = "workflows",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, description = "Done"))
)]
async fn token_heartbeat(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<TokenBody>,
) -> ApiResult<StatusCode> {
    let signal = StoredSignal::TaskHeartbeat {
        token: body.token.clone(),
    };
    send_token(&state, &caller, actions::SEND_TASK_HEARTBEAT, &body.token, signal).await
}
