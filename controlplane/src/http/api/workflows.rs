//! Workflows of a project (definitions validated on write: 400
//! `invalid_definition` with every problem at its JSON path), their
//! executions and histories, and task tokens sent back.

use super::error::{ApiError, ApiResult, JsonBody, QueryParams};
use super::functions::deploy::require_pass_role;
use super::openapi::ListPage;
use super::{Page, PathParams, authorized, check_name, list_page, next_cursor, page_limit, time_cursor};
use crate::http::AppState;
use crate::http::api::described::ApiRouter;
use crate::http::api::described::routes;
use crate::iam::actions::workflows as actions;
use crate::iam::{Caller, Target};
use crate::services::workflows::WorkflowError;
use crate::store::projects::Project;
use crate::store::records::LogRecord;
use crate::store::workflows::executions::{ExecutionRow, OpenTask};
use crate::store::workflows::{PutOutcome, WorkflowRow};
use crate::workflows::StoredSignal;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use minicloud_asl::machine::Event;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

/// Routes of this resource.
pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(describe, put, remove))
        .routes(routes!(executions, start))
        .routes(routes!(start_sync))
        .routes(routes!(execution))
        .routes(routes!(history))
        .routes(routes!(stop))
        .routes(routes!(tasks))
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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WorkflowPut {
    #[schema(schema_with = definition_input)]
    definition: Value,
    /// The execution role: a role of the project's org whose grants the
    /// workflow's tasks run with (the caller needs `iam:PassRole` on it).
    /// Empty or absent: none.
    #[serde(default)]
    role: String,
    /// Free text.
    #[serde(default)]
    description: String,
}

/// The schema of a definition as `PUT` takes it: an object, or its JSON
/// text.
fn definition_input() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    let one_of = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Object).description(Some(
            "An Amazon States Language definition (`StartAt`, `States` ...)",
        )))
        .item(ObjectBuilder::new().schema_type(Type::String).description(Some(
            "The same definition as JSON text, as Step Functions takes it",
        )))
        .description(Some(
            "The workflow's definition, in Amazon States Language, at most 1 MiB of JSON. Every \
             problem answers 400 `invalid_definition` at its JSON path; tasks must name functions \
             of the project that exist.",
        ))
        .build();
    utoipa::openapi::RefOr::T(Schema::OneOf(one_of))
}

/// A workflow and its current definition.
#[derive(Debug, Serialize, ToSchema)]
struct WorkflowView {
    #[serde(flatten)]
    row: WorkflowRow,
    /// The current version's definition, in Amazon States Language
    /// (`StartAt`, `States` ...).
    #[schema(value_type = Object)]
    definition: Value,
}

fn shown(row: &WorkflowRow, definition: &Value) -> WorkflowView {
    WorkflowView {
        row: row.clone(),
        definition: definition.clone(),
    }
}

