//! A project's workflows: the state machine drawn as a graph, its
//! executions (start one, each step's status coloured on the graph, the
//! history, stop), and the approval inbox: tasks waiting for a token,
//! answered here by someone allowed to send it.

use super::ConsoleError;
use super::api::{InProcess, refusal};
use super::functions::{may, project};
use super::layout::{self, Section, csrf, none, seg, text, time};
use super::session::Session;
use crate::http::AppState;
use crate::iam::actions::workflows as act;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// `GET /console/p/{project}/workflows`.
pub async fn list(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(project_name): Path<String>,
) -> Result<Markup, ConsoleError> {
    let items = api
        .items(
            &session,
            &format!("/projects/{}/workflows?limit=1000", seg(&project_name)),
        )
        .await?;
    let content = html! {
        h1 { "Workflows" }
        p { a href=(format!("/console/p/{}/approvals", seg(&project_name))) { "Approval inbox" } }
        @if items.is_empty() { (none("workflows")) } @else {
            div.scroll { table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Version" } th scope="col" { "Changed" } } }
                tbody { @for w in &items { tr {
                    td { a href=(format!("/console/p/{}/workflows/{}", seg(&project_name), seg(&text(&w["name"])))) { (text(&w["name"])) } }
                    td { (text(&w["version"])) }
                    td { (time(w["updated_ms"].as_i64())) }
                } } }
            } }
        }
    };
    Ok(layout::page(
        "Workflows",
        &session,
        Some(&project_name),
        Section::Workflows,
        content,
    ))
}

/// How far each state lies from the start: the graph's rows.
fn layers(definition: &Value) -> Vec<Vec<String>> {
    let states = definition["States"].as_object();
    let start = definition["StartAt"].as_str().unwrap_or_default().to_owned();
    let mut depth: BTreeMap<String, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([(start, 0usize)]);
    while let Some((name, d)) = queue.pop_front() {
        if depth.contains_key(&name) || states.is_none_or(|s| !s.contains_key(&name)) {
            continue;
        }
        depth.insert(name.clone(), d);
        for next in successors(&definition["States"][&name]) {
            queue.push_back((next, d + 1));
        }
    }
    let rows = depth.values().max().map_or(0, |m| m + 1);
    let mut out = vec![Vec::new(); rows];
    for (name, d) in depth {
        out[d].push(name);
    }
    out
}

/// The states a state can go to: `Next`, `Default`, each choice's and
/// each catcher's `Next`.
fn successors(state: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |v: &Value| {
        if let Some(s) = v.as_str() {
            out.push(s.to_owned());
        }
    };
    add(&state["Next"]);
    add(&state["Default"]);
    for list in ["Choices", "Catch"] {
        for c in state[list].as_array().into_iter().flatten() {
            add(&c["Next"]);
        }
    }
    out
}

