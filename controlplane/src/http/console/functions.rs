//! A project's functions and routes: the list with a deploy by upload,
//! one function's versions (roll back), invocations over the last hour
//! (per minute, errors, p50 and p99) and the recent ones with their
//! durations, its logs as they arrive, a test call; and the
//! project's routes.

use super::ConsoleError;
use super::api::InProcess;
use super::layout::{self, Section, csrf, none, seg, text, time};
use super::session::Session;
use crate::http::AppState;
use crate::iam::Target;
use crate::iam::actions::functions as act;
use crate::store::projects::Project;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

/// The project, or 404.
pub(super) async fn project(state: &AppState, name: &str) -> Result<Project, ConsoleError> {
    state
        .project(name)
        .await
        .map_err(|e| ConsoleError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .ok_or_else(|| ConsoleError::new(StatusCode::NOT_FOUND, format!("project {name:?} does not exist")))
}

/// Whether the API would allow `action` on `resource` of `project`: a
/// button the user could not use is not shown.
pub(super) async fn may(
    state: &AppState,
    session: &Session,
    project: &Project,
    action: &str,
    resource: &str,
) -> bool {
    let service = action.split_once(':').map_or("functions", |(s, _)| s);
    session
        .may(state, action, &Target::in_project(service, project, resource))
        .await
}

/// `GET /console/p/{project}/functions`.
pub async fn list(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(project_name): Path<String>,
) -> Result<Markup, ConsoleError> {
    let p = project(&state, &project_name).await?;
    let items = api
        .items(
            &session,
            &format!("/projects/{}/functions?limit=1000", seg(&project_name)),
        )
        .await?;
    let can_deploy = may(&state, &session, &p, act::CREATE_FUNCTION, "function/*").await;
    let content = html! {
        h1 { "Functions" }
        @if items.is_empty() {
            (none("functions"))
        } @else {
            div.scroll {
                table {
                    caption.sr { "Functions of the project" }
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Version" } th scope="col" { "Kind" } th scope="col" { "Size" } th scope="col" { "Changed" } } }
                    tbody {
                        @for f in &items {
                            tr {
                                td { a href=(format!("/console/p/{}/functions/{}", seg(&project_name), seg(&text(&f["name"])))) { (text(&f["name"])) } }
                                td { (text(&f["active_version"])) }
                                td { (text(&f["world"])) }
                                td { (text(&f["size_bytes"])) }
                                td { (time(f["updated_ms"].as_i64())) }
                            }
                        }
                    }
                }
            }
        }
        @if can_deploy {
            section.card aria-labelledby="deploy-title" {
                h2 #deploy-title { "Deploy a function" }
                form #deploy data-project=(project_name) {
                    label for="deploy-name" { "Name" }
                    input #deploy-name name="name" required pattern="[a-z0-9][a-z0-9-]{0,62}" autocomplete="off";
                    label for="deploy-file" { "Component (.wasm)" }
                    div.drop #drop { "Drop a .wasm file here, or choose one:" input #deploy-file type="file" accept=".wasm,application/wasm" required; }
                    progress #deploy-progress max="100" value="0" hidden {}
                    p #deploy-status role="status" aria-live="polite" {}
                    button type="submit" { "Deploy" }
                }
            }
        }
    };
    Ok(layout::page(
        "Functions",
        &session,
        Some(&project_name),
        Section::Functions,
        content,
    ))
}

