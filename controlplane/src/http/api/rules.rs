//! Event rules of a project: checked when written (a bad pattern gets 400
//! with the JSON path of the problem), in force on every node within a
//! second.

use super::error::{ApiError, ApiResult, JsonBody, QueryParams};
use super::openapi::ListPage;
use super::{Page, PathParams, authorized, check_name, list_page};
use crate::events::rules::{Destination, Rule, RuleSpec};
use crate::http::AppState;
use crate::http::api::described::ApiRouter;
use crate::http::api::described::routes;
use crate::iam::actions::{events, functions, workflows};
use crate::iam::{Caller, Target};
use crate::store::projects::Project;
use crate::store::rules::RuleRow;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

/// Routes of this resource.
pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(describe, update, remove))
}

impl From<crate::services::events::EventsError> for ApiError {
    fn from(e: crate::services::events::EventsError) -> Self {
        use crate::services::events::EventsError as E;
        match e {
            E::NoRule(_) | E::NoDeadLetter(_) => Self::not_found(e.to_string()),
            E::RuleExists(_) => Self::new(axum::http::StatusCode::CONFLICT, "conflict", e.to_string()),
            E::RuleGone(_) => Self::new(axum::http::StatusCode::CONFLICT, "rule_gone", e.to_string()),
            E::NatsUnavailable(_) => Self::new(
                axum::http::StatusCode::BAD_GATEWAY,
                "nats_unavailable",
                e.to_string(),
            ),
            E::Quota(q) => q.into(),
            E::Bus(b) => b.into(),
            E::Store(s) => s.into(),
        }
    }
}

/// The caller must be allowed to run every target: a rule must not run a
/// function or start a workflow its author could not.
async fn may_invoke_targets(
    state: &AppState,
    caller: &Caller,
    project: &Project,
    rule: &Rule,
) -> ApiResult<()> {
    for t in &rule.targets {
        let (action, target) = match &t.destination {
            Destination::Function(f) => (
                functions::INVOKE_FUNCTION,
                Target::in_project("functions", project, &format!("function/{f}")),
            ),
            Destination::Workflow(w) => (
                workflows::START_EXECUTION,
                Target::in_project("workflows", project, &format!("workflow/{w}")),
            ),
        };
        state.authorize(caller, action, &target).await?;
    }
    Ok(())
}

/// The project named in the path, once the caller may do `action` on the
/// rule `name` in it.
async fn authorized_rule(
    state: &AppState,
    caller: &Caller,
    project_name: &str,
    action: &str,
    name: &str,
) -> ApiResult<Project> {
    authorized(state, caller, project_name, action, &format!("rule/{name}")).await
}

/// Applies `spec` over `row` and checks the result: the rule compiles, and
/// the caller may use its subjects and invoke its targets.
async fn apply_checked(
    state: &AppState,
    caller: &Caller,
    project: &Project,
    spec: RuleSpec,
    row: &mut RuleRow,
) -> ApiResult<()> {
    let rule = spec.apply(row)?;
    check_subjects(state, caller, project, &rule).await?;
    may_invoke_targets(state, caller, project, &rule).await
}

/// NATS subjects, as sources or the dead-letter destination, need NATS,
/// and the caller needs `events:UseSubject` on each (an org resource:
/// everyone on the NATS account shares the subjects).
async fn check_subjects(state: &AppState, caller: &Caller, project: &Project, rule: &Rule) -> ApiResult<()> {
    let subjects: Vec<&String> = rule
        .sources
        .subjects
        .iter()
        .chain(rule.dead_letter.subject.iter())
        .collect();
    if subjects.is_empty() {
        return Ok(());
    }
    if !state.events.has_nats() {
        return Err(ApiError::bad_request(
            "nats_not_configured",
            "NATS subjects need NATS: start the platform with --nats-url (MINICLOUD_NATS_URL)",
        ));
    }
    for subject in subjects {
        crate::events::rules::subject_in_org(subject, &project.org_name)
            .map_err(|m| ApiError::bad_request("subject_outside_namespace", m))?;
        let target = Target::in_org("events", &project.org(), &format!("subject/{subject}"));
        state.authorize(caller, events::USE_SUBJECT, &target).await?;
    }
    Ok(())
}