/// Creates a workflow, or a new version of it.
///
/// Needs `workflows:CreateWorkflow` on `workflow/<name>` in the project,
/// and `iam:PassRole` on the role, if one is given. A definition the same
/// as a version the workflow had makes that version current again (no new
/// version). New executions run the current version; running ones keep
/// theirs.
#[utoipa::path(
    put,
    path = "/projects/{project}/workflows/{name}",
    tag = "workflows",
    params(("name" = String, Path, description = "The workflow's name")),
    request_body = WorkflowPut,
    responses(
        (status = 201, description = "The workflow, created", body = WorkflowView),
        (status = 200, description = "The workflow, with a new current version (or a former one again)", body = WorkflowView)
    )
)]
async fn put(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<WorkflowPut>,
) -> ApiResult<(StatusCode, Json<WorkflowView>)> {
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

/// Lists the project's workflows, by name.
///
/// Needs `workflows:ListWorkflows` on `workflow/*` in the project. The
/// cursor is the last name of the page before.
#[utoipa::path(
    get,
    path = "/projects/{project}/workflows",
    tag = "workflows",
    params(Page),
    responses((status = 200, description = "A page of workflows, by name", body = ListPage<WorkflowRow>))
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

/// A workflow and its current definition.
///
/// Needs `workflows:GetWorkflow` on `workflow/<name>` in the project.
#[utoipa::path(
    get,
    path = "/projects/{project}/workflows/{name}",
    tag = "workflows",
    params(("name" = String, Path, description = "The workflow's name")),
    responses((status = 200, description = "The workflow", body = WorkflowView))
)]
async fn describe(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<Json<WorkflowView>> {
    let project = authorized_workflow(&state, &caller, &project_name, actions::GET_WORKFLOW, &name).await?;
    let (row, definition) = state.workflows.get(&project, &name).await?;
    Ok(Json(shown(&row, &definition)))
}

/// Deletes a workflow.
///
/// Needs `workflows:DeleteWorkflow` on `workflow/<name>` in the project. A
/// workflow with running executions answers 409 `workflow_busy` (stop them
/// first); its versions and ended executions go with it.
#[utoipa::path(
    delete,
    path = "/projects/{project}/workflows/{name}",
    tag = "workflows",
    params(("name" = String, Path, description = "The workflow's name")),
    responses((status = 204, description = "Deleted"))
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
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StartBody {
    /// The execution's input, any JSON value up to 256 KiB; `{}` when
    /// absent or `null`.
    #[serde(default)]
    input: Option<Value>,
    /// The execution's name: 1 to 80 letters, digits, `-` and `_`, unique
    /// among the workflow's executions. Absent: a fresh id. A name makes
    /// the start idempotent: the same name with the same input answers the
    /// execution that exists, with another input 409 `execution_exists`.
    #[serde(default)]
    name: Option<String>,
}

/// Starts an execution of a workflow's current version.
///
/// Needs `workflows:StartExecution` on `workflow/<name>` in the project.
/// A project has at most 10000 running executions (429
/// `too_many_executions`).
#[utoipa::path(
    post,
    path = "/projects/{project}/workflows/{name}/executions",
    tag = "workflows",
    params(("name" = String, Path, description = "The workflow's name")),
    request_body = StartBody,
    responses(
        (status = 201, description = "The execution, started", body = ExecutionRow),
        (status = 200, description = "The execution of that name and input, which already existed", body = ExecutionRow)
    )
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

/// Starts an execution and waits for it to end.
///
/// As `POST .../executions` (the same authorization, body and limits), but
/// the answer waits for the execution to end, at most 60 seconds: the
/// execution as it stands then, `RUNNING` if it has not ended.
#[utoipa::path(
    post,
    path = "/projects/{project}/workflows/{name}/start-sync",
    tag = "workflows",
    params(("name" = String, Path, description = "The workflow's name")),
    request_body = StartBody,
    responses((status = 200, description = "The execution, ended or still running after 60 seconds", body = ExecutionRow))
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
    /// Only the executions of this status: `RUNNING`, `SUCCEEDED`,
    /// `FAILED`, `TIMED_OUT` or `ABORTED`.
    status: Option<String>,
    /// Executions per page (1 to 1000, default 100).
    limit: Option<i64>,
    /// Where the previous page ended (its `next_cursor`).
    cursor: Option<String>,
}

const STATUSES: [&str; 5] = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];

/// Lists a workflow's executions, newest first.
///
/// Needs `workflows:ListExecutions` on `workflow/<name>` in the project.
#[utoipa::path(
    get,
    path = "/projects/{project}/workflows/{name}/executions",
    tag = "workflows",
    params(
        ("name" = String, Path, description = "The workflow's name"),
        ExecutionsQuery
    ),
    responses((status = 200, description = "A page of executions, newest first", body = ListPage<ExecutionRow>))
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
    let before = time_cursor(q.cursor.as_deref())?;
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