/// Percentile `q` (0 to 1) of sorted `values`.
fn percentile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Recent invocations as bars (height: duration; errors marked), oldest
/// on the left, with the p50 and p99 of their durations.
fn chart(invocations: &[Value]) -> Markup {
    let mut durations: Vec<i64> = invocations
        .iter()
        .filter_map(|i| i["duration_us"].as_i64())
        .collect();
    durations.sort_unstable();
    let (p50, p99) = (percentile(&durations, 0.5), percentile(&durations, 0.99));
    let errors = invocations.iter().filter(|i| i["outcome"] != "ok").count();
    let max = durations.last().copied().unwrap_or(1).max(1);
    let (w, h) = (600i64, 120i64);
    let n = invocations.len().max(1) as i64;
    let bar = (w / n).clamp(2, 16);
    html! {
        p.stats {
            (invocations.len()) " recent invocations · " (errors) " errors · p50 "
            (format!("{:.1} ms", p50 as f64 / 1000.0)) " · p99 " (format!("{:.1} ms", p99 as f64 / 1000.0))
        }
        svg.chart viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(format!("Durations of the last {} invocations; p50 {} µs, p99 {} µs", invocations.len(), p50, p99)) {
            @for (i, inv) in invocations.iter().rev().enumerate() {
                @let d = inv["duration_us"].as_i64().unwrap_or(0);
                @let bh = ((d * (h - 4)) / max).max(1);
                rect class=(if inv["outcome"] == "ok" { "bar" } else { "bar err" })
                    x=(i as i64 * bar) y=(h - bh) width=((bar - 1).max(1)) height=(bh) {
                    title { (text(&inv["id"])) ": " (d) " µs, " (text(&inv["outcome"])) }
                }
            }
        }
    }
}

/// Minutes the chart over time covers, one bucket each.
const SERIES_MINUTES: i64 = 60;

/// Invocations read for the chart over time, at most (the newest).
const SERIES_MAX: usize = 1000;