/// The state machine as boxes in rows (from the start down) with arrows;
/// `status` colours each state an execution went through.
fn graph(definition: &Value, status: &HashMap<String, &'static str>) -> Markup {
    let rows = layers(definition);
    let (bw, bh, gap_x, gap_y) = (150i64, 40i64, 20i64, 36i64);
    let widest = rows.iter().map(Vec::len).max().unwrap_or(1).max(1) as i64;
    let width = widest * (bw + gap_x) + gap_x;
    let height = rows.len().max(1) as i64 * (bh + gap_y) + gap_y;
    let mut at: HashMap<&str, (i64, i64)> = HashMap::new();
    for (r, row) in rows.iter().enumerate() {
        let offset = (width - row.len() as i64 * (bw + gap_x) + gap_x) / 2;
        for (i, name) in row.iter().enumerate() {
            at.insert(
                name,
                (
                    offset + i as i64 * (bw + gap_x),
                    gap_y / 2 + r as i64 * (bh + gap_y),
                ),
            );
        }
    }
    let label = |s: &str| -> String {
        if s.chars().count() > 18 {
            format!("{}…", s.chars().take(17).collect::<String>())
        } else {
            s.to_owned()
        }
    };
    html! {
        svg.graph viewBox=(format!("0 0 {width} {height}")) width=(width) height=(height) role="img"
            aria-label=(format!("The state machine: {} states from {}", at.len(), text(&definition["StartAt"]))) {
            defs { marker #arrow viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto" { path d="M0,0 L10,5 L0,10 z" {} } }
            @for (name, (x, y)) in &at {
                @for next in successors(&definition["States"][*name]) {
                    @if let Some((nx, ny)) = at.get(next.as_str()) {
                        line.edge x1=(x + bw / 2) y1=(y + bh) x2=(nx + bw / 2) y2=(*ny) marker-end="url(#arrow)" {}
                    }
                }
            }
            @for (name, (x, y)) in &at {
                g class=(format!("state {}", status.get(*name).copied().unwrap_or("idle"))) {
                    title { (name) " (" (text(&definition["States"][*name]["Type"])) ")" }
                    rect x=(x) y=(y) width=(bw) height=(bh) rx="6" {}
                    text x=(x + bw / 2) y=(y + bh / 2 + 5) text-anchor="middle" { (label(name)) }
                }
            }
        }
    }
}

/// `?status=` of a workflow's page.
#[derive(Debug, Deserialize)]
pub struct Filter {
    status: Option<String>,
}

/// `GET /console/p/{project}/workflows/{name}`: the graph, a start form,
/// the executions.
pub async fn detail(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path((project_name, name)): Path<(String, String)>,
    Query(f): Query<Filter>,
) -> Result<Markup, ConsoleError> {
    let p = project(&state, &project_name).await?;
    let base = format!("/projects/{}/workflows/{}", seg(&project_name), seg(&name));
    let w = api.get(&session, &base).await?;
    let filter = f
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| format!("&status={}", seg(s)))
        .unwrap_or_default();
    let executions = api
        .get(&session, &format!("{base}/executions?limit=50{filter}"))
        .await?;
    let can_start = may(
        &state,
        &session,
        &p,
        act::START_EXECUTION,
        &format!("workflow/{name}"),
    )
    .await;
    let here = format!("/console/p/{}/workflows/{}", seg(&project_name), seg(&name));
    let content = html! {
        h1 { "Workflow " (name) }
        (graph(&w["definition"], &HashMap::new()))
        @if can_start {
            section.card aria-labelledby="start-title" {
                h2 #start-title { "Start an execution" }
                form method="post" action=(format!("{here}/start")) {
                    (csrf(&session))
                    label for="input" { "Input (JSON)" }
                    textarea #input name="input" rows="4" { "{}" }
                    button type="submit" { "Start" }
                }
            }
        }
        h2 { "Executions" }
        p.filters {
            "Show: "
            @for s in ["", "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"] {
                a href=(format!("{here}?status={s}")) { (if s.is_empty() { "all" } else { s }) } " "
            }
        }
        @let items = executions["items"].as_array().cloned().unwrap_or_default();
        @if items.is_empty() { (none("executions")) } @else {
            div.scroll { table {
                thead { tr { th scope="col" { "Execution" } th scope="col" { "Status" } th scope="col" { "Started" } th scope="col" { "Stopped" } th scope="col" { "Error" } } }
                tbody { @for e in &items { tr {
                    td.mono { a href=(format!("{here}/executions/{}", seg(&text(&e["id"])))) { (text(&e["name"])) } }
                    td class=(status_class(&text(&e["status"]))) { (text(&e["status"])) }
                    td { (time(e["started_ms"].as_i64())) }
                    td { (time(e["stopped_ms"].as_i64())) }
                    td { (text(&e["error"])) }
                } } }
            } }
        }
    };
    Ok(layout::page(
        &format!("Workflow {name}"),
        &session,
        Some(&project_name),
        Section::Workflows,
        content,
    ))
}

fn status_class(status: &str) -> &'static str {
    match status {
        "SUCCEEDED" => "ok",
        "RUNNING" => "running",
        _ => "bad",
    }
}

/// The start form.
#[derive(Debug, Deserialize)]
pub struct Start {
    csrf: String,
    input: String,
}

/// `POST .../start`: a new execution, then its page.
pub async fn start(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path((project_name, name)): Path<(String, String)>,
    Form(form): Form<Start>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let input: Value = serde_json::from_str(&form.input)
        .map_err(|e| ConsoleError::new(StatusCode::BAD_REQUEST, format!("the input is not JSON: {e}")))?;
    let path = format!(
        "/projects/{}/workflows/{}/executions",
        seg(&project_name),
        seg(&name)
    );
    let (status, answer) = api
        .call(&session, Method::POST, &path, Some(&json!({"input": input})))
        .await?;
    if !status.is_success() {
        return Err(refusal(status, &answer));
    }
    Ok(Redirect::to(&format!(
        "/console/p/{}/workflows/{}/executions/{}",
        seg(&project_name),
        seg(&name),
        seg(&text(&answer["id"]))
    ))
    .into_response())
}