/// Creates an event rule.
///
/// `name`, `sources` and `targets` are required. The rule is checked
/// whole before it is stored: a bad pattern is 400 `invalid_pattern` with
/// the problem's JSON path in `error.path`, another bad part 400 with a
/// message naming the field. Needs `events:PutRule` on `rule/<name>`, the
/// right to run every target (`functions:InvokeFunction` on the function,
/// `workflows:StartExecution` on the workflow) and `events:UseSubject` on
/// each NATS subject; counts against the project's and org's rule quotas.
/// In force on every node within a second. Audited.
#[utoipa::path(
    post,
    path = "/projects/{project}/rules",
    tag = "rules",
    request_body = RuleSpec,
    responses((status = 201, description = "The rule as stored, defaults filled in", body = RuleRow))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    JsonBody(spec): JsonBody<RuleSpec>,
) -> ApiResult<(StatusCode, Json<RuleRow>)> {
    let name = spec
        .name
        .clone()
        .ok_or_else(|| ApiError::bad_request("invalid_rule", "name is required"))?;
    check_name("rule", &name)?;
    let project = authorized_rule(&state, &caller, &project_name, events::PUT_RULE, &name).await?;
    let mut row = RuleRow::new(&project.id, &name);
    if spec.sources.is_none() || spec.targets.is_none() {
        return Err(ApiError::bad_request(
            "invalid_rule",
            "sources and targets are required",
        ));
    }
    apply_checked(&state, &caller, &project, spec, &mut row).await?;
    // The quota is checked in the transaction that inserts the rule.
    let row = state.events.create_rule(&project, row).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

/// The project's event rules, by name.
///
/// Needs `events:ListRules` on `rule/*`. The cursor is the last name of
/// the page before.
#[utoipa::path(
    get,
    path = "/projects/{project}/rules",
    tag = "rules",
    params(Page),
    responses((status = 200, description = "A page of rules, by name", body = ListPage<RuleRow>))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    QueryParams(page): QueryParams<Page>,
) -> ApiResult<Json<Value>> {
    let limit = page.limit()?;
    let project = authorized(&state, &caller, &project_name, events::LIST_RULES, "rule/*").await?;
    let rows = state
        .store
        .in_project(&project)
        .rules(page.cursor.as_deref(), limit)
        .await?;
    Ok(list_page(&rows, limit, |r| r.name.clone()))
}

async fn existing(state: &AppState, project: &Project, name: &str) -> ApiResult<RuleRow> {
    state
        .store
        .in_project(project)
        .rule(name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("rule {name:?} does not exist")))
}

/// An event rule.
///
/// Needs `events:DescribeRule` on `rule/<name>`.
#[utoipa::path(
    get,
    path = "/projects/{project}/rules/{name}",
    tag = "rules",
    responses((status = 200, description = "The rule", body = RuleRow))
)]
async fn describe(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<Json<RuleRow>> {
    let project = authorized_rule(&state, &caller, &project_name, events::DESCRIBE_RULE, &name).await?;
    Ok(Json(existing(&state, &project, &name).await?))
}

/// Changes an event rule: the fields given replace the rule's.
///
/// The rule as changed is checked as on create, with the same rights
/// asked (`events:PutRule`, the targets' and the subjects'). A rule is not
/// renamed: `name`, if given, must be the rule's. In force on every node
/// within a second. Audited.
#[utoipa::path(
    patch,
    path = "/projects/{project}/rules/{name}",
    tag = "rules",
    request_body = RuleSpec,
    responses((status = 200, description = "The rule as changed", body = RuleRow))
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
    JsonBody(spec): JsonBody<RuleSpec>,
) -> ApiResult<Json<RuleRow>> {
    let project = authorized_rule(&state, &caller, &project_name, events::PUT_RULE, &name).await?;
    let mut row = existing(&state, &project, &name).await?;
    if spec.name.as_ref().is_some_and(|n| *n != name) {
        return Err(ApiError::bad_request(
            "invalid_rule",
            "a rule cannot be renamed; create one under the new name",
        ));
    }
    apply_checked(&state, &caller, &project, spec, &mut row).await?;
    state.events.update_rule(&project, &mut row).await?;
    Ok(Json(row))
}

/// Deletes an event rule; it matches nothing from then on.
///
/// Its dead letters stay. Needs `events:DeleteRule` on `rule/<name>`;
/// audited.
#[utoipa::path(
    delete,
    path = "/projects/{project}/rules/{name}",
    tag = "rules",
    responses((status = 204, description = "Deleted"))
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let project = authorized_rule(&state, &caller, &project_name, events::DELETE_RULE, &name).await?;
    let row = existing(&state, &project, &name).await?;
    state.events.delete_rule(&project, &row).await?;
    Ok(StatusCode::NO_CONTENT)
}