/// The last hour, minute by minute: invocations (errors stacked in red)
/// as bars, and the p50 and p99 of their durations as lines, on a scale
/// of their own. `invocations` are the newest first.
fn series(invocations: &[Value], now_ms: i64) -> Markup {
    let start = now_ms - SERIES_MINUTES * 60_000;
    let mut buckets: Vec<(u64, u64, Vec<i64>)> = vec![(0, 0, Vec::new()); SERIES_MINUTES as usize];
    for inv in invocations {
        let Some(at) = inv["started_ms"].as_i64().filter(|t| *t >= start && *t <= now_ms) else {
            continue;
        };
        let i = (((at - start) / 60_000) as usize).min(buckets.len() - 1);
        let b = &mut buckets[i];
        if inv["outcome"] == "ok" {
            b.0 += 1;
        } else {
            b.1 += 1;
        }
        if let Some(d) = inv["duration_us"].as_i64() {
            b.2.push(d);
        }
    }
    for b in &mut buckets {
        b.2.sort_unstable();
    }
    let quantiles: Vec<Option<(i64, i64)>> = buckets
        .iter()
        .map(|b| (!b.2.is_empty()).then(|| (percentile(&b.2, 0.5), percentile(&b.2, 0.99))))
        .collect();
    let most = buckets.iter().map(|b| b.0 + b.1).max().unwrap_or(0).max(1);
    let slowest = quantiles.iter().flatten().map(|q| q.1).max().unwrap_or(0).max(1);
    let total: u64 = buckets.iter().map(|b| b.0 + b.1).sum();
    let errors: u64 = buckets.iter().map(|b| b.1).sum();
    let (w, h, step) = (600i64, 140i64, 10i64);
    let y_count = |n: u64| h - (n as i64 * (h - 10)) / most as i64;
    let y_time = |us: i64| h - (us * (h - 10)) / slowest;
    let line = |pick: fn(&(i64, i64)) -> i64| {
        quantiles
            .iter()
            .enumerate()
            .filter_map(|(i, q)| {
                q.as_ref()
                    .map(|q| format!("{},{}", i as i64 * step + step / 2, y_time(pick(q))))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let capped = invocations.len() >= SERIES_MAX;
    html! {
        p.stats {
            "Last hour: " (total) (if total == 1 { " invocation · " } else { " invocations · " })
            (errors) (if errors == 1 { " error" } else { " errors" }) " · bars per minute up to " (most)
            " · lines: p50 and p99 up to " (format!("{:.1} ms", slowest as f64 / 1000.0))
            @if capped { " (the newest " (SERIES_MAX) " invocations)" }
        }
        svg.chart.series viewBox=(format!("0 0 {w} {h}")) role="img"
            aria-label=(format!("Invocations per minute over the last hour: {total}, {errors} errors; the table below has the figures")) {
            @for (i, b) in buckets.iter().enumerate() {
                @if b.0 + b.1 > 0 {
                    rect.bar x=(i as i64 * step) y=(y_count(b.0 + b.1)) width=(step - 1) height=(h - y_count(b.0 + b.1)) {}
                    @if b.1 > 0 {
                        rect.bar.err x=(i as i64 * step) y=(y_count(b.0 + b.1)) width=(step - 1) height=(h - y_count(b.1)) {}
                    }
                }
            }
            polyline.p50 points=(line(|q| q.0)) {}
            polyline.p99 points=(line(|q| q.1)) {}
        }
        details {
            summary { "The figures, minute by minute" }
            div.scroll { table {
                thead { tr { th scope="col" { "Minute" } th scope="col" { "Invocations" } th scope="col" { "Errors" } th scope="col" { "p50" } th scope="col" { "p99" } } }
                tbody { @for (i, b) in buckets.iter().enumerate() { @if b.0 + b.1 > 0 { tr {
                    td { (time(Some(start + i as i64 * 60_000))) }
                    td { (b.0 + b.1) }
                    td { (b.1) }
                    td { (quantiles[i].map(|q| format!("{:.2} ms", q.0 as f64 / 1000.0)).unwrap_or_default()) }
                    td { (quantiles[i].map(|q| format!("{:.2} ms", q.1 as f64 / 1000.0)).unwrap_or_default()) }
                } } } }
            } }
        }
    }
}

/// A call's outcome, shown on the function's page.
struct Called {
    status: u16,
    answer: String,
}

async fn detail_page(
    state: &AppState,
    api: &InProcess,
    session: &Session,
    project_name: &str,
    name: &str,
    called: Option<Called>,
) -> Result<Markup, ConsoleError> {
    let p = project(state, project_name).await?;
    let base = format!("/projects/{}/functions/{}", seg(project_name), seg(name));
    let f = api.get(session, &base).await?;
    let versions = api.get(session, &format!("{base}/versions")).await?;
    let newest = api
        .items(session, &format!("{base}/invocations?limit={SERIES_MAX}"))
        .await?;
    let invocations = &newest[..newest.len().min(50)];
    let resource = format!("function/{name}");
    let can_change = may(state, session, &p, act::UPDATE_FUNCTION, &resource).await;
    let can_tag = can_change && may(state, session, &p, act::TAG_RESOURCE, &resource).await;
    let can_invoke = may(state, session, &p, act::INVOKE_FUNCTION, &resource).await;
    let can_logs = may(state, session, &p, act::GET_LOGS, &resource).await;
    let here = format!("/console/p/{}/functions/{}", seg(project_name), seg(name));
    let active = f["active_version"].as_i64();
    let content = html! {
        h1 { "Function " (name) }
        dl.facts {
            dt { "Active version" } dd { (text(&f["active_version"])) }
            dt { "Kind" } dd { (text(&f["world"])) }
            dt { "HTTP callers" } dd { (text(&f["http_auth"])) }
            dt { "Role" } dd { (text(&f["role"])) }
            dt { "SHA-256" } dd.mono { (text(&f["sha256"])) }
            dt { "Limits" } dd.mono { (f["limits"].to_string()) }
            dt { "Tags" } dd.mono { (f["tags"].to_string()) }
            dt { "Changed" } dd { (time(f["updated_ms"].as_i64())) }
        }
        @if can_change {
            section.card aria-labelledby="settings-title" {
                h2 #settings-title { "Settings" }
                form #settings method="post" action=(format!("{here}/settings")) {
                    (csrf(session))
                    label for="memory" { "Memory per instance (MiB)" }
                    input #memory name="memory_mib" type="number" min="1" value=(text(&f["limits"]["memory_mib"]));
                    label for="timeout" { "Timeout per invocation (ms)" }
                    input #timeout name="timeout_ms" type="number" min="1" value=(text(&f["limits"]["timeout_ms"]));
                    label for="concurrency" { "Instances at once" }
                    input #concurrency name="concurrency" type="number" min="1" value=(text(&f["limits"]["concurrency"]));
                    label for="env" { "Environment (JSON object of strings)" }
                    textarea #env name="env" rows="3" { (f["env"].to_string()) }
                    label for="config" { "Config (JSON object of strings, served through wasi:config)" }
                    textarea #config name="config" rows="3" { (f["config"].to_string()) }
                    button type="submit" { "Save" }
                }
            }
        }
        @if can_tag {
            form.card method="post" action=(format!("{here}/tags")) {
                (csrf(session))
                label for="tags" { "Tags (JSON object of strings; policies read them as mc:ResourceTag/<key>)" }
                textarea #tags name="tags" rows="2" { (f["tags"].to_string()) }
                button type="submit" { "Save the tags" }
            }
        }
        @if let Some(c) = &called {
            section.card aria-labelledby="called-title" {
                h2 #called-title { "Answer (HTTP " (c.status) ")" }
                pre.mono { (c.answer) }
            }
        }
        @if can_invoke && f["world"] == "handler" {
            section.card aria-labelledby="invoke-title" {
                h2 #invoke-title { "Call it" }
                form method="post" action=(format!("{here}/invoke")) {
                    (csrf(session))
                    label for="event" { "Event (JSON)" }
                    textarea #event name="event" rows="4" { "{}" }
                    button type="submit" { "Invoke" }
                }
            }
        }
        section aria-labelledby="inv-title" {
            h2 #inv-title { "Recent invocations" }
            @if invocations.is_empty() { (none("invocations")) } @else {
                (series(&newest, crate::util::now_ms()))
                (chart(invocations))
                div.scroll { table {
                    thead { tr { th scope="col" { "Started" } th scope="col" { "Version" } th scope="col" { "Outcome" } th scope="col" { "Duration" } th scope="col" { "Memory" } } }
                    tbody { @for i in invocations.iter().take(20) { tr {
                        td { (time(i["started_ms"].as_i64())) }
                        td { (text(&i["version"])) }
                        td class=(if i["outcome"] == "ok" { "ok" } else { "bad" }) { (text(&i["outcome"])) }
                        td { (format!("{:.2} ms", i["duration_us"].as_f64().unwrap_or(0.0) / 1000.0)) }
                        td { (format!("{} KiB", i["peak_memory"].as_i64().unwrap_or(0) / 1024)) }
                    } } }
                } }
            }
        }
        @if can_logs {
            section aria-labelledby="logs-title" {
                h2 #logs-title { "Logs" }
                p.hint { "New lines appear as they are written." }
                ol #logs.logs data-stream=(format!("/console/api{base}/logs/stream?since={}", crate::util::now_ms() - 3_600_000)) aria-live="polite" {}
            }
        }
        section aria-labelledby="versions-title" {
            h2 #versions-title { "Versions" }
            div.scroll { table {
                thead { tr { th scope="col" { "Version" } th scope="col" { "SHA-256" } th scope="col" { "Size" } th scope="col" { "Deployed" } th scope="col" { span.sr { "Action" } } } }
                tbody { @for v in versions["items"].as_array().into_iter().flatten() { tr {
                    td { (text(&v["version"])) }
                    td.mono { (text(&v["sha256"]).chars().take(16).collect::<String>()) }
                    td { (text(&v["size_bytes"])) }
                    td { (time(v["created_ms"].as_i64())) }
                    td {
                        @if v["version"].as_i64() == active {
                            "active"
                        } @else if can_change {
                            form method="post" action=(format!("{here}/activate")) {
                                (csrf(session))
                                input type="hidden" name="version" value=(text(&v["version"]));
                                button type="submit" { "Make active" }
                            }
                        }
                    }
                } } }
            } }
        }
    };
    Ok(layout::page(
        &format!("Function {name}"),
        session,
        Some(project_name),
        Section::Functions,
        content,
    ))
}

/// `GET /console/p/{project}/functions/{name}`.
pub async fn detail(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path((project_name, name)): Path<(String, String)>,
) -> Result<Markup, ConsoleError> {
    detail_page(&state, &api, &session, &project_name, &name, None).await
}

/// The roll-back form.
#[derive(Debug, Deserialize)]
pub struct Activate {
    csrf: String,
    version: i64,
}

/// `POST .../activate`: `PATCH` of the function's active version.
pub async fn activate(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path((project_name, name)): Path<(String, String)>,
    Form(form): Form<Activate>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let path = format!("/projects/{}/functions/{}", seg(&project_name), seg(&name));
    api.act(
        &session,
        Method::PATCH,
        &path,
        Some(&json!({"active_version": form.version})),
        &format!("/console/p/{}/functions/{}", seg(&project_name), seg(&name)),
    )
    .await
}

/// The settings form.
#[derive(Debug, Deserialize)]
pub struct Settings {
    csrf: String,
    memory_mib: u64,
    timeout_ms: u64,
    concurrency: u64,
    env: String,
    config: String,
}

/// `POST .../settings`: `PATCH` of the function's limits, env and config.
pub async fn settings(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path((project_name, name)): Path<(String, String)>,
    Form(form): Form<Settings>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let object = |what: &str, text: &str| -> Result<Value, ConsoleError> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| ConsoleError::new(StatusCode::BAD_REQUEST, format!("{what} is not JSON: {e}")))?;
        if v.is_object() {
            Ok(v)
        } else {
            Err(ConsoleError::new(
                StatusCode::BAD_REQUEST,
                format!("{what} must be a JSON object"),
            ))
        }
    };
    let body = json!({
        "limits": {"memory_mib": form.memory_mib, "timeout_ms": form.timeout_ms, "concurrency": form.concurrency},
        "env": object("the environment", &form.env)?,
        "config": object("the config", &form.config)?,
    });
    let path = format!("/projects/{}/functions/{}", seg(&project_name), seg(&name));
    api.act(
        &session,
        Method::PATCH,
        &path,
        Some(&body),
        &format!("/console/p/{}/functions/{}", seg(&project_name), seg(&name)),
    )
    .await
}