/// Each state's status from an execution's history: done, running, or
/// failed (entered, never left, in an execution that failed).
fn states_of(history: &[Value], execution_status: &str) -> HashMap<String, &'static str> {
    let mut out = HashMap::new();
    for e in history {
        let kind = text(&e["type"]);
        let state = text(&e["details"]["state"]);
        if state.is_empty() {
            continue;
        }
        if kind.ends_with("StateEntered") {
            out.entry(state).or_insert("running");
        } else if kind.ends_with("StateExited") {
            out.insert(state, "done");
        }
    }
    if execution_status != "RUNNING" {
        for v in out.values_mut() {
            if *v == "running" {
                *v = if execution_status == "SUCCEEDED" {
                    "done"
                } else {
                    "failed"
                };
            }
        }
    }
    out
}

/// The whole history of an execution (1,000 events at most).
async fn history(
    api: &InProcess,
    session: &Session,
    base: &str,
    id: &str,
) -> Result<Vec<Value>, ConsoleError> {
    let page = api
        .get(
            session,
            &format!("{base}/executions/{}/history?limit=1000", seg(id)),
        )
        .await?;
    Ok(page["items"].as_array().cloned().unwrap_or_default())
}

/// `GET .../executions/{id}`.
pub async fn execution(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path((project_name, name, id)): Path<(String, String, String)>,
) -> Result<Markup, ConsoleError> {
    let p = project(&state, &project_name).await?;
    let base = format!("/projects/{}/workflows/{}", seg(&project_name), seg(&name));
    let w = api.get(&session, &base).await?;
    let e = api
        .get(&session, &format!("{base}/executions/{}", seg(&id)))
        .await?;
    let events = history(&api, &session, &base, &id).await?;
    let status = text(&e["status"]);
    let can_stop = may(
        &state,
        &session,
        &p,
        act::STOP_EXECUTION,
        &format!("workflow/{name}"),
    )
    .await;
    let here = format!(
        "/console/p/{}/workflows/{}/executions/{}",
        seg(&project_name),
        seg(&name),
        seg(&id)
    );
    let content = html! {
        h1 { "Execution " (text(&e["name"])) }
        p { "Of " a href=(format!("/console/p/{}/workflows/{}", seg(&project_name), seg(&name))) { (name) } }
        dl.facts {
            dt { "Status" } dd class=(status_class(&status)) #status { (status) }
            dt { "Started" } dd { (time(e["started_ms"].as_i64())) }
            dt { "Stopped" } dd { (time(e["stopped_ms"].as_i64())) }
            dt { "Input" } dd.mono { (e["input"].to_string()) }
            dt { "Output" } dd.mono { (text(&e["output"])) }
            dt { "Error" } dd { (text(&e["error"])) }
            dt { "Cause" } dd { (text(&e["cause"])) }
        }
        (graph(&w["definition"], &states_of(&events, &status)))
        @if status == "RUNNING" && can_stop {
            form method="post" action=(format!("{here}/stop")) {
                (csrf(&session))
                button type="submit" { "Stop the execution" }
            }
        }
        h2 { "History" }
        div.scroll { table {
            thead { tr { th scope="col" { "#" } th scope="col" { "Event" } th scope="col" { "State" } th scope="col" { "Time" } } }
            tbody { @for ev in &events { tr {
                td { (text(&ev["id"])) }
                td { (text(&ev["type"])) }
                td { (text(&ev["details"]["state"])) }
                td { (text(&ev["timestamp"])) }
            } } }
        } }
    };
    Ok(layout::page(
        "Execution",
        &session,
        Some(&project_name),
        Section::Workflows,
        content,
    ))
}

/// `POST .../executions/{id}/stop`.
pub async fn stop(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path((project_name, name, id)): Path<(String, String, String)>,
    Form(form): Form<super::session::CsrfOnly>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let path = format!(
        "/projects/{}/workflows/{}/executions/{}/stop",
        seg(&project_name),
        seg(&name),
        seg(&id)
    );
    let body = json!({"error": "Console.Stopped", "cause": format!("stopped by {} in the console", session.user().0)});
    api.act(
        &session,
        Method::POST,
        &path,
        Some(&body),
        &format!(
            "/console/p/{}/workflows/{}/executions/{}",
            seg(&project_name),
            seg(&name),
            seg(&id)
        ),
    )
    .await
}

/// Open tasks one view of the inbox shows, at most.
const INBOX_TASKS: usize = 200;

/// A task waiting for its token, and its workflow.
struct Waiting {
    workflow: String,
    task: Value,
}