/// An execution.
///
/// Needs `workflows:DescribeExecution` on `workflow/<name>` in the project.
#[utoipa::path(
    get,
    path = "/projects/{project}/workflows/{name}/executions/{id}",
    tag = "workflows",
    params(
        ("name" = String, Path, description = "The workflow's name"),
        ("id" = String, Path, description = "The execution's id, or its name")
    ),
    responses((status = 200, description = "The execution", body = ExecutionRow))
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

/// `?limit=&cursor=` of the open tasks' list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TasksQuery {
    /// Tasks per page (1 to 1000, default 100).
    limit: Option<i64>,
    /// Where the previous page ended (its `next_cursor`).
    cursor: Option<String>,
}

/// Lists the tasks of a workflow's running executions that wait for their
/// task token (`.waitForTaskToken`): an approval inbox.
///
/// Needs `workflows:ListTasks` on `workflow/<name>` in the project (the
/// tokens are in the executions' histories too). Oldest first. Answering
/// one takes `workflows:SendTaskSuccess` or `SendTaskFailure`.
#[utoipa::path(
    get,
    path = "/projects/{project}/workflows/{name}/tasks",
    tag = "workflows",
    params(
        ("name" = String, Path, description = "The workflow's name"),
        TasksQuery
    ),
    responses((status = 200, description = "A page of open tasks, oldest first", body = ListPage<OpenTask>))
)]
async fn tasks(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<TasksQuery>,
) -> ApiResult<Json<Value>> {
    let limit = page_limit(q.limit)?;
    let after = time_cursor(q.cursor.as_deref())?;
    let (project, workflow) = existing(&state, &caller, &project_name, actions::LIST_TASKS, &name).await?;
    let rows = state
        .store
        .in_project(&project)
        .open_tasks(
            &workflow.id,
            after.as_ref().map(|(ms, token)| (*ms, token.as_str())),
            limit,
        )
        .await?;
    Ok(list_page(&rows, limit, |r| {
        format!("{}:{}", r.opened_ms, r.token)
    }))
}

/// One event of an execution's history.
#[derive(Debug, Serialize, ToSchema)]
struct HistoryEvent {
    /// Its number in the history, from 0.
    id: i64,
    /// Its type, as Step Functions names them (`ExecutionStarted`,
    /// `TaskStateEntered` ...); empty for an event this server does not
    /// know.
    #[serde(rename = "type")]
    kind: String,
    /// When it happened, RFC 3339 in UTC with milliseconds.
    timestamp: Option<String>,
    /// The event as the journal holds it.
    #[schema(value_type = Object)]
    details: Value,
}

/// A page of history (`ListPage<HistoryEvent>` in the description).
#[derive(Debug, Serialize)]
struct HistoryPage {
    items: Vec<HistoryEvent>,
    next_cursor: Option<String>,
}

/// An execution's history, oldest first.
///
/// Needs `workflows:GetExecutionHistory` on `workflow/<name>` in the
/// project. The cursor is the `id` of the last event of the page before.
#[utoipa::path(
    get,
    path = "/projects/{project}/workflows/{name}/executions/{id}/history",
    tag = "workflows",
    params(
        ("name" = String, Path, description = "The workflow's name"),
        ("id" = String, Path, description = "The execution's id, or its name"),
        Page
    ),
    responses((status = 200, description = "A page of events, oldest first", body = ListPage<HistoryEvent>))
)]
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name, id)): PathParams<(String, String, String)>,
    QueryParams(page): QueryParams<Page>,
) -> ApiResult<Json<HistoryPage>> {
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
    let items: Vec<HistoryEvent> = rows
        .iter()
        .map(|r| {
            let kind = serde_json::from_value::<Event>(r.body.clone())
                .map(|e| e.history_type())
                .unwrap_or_default();
            HistoryEvent {
                id: r.seq,
                kind,
                timestamp: chrono::DateTime::from_timestamp_millis(r.at_ms)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                details: r.body.clone(),
            }
        })
        .collect();
    let next = next_cursor(&rows, limit, |r| r.seq.to_string());
    Ok(Json(HistoryPage {
        items,
        next_cursor: next,
    }))
}