/// A tags form (a function's or a user's).
#[derive(Debug, Deserialize)]
pub struct TagsForm {
    /// The session's CSRF token.
    pub csrf: String,
    /// The tags, a JSON object of strings.
    pub tags: String,
}

impl TagsForm {
    /// The `PATCH` body: `{"tags": {...}}`.
    pub fn body(&self) -> Result<Value, ConsoleError> {
        let tags: std::collections::BTreeMap<String, String> =
            serde_json::from_str(&self.tags).map_err(|e| {
                ConsoleError::new(
                    StatusCode::BAD_REQUEST,
                    format!("the tags must be a JSON object of strings ({e}): go back and correct them"),
                )
            })?;
        Ok(json!({ "tags": tags }))
    }
}

/// `POST .../tags`: `PATCH` of the function's tags.
pub async fn tags(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path((project_name, name)): Path<(String, String)>,
    Form(form): Form<TagsForm>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let path = format!("/projects/{}/functions/{}", seg(&project_name), seg(&name));
    let then = format!("/console/p/{}/functions/{}", seg(&project_name), seg(&name));
    api.act(&session, Method::PATCH, &path, Some(&form.body()?), &then)
        .await
}

/// The test call's form.
#[derive(Debug, Deserialize)]
pub struct Invoke {
    csrf: String,
    event: String,
}