/// `GET /console/p/{project}/approvals`: the tasks of running executions
/// that wait for a token (`GET .../workflows/{name}/tasks`), with approve
/// and reject for those allowed to send it (the token itself grants
/// nothing).
pub async fn approvals(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(project_name): Path<String>,
) -> Result<Markup, ConsoleError> {
    let p = project(&state, &project_name).await?;
    let workflows = api
        .get(
            &session,
            &format!("/projects/{}/workflows?limit=1000", seg(&project_name)),
        )
        .await?;
    let mut waiting = Vec::new();
    // Bounded: one view shows at most INBOX_TASKS tasks; a list cut short,
    // or a read refused, says so rather than look empty.
    let mut incomplete = None;
    for w in workflows["items"].as_array().into_iter().flatten() {
        let name = text(&w["name"]);
        let left = INBOX_TASKS.saturating_sub(waiting.len());
        if left == 0 {
            incomplete = Some(format!(
                "only {INBOX_TASKS} tasks are shown (each workflow's oldest first); answer some, or use the API"
            ));
            break;
        }
        let path = format!(
            "/projects/{}/workflows/{}/tasks?limit={left}",
            seg(&project_name),
            seg(&name)
        );
        match api.get(&session, &path).await {
            Ok(page) => {
                if !page["next_cursor"].is_null() {
                    incomplete = Some(format!(
                        "only {INBOX_TASKS} tasks are shown (each workflow's oldest first); answer some, or use the API"
                    ));
                }
                for task in page["items"].as_array().into_iter().flatten() {
                    waiting.push(Waiting {
                        workflow: name.clone(),
                        task: task.clone(),
                    });
                }
            }
            Err(e) => {
                incomplete = Some(format!("the tasks of {name} could not be read: {}", e.message));
            }
        }
    }
    // Who may answer is decided per workflow, once.
    let mut answerable: HashMap<&str, bool> = HashMap::new();
    let mut rows = Vec::new();
    for w in &waiting {
        let allowed = match answerable.get(w.workflow.as_str()) {
            Some(a) => *a,
            None => {
                let resource = format!("workflow/{}", w.workflow);
                let a = may(&state, &session, &p, act::SEND_TASK_SUCCESS, &resource).await;
                answerable.insert(&w.workflow, a);
                a
            }
        };
        rows.push((w, allowed));
    }
    let here = format!("/console/p/{}/approvals", seg(&project_name));
    let content = html! {
        h1 { "Approval inbox" }
        @if let Some(why) = &incomplete { p.error role="alert" { "This list may be incomplete: " (why) } }
        @if rows.is_empty() { (none("tasks waiting for an answer")) } @else {
            @for (i, (w, allowed)) in rows.iter().enumerate() {
                section.card {
                    h2 { (w.workflow) ": " (text(&w.task["execution"])) }
                    dl.facts {
                        dt { "State" } dd { (text(&w.task["state"])) }
                        dt { "Task" } dd.mono { (text(&w.task["resource"])) }
                        dt { "Input" } dd.mono { (w.task["input"].to_string()) }
                        dt { "Waiting since" } dd { (time(w.task["opened_ms"].as_i64().filter(|ms| *ms > 0))) }
                    }
                    @if *allowed {
                        form method="post" action=(format!("{here}/answer")) {
                            (csrf(&session))
                            input type="hidden" name="token" value=(text(&w.task["token"]));
                            label for=(format!("why-{i}")) { "Note (the output of an approval, the cause of a rejection)" }
                            input id=(format!("why-{i}")) name="note";
                            button type="submit" name="decision" value="approve" { "Approve" }
                            " "
                            button type="submit" name="decision" value="reject" { "Reject" }
                        }
                    } @else {
                        p.hint { "You may not answer this task." }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        "Approvals",
        &session,
        Some(&project_name),
        Section::Workflows,
        content,
    ))
}

/// An answer of the inbox.
#[derive(Debug, Deserialize)]
pub struct Answer {
    csrf: String,
    token: String,
    decision: String,
    #[serde(default)]
    note: String,
}

/// `POST /console/p/{project}/approvals/answer`: the task token's success
/// or failure, through the API.
pub async fn answer(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(project_name): Path<String>,
    Form(form): Form<Answer>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let who = session.user().0.to_owned();
    let (path, body) = match form.decision.as_str() {
        "approve" => (
            "/task-tokens/success",
            json!({"token": form.token, "output": {"approved": true, "by": who, "note": form.note}}),
        ),
        "reject" => (
            "/task-tokens/failure",
            json!({"token": form.token, "error": "Rejected", "cause": format!("rejected by {who}: {}", form.note)}),
        ),
        other => {
            return Err(ConsoleError::new(
                StatusCode::BAD_REQUEST,
                format!("no decision {other:?}: approve or reject"),
            ));
        }
    };
    api.act(
        &session,
        Method::POST,
        path,
        Some(&body),
        &format!("/console/p/{}/approvals", seg(&project_name)),
    )
    .await
}