/// `?since=&limit=` of an execution's logs.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LogsQuery {
    /// Epoch ms; lines at or after it.
    since: Option<i64>,
    /// Lines at most (1 to 1000, default 100).
    limit: Option<i64>,
}

/// The log lines of an execution's tasks.
#[derive(Debug, Serialize, ToSchema)]
struct ExecutionLogs {
    /// Oldest first.
    items: Vec<LogRecord>,
}

/// The log lines of every task of an execution, oldest first.
///
/// The execution's id is their trace id. Needs
/// `workflows:GetExecutionHistory` on `workflow/<name>` in the project. One
/// page only, with no cursor: pass a later `since` for more.
#[utoipa::path(
    get,
    path = "/projects/{project}/workflows/{name}/executions/{id}/logs",
    tag = "workflows",
    params(
        ("name" = String, Path, description = "The workflow's name"),
        ("id" = String, Path, description = "The execution's id, or its name"),
        LogsQuery
    ),
    responses((status = 200, description = "The lines, oldest first", body = ExecutionLogs))
)]
async fn logs(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name, id)): PathParams<(String, String, String)>,
    QueryParams(q): QueryParams<LogsQuery>,
) -> ApiResult<Json<ExecutionLogs>> {
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
    Ok(Json(ExecutionLogs { items }))
}

/// A stop's error and cause.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StopBody {
    /// The execution's error (default `States.Aborted`).
    #[serde(default)]
    error: Option<String>,
    /// The execution's cause (default `stopped through the API`).
    #[serde(default)]
    cause: Option<String>,
}

/// Stops a running execution.
///
/// Needs `workflows:StopExecution` on `workflow/<name>` in the project. The
/// stop is queued for the engine: the execution ends `ABORTED` shortly
/// after. One that is not running answers 409 `execution_not_running`.
#[utoipa::path(
    post,
    path = "/projects/{project}/workflows/{name}/executions/{id}/stop",
    tag = "workflows",
    params(
        ("name" = String, Path, description = "The workflow's name"),
        ("id" = String, Path, description = "The execution's id, or its name")
    ),
    request_body = StopBody,
    responses((status = 202, description = "The stop is queued"))
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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    /// The task token, as the task's input got it (`$$.Task.Token`).
    token: String,
    /// With `success`: the task's output, any JSON value (`{}` when absent
    /// or `null`).
    #[serde(default)]
    output: Option<Value>,
    /// With `failure`: the task's error (default `States.TaskFailed`).
    #[serde(default)]
    error: Option<String>,
    /// With `failure`: the task's cause (default empty).
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

/// Completes a task that waits for its token, with its output.
///
/// Needs `workflows:SendTaskSuccess` on the token's workflow (the token
/// itself grants nothing). A token of no execution answers 400
/// `invalid_token`; one the execution no longer waits for (it ended, or
/// the task timed out or was answered) 400 `task_timed_out`.
#[utoipa::path(
    post,
    path = "/task-tokens/success",
    tag = "workflows",
    request_body = TokenBody,
    responses((status = 202, description = "The answer is queued for the execution"))
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

/// Fails a task that waits for its token, with an error and cause.
///
/// Needs `workflows:SendTaskFailure` on the token's workflow (the token
/// itself grants nothing). Refusals as for `POST /task-tokens/success`.
#[utoipa::path(
    post,
    path = "/task-tokens/failure",
    tag = "workflows",
    request_body = TokenBody,
    responses((status = 202, description = "The answer is queued for the execution"))
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

/// Reports that a task that waits for its token is still at work.
///
/// Restarts the task's heartbeat timeout. Needs
/// `workflows:SendTaskHeartbeat` on the token's workflow (the token itself
/// grants nothing). Refusals as for `POST /task-tokens/success`.
#[utoipa::path(
    post,
    path = "/task-tokens/heartbeat",
    tag = "workflows",
    request_body = TokenBody,
    responses((status = 202, description = "The heartbeat is queued for the execution"))
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