/// `POST .../invoke`: the invoke API with the event, its answer shown.
pub async fn invoke(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path((project_name, name)): Path<(String, String)>,
    Form(form): Form<Invoke>,
) -> Result<Markup, ConsoleError> {
    session.check_form(&form.csrf)?;
    let event: Value = serde_json::from_str(&form.event)
        .map_err(|e| ConsoleError::new(StatusCode::BAD_REQUEST, format!("the event is not JSON: {e}")))?;
    let path = format!("/projects/{}/functions/{}/invoke", seg(&project_name), seg(&name));
    let (status, answer) = api.call(&session, Method::POST, &path, Some(&event)).await?;
    let called = Called {
        status: status.as_u16(),
        answer: serde_json::to_string_pretty(&answer).unwrap_or_default(),
    };
    detail_page(&state, &api, &session, &project_name, &name, Some(called)).await
}

/// `GET /console/p/{project}/routes`.
pub async fn routes(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(project_name): Path<String>,
) -> Result<Markup, ConsoleError> {
    routes_page(&state, &api, &session, &project_name, None).await
}

async fn routes_page(
    state: &AppState,
    api: &InProcess,
    session: &Session,
    project_name: &str,
    error: Option<String>,
) -> Result<Markup, ConsoleError> {
    let p = project(state, project_name).await?;
    let items = api
        .items(session, &format!("/projects/{}/routes", seg(project_name)))
        .await?;
    let can_add = may(state, session, &p, act::CREATE_ROUTE, "route/*").await;
    let can_delete = may(state, session, &p, act::DELETE_ROUTE, "route/*").await;
    let here = format!("/console/p/{}/routes", seg(project_name));
    let content = html! {
        h1 { "Routes" }
        @if let Some(e) = &error { p.error role="alert" { (e) } }
        @if items.is_empty() { (none("routes")) } @else {
            div.scroll { table {
                thead { tr { th scope="col" { "Method" } th scope="col" { "Path" } th scope="col" { "Function" } th scope="col" { "Host" } th scope="col" { span.sr { "Action" } } } }
                tbody { @for r in &items { tr {
                    td { (text(&r["method"])) }
                    td.mono { (text(&r["path"])) }
                    td { (text(&r["function"])) }
                    td.mono { (text(&r["host"])) }
                    td { @if can_delete {
                        form method="post" action=(format!("{here}/{}/delete", seg(&text(&r["id"])))) {
                            (csrf(session))
                            button type="submit" aria-label=(format!("Delete the route {} {}", text(&r["method"]), text(&r["path"]))) { "Delete" }
                        }
                    } }
                } } }
            } }
        }
        @if can_add {
            section.card aria-labelledby="add-title" {
                h2 #add-title { "Add a route" }
                form method="post" action=(here) {
                    (csrf(session))
                    label for="method" { "Method" }
                    select #method name="method" {
                        @for m in ["GET", "POST", "PUT", "PATCH", "DELETE", "ANY"] { option { (m) } }
                    }
                    label for="path" { "Path (such as /hello/{name})" }
                    input #path name="path" required placeholder="/hello/{name}";
                    label for="function" { "Function" }
                    input #function name="function" required;
                    button type="submit" { "Add the route" }
                }
            }
        }
    };
    Ok(layout::page(
        "Routes",
        session,
        Some(project_name),
        Section::Routes,
        content,
    ))
}

/// The new route's form.
#[derive(Debug, Deserialize)]
pub struct NewRoute {
    csrf: String,
    method: String,
    path: String,
    function: String,
}

/// `POST /console/p/{project}/routes`.
pub async fn add_route(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(project_name): Path<String>,
    Form(form): Form<NewRoute>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let body = json!({"method": form.method, "path": form.path, "function": form.function});
    let path = format!("/projects/{}/routes", seg(&project_name));
    let (status, answer) = api.call(&session, Method::POST, &path, Some(&body)).await?;
    if status.is_success() {
        return Ok(Redirect::to(&format!("/console/p/{}/routes", seg(&project_name))).into_response());
    }
    // The API's reason, on the form, to correct.
    let message = super::api::message(&answer);
    let page = routes_page(&state, &api, &session, &project_name, Some(message)).await?;
    Ok((status, page).into_response())
}

/// `POST /console/p/{project}/routes/{id}/delete`.
pub async fn delete_route(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path((project_name, id)): Path<(String, String)>,
    Form(form): Form<super::session::CsrfOnly>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let path = format!("/projects/{}/routes/{}", seg(&project_name), seg(&id));
    api.act(
        &session,
        Method::DELETE,
        &path,
        None,
        &format!("/console/p/{}/routes", seg(&project_name)),
    )
    .await
}
