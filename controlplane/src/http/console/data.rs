//! A project's event rules (with a tester of patterns against a sample
//! event) and dead letters (replay), its buckets (browse by folder,
//! upload, download) and its secrets (names, new values; never a value
//! shown).

use super::ConsoleError;
use super::api::InProcess;
use super::functions::{may, project};
use super::layout::{self, Section, csrf, none, seg, text, time};
use super::session::{CsrfOnly, Session};
use crate::http::AppState;
use crate::iam::actions::{events as ev, secrets as se, storage as st};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

/// What the rules page shows besides the list: a refused form's reason,
/// the tester's verdict, and the forms' last input.
#[derive(Debug, Default)]
struct RulesView {
    error: Option<String>,
    verdict: Option<bool>,
    pattern: String,
    event: String,
}

const SAMPLE_PATTERN: &str = r#"{"source": ["shop"], "detail": {"total": [{"numeric": [">", 100]}]}}"#;
const SAMPLE_EVENT: &str = r#"{"source": "shop", "detail-type": "Order Placed", "detail": {"total": 120}}"#;

/// `GET /console/p/{project}/rules`.
pub async fn rules(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(project_name): Path<String>,
) -> Result<Markup, ConsoleError> {
    let view = RulesView {
        pattern: SAMPLE_PATTERN.into(),
        event: SAMPLE_EVENT.into(),
        ..RulesView::default()
    };
    rules_page(&state, &api, &session, &project_name, view).await
}

async fn rules_page(
    state: &AppState,
    api: &InProcess,
    session: &Session,
    project_name: &str,
    view: RulesView,
) -> Result<Markup, ConsoleError> {
    let p = project(state, project_name).await?;
    let items = api
        .items(
            session,
            &format!("/projects/{}/rules?limit=1000", seg(project_name)),
        )
        .await?;
    let can_create = may(state, session, &p, ev::PUT_RULE, "rule/*").await;
    let can_delete = may(state, session, &p, ev::DELETE_RULE, "rule/*").await;
    let here = format!("/console/p/{}/rules", seg(project_name));
    let content = html! {
        h1 { "Event rules" }
        p { a href=(format!("/console/p/{}/dead-letters", seg(project_name))) { "Dead letters" } }
        @if let Some(e) = &view.error { p.error role="alert" { (e) } }
        @if items.is_empty() { (none("rules")) } @else {
            div.scroll { table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "On" } th scope="col" { "Sources" } th scope="col" { "Pattern" } th scope="col" { "Targets" } th scope="col" { span.sr { "Action" } } } }
                tbody { @for r in &items { tr {
                    td { (text(&r["name"])) }
                    td { @if r["enabled"] == true { "yes" } @else { "no" } }
                    td.mono { (r["sources"].to_string()) }
                    td.mono { (r["pattern"].to_string()) }
                    td.mono { (r["targets"].to_string()) }
                    td { @if can_delete {
                        form method="post" action=(format!("{here}/{}/delete", seg(&text(&r["name"])))) {
                            (csrf(session))
                            button type="submit" aria-label=(format!("Delete the rule {}", text(&r["name"]))) { "Delete" }
                        }
                    } }
                } } }
            } }
        }
        section.card aria-labelledby="test-title" {
            h2 #test-title { "Test a pattern" }
            form #tester method="post" action=(format!("{here}/test")) {
                (csrf(session))
                label for="test-pattern" { "Pattern (JSON)" }
                textarea #test-pattern name="pattern" rows="4" { (view.pattern) }
                label for="test-event" { "Sample event (JSON)" }
                textarea #test-event name="event" rows="4" { (view.event) }
                button type="submit" { "Test" }
            }
            @if let Some(m) = view.verdict {
                @if m { p.ok #verdict role="status" { "The event matches the pattern." } }
                @else { p.bad #verdict role="status" { "The event does not match the pattern." } }
            }
        }
        @if can_create {
            section.card aria-labelledby="new-title" {
                h2 #new-title { "Create a rule" }
                form #new-rule method="post" action=(here) {
                    (csrf(session))
                    label for="rule-name" { "Name" }
                    input #rule-name name="name" required;
                    label for="rule-sources" { "Sources (JSON: api, subjects, platform)" }
                    textarea #rule-sources name="sources" rows="2" { r#"{"api": true}"# }
                    label for="rule-pattern" { "Pattern (JSON)" }
                    textarea #rule-pattern name="pattern" rows="3" { r#"{"source": ["shop"]}"# }
                    label for="rule-targets" { "Targets (JSON)" }
                    textarea #rule-targets name="targets" rows="2" { r#"[{"function": "name-of-a-function"}]"# }
                    button type="submit" { "Create the rule" }
                }
            }
        }
    };
    Ok(layout::page(
        "Rules",
        session,
        Some(project_name),
        Section::Rules,
        content,
    ))
}

/// JSON text of a form field, or the page's error naming it.
fn json_field(what: &str, text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{what} is not JSON: {e}"))
}

/// The tester's form.
#[derive(Debug, Deserialize)]
pub struct Test {
    csrf: String,
    pattern: String,
    event: String,
}

/// `POST /console/p/{project}/rules/test`: the API's pattern tester.
pub async fn test_pattern(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(project_name): Path<String>,
    Form(form): Form<Test>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let mut view = RulesView {
        pattern: form.pattern.clone(),
        event: form.event.clone(),
        ..RulesView::default()
    };
    let mut status = StatusCode::OK;
    match (
        json_field("the pattern", &form.pattern),
        json_field("the event", &form.event),
    ) {
        (Ok(pattern), Ok(event)) => {
            let body = json!({"pattern": pattern, "event": event});
            let (s, answer) = api
                .call(&session, Method::POST, "/events/test-pattern", Some(&body))
                .await?;
            if s.is_success() {
                view.verdict = answer["match"].as_bool();
            } else {
                status = s;
                view.error = Some(super::api::message(&answer));
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            status = StatusCode::BAD_REQUEST;
            view.error = Some(e);
        }
    }
    let page = rules_page(&state, &api, &session, &project_name, view).await?;
    Ok((status, page).into_response())
}

/// The new rule's form.
#[derive(Debug, Deserialize)]
pub struct NewRule {
    csrf: String,
    name: String,
    sources: String,
    pattern: String,
    targets: String,
}

/// `POST /console/p/{project}/rules`.
pub async fn create_rule(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(project_name): Path<String>,
    Form(form): Form<NewRule>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let parsed = (|| {
        Ok::<_, String>(json!({
            "name": form.name,
            "sources": json_field("the sources", &form.sources)?,
            "pattern": json_field("the pattern", &form.pattern)?,
            "targets": json_field("the targets", &form.targets)?,
        }))
    })();
    let (status, error) = match parsed {
        Ok(body) => {
            let path = format!("/projects/{}/rules", seg(&project_name));
            let (s, answer) = api.call(&session, Method::POST, &path, Some(&body)).await?;
            if s.is_success() {
                return Ok(Redirect::to(&format!("/console/p/{}/rules", seg(&project_name))).into_response());
            }
            (s, super::api::message(&answer))
        }
        Err(e) => (StatusCode::BAD_REQUEST, e),
    };
    let view = RulesView {
        error: Some(error),
        pattern: SAMPLE_PATTERN.into(),
        event: SAMPLE_EVENT.into(),
        ..RulesView::default()
    };
    let page = rules_page(&state, &api, &session, &project_name, view).await?;
    Ok((status, page).into_response())
}

/// `POST /console/p/{project}/rules/{name}/delete`.
pub async fn delete_rule(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path((project_name, name)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let path = format!("/projects/{}/rules/{}", seg(&project_name), seg(&name));
    api.act(
        &session,
        Method::DELETE,
        &path,
        None,
        &format!("/console/p/{}/rules", seg(&project_name)),
    )
    .await
}

/// `GET /console/p/{project}/buckets`.
pub async fn buckets(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(project_name): Path<String>,
) -> Result<Markup, ConsoleError> {
    let p = project(&state, &project_name).await?;
    let items = api
        .items(
            &session,
            &format!("/projects/{}/buckets?limit=1000", seg(&project_name)),
        )
        .await?;
    let can_create = may(&state, &session, &p, st::CREATE_BUCKET, "bucket/*").await;
    let content = html! {
        h1 { "Buckets" }
        @if items.is_empty() { (none("buckets")) } @else {
            ul.cards { @for b in &items {
                li { a href=(format!("/console/p/{}/buckets/{}", seg(&project_name), seg(&text(&b["name"])))) { (text(&b["name"])) } }
            } }
        }
        @if can_create {
            section.card aria-labelledby="new-bucket" {
                h2 #new-bucket { "Create a bucket" }
                form method="post" action=(format!("/console/p/{}/buckets", seg(&project_name))) {
                    (csrf(&session))
                    label for="bucket-name" { "Name" }
                    input #bucket-name name="name" required;
                    button type="submit" { "Create" }
                }
            }
        }
    };
    Ok(layout::page(
        "Buckets",
        &session,
        Some(&project_name),
        Section::Buckets,
        content,
    ))
}

/// The new bucket's form.
#[derive(Debug, Deserialize)]
pub struct NewBucket {
    csrf: String,
    name: String,
}

/// `POST /console/p/{project}/buckets`.
pub async fn create_bucket(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(project_name): Path<String>,
    Form(form): Form<NewBucket>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let path = format!("/projects/{}/buckets", seg(&project_name));
    api.act(
        &session,
        Method::POST,
        &path,
        Some(&json!({"name": form.name})),
        &format!("/console/p/{}/buckets/{}", seg(&project_name), seg(&form.name)),
    )
    .await
}

/// `?prefix=&cursor=` of a bucket's page.
#[derive(Debug, Deserialize)]
pub struct Browse {
    prefix: Option<String>,
    cursor: Option<String>,
}

/// A key as a URL path, each segment escaped.
fn key_path(key: &str) -> String {
    key.split('/').map(seg).collect::<Vec<_>>().join("/")
}

/// `GET /console/p/{project}/buckets/{bucket}?prefix=`: one folder of the
/// bucket (keys split at `/`), with downloads and an upload.
pub async fn bucket(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path((project_name, bucket)): Path<(String, String)>,
    Query(q): Query<Browse>,
) -> Result<Markup, ConsoleError> {
    let p = project(&state, &project_name).await?;
    let prefix = q.prefix.unwrap_or_default();
    if prefix.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(ConsoleError::new(
            StatusCode::BAD_REQUEST,
            "a folder may not hold . or .. segments",
        ));
    }
    let mut query = format!("prefix={}&delimiter=%2F&limit=200", seg(&prefix));
    if let Some(c) = &q.cursor {
        query.push_str(&format!("&cursor={}", seg(c)));
    }
    let base = format!("/projects/{}/buckets/{}", seg(&project_name), seg(&bucket));
    let listed = api.get(&session, &format!("{base}/objects?{query}")).await?;
    let here = format!("/console/p/{}/buckets/{}", seg(&project_name), seg(&bucket));
    let can_put = may(
        &state,
        &session,
        &p,
        st::PUT_OBJECT,
        &format!("bucket/{bucket}/*"),
    )
    .await;
    let parent = prefix
        .trim_end_matches('/')
        .rsplit_once('/')
        .map_or(String::new(), |(up, _)| format!("{up}/"));
    let content = html! {
        h1 { "Bucket " (bucket) }
        p.crumb { "Folder: " span.mono { "/" (prefix) } }
        @if !prefix.is_empty() { p { a href=(format!("{here}?prefix={}", seg(&parent))) { "Up one folder" } } }
        div.scroll { table {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Size" } th scope="col" { "Modified" } th scope="col" { "Type" } } }
            tbody {
                @for folder in listed["common_prefixes"].as_array().into_iter().flatten() {
                    tr {
                        td { a href=(format!("{here}?prefix={}", seg(&text(folder)))) { (text(folder).trim_start_matches(prefix.as_str())) } }
                        td { "folder" } td {} td {}
                    }
                }
                @for o in listed["items"].as_array().into_iter().flatten() {
                    tr {
                        td { a href=(format!("/console/api{base}/objects/{}", key_path(&text(&o["key"])))) download { (text(&o["key"]).trim_start_matches(prefix.as_str())) } }
                        td { (text(&o["size"])) }
                        td { (time(o["last_modified_ms"].as_i64())) }
                        td { (text(&o["content_type"])) }
                    }
                }
            }
        } }
        @if let Some(next) = listed["next_cursor"].as_str() {
            p { a href=(format!("{here}?prefix={}&cursor={}", seg(&prefix), seg(next))) { "More" } }
        }
        @if can_put {
            section.card aria-labelledby="upload-title" {
                h2 #upload-title { "Upload" }
                form #upload data-objects=(format!("/console/api{base}/objects/")) data-prefix=(prefix) {
                    label for="upload-file" { "File" }
                    input #upload-file type="file" required;
                    label for="upload-key" { "Key (default: the folder and the file's name)" }
                    input #upload-key name="key";
                    progress #upload-progress max="100" value="0" hidden {}
                    p #upload-status role="status" aria-live="polite" {}
                    button type="submit" { "Upload" }
                }
            }
        }
    };
    Ok(layout::page(
        &format!("Bucket {bucket}"),
        &session,
        Some(&project_name),
        Section::Buckets,
        content,
    ))
}

/// `GET /console/p/{project}/secrets`: names only; a value goes in, never
/// comes out here (reading one is the API's audited reveal).
pub async fn secrets(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(project_name): Path<String>,
) -> Result<Markup, ConsoleError> {
    let p = project(&state, &project_name).await?;
    let items = api
        .items(
            &session,
            &format!("/projects/{}/secrets?limit=1000", seg(&project_name)),
        )
        .await?;
    let can_create = may(&state, &session, &p, se::CREATE_SECRET, "secret/*").await;
    let can_rotate = may(&state, &session, &p, se::PUT_SECRET_VALUE, "secret/*").await;
    let here = format!("/console/p/{}/secrets", seg(&project_name));
    let content = html! {
        h1 { "Secrets" }
        p.hint { "Values are sealed: they can be replaced here, and read only through the API's audited reveal." }
        @if items.is_empty() { (none("secrets")) } @else {
            div.scroll { table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Description" } th scope="col" { "Last value" } th scope="col" { span.sr { "Action" } } } }
                tbody { @for x in &items { tr {
                    td { (text(&x["name"])) }
                    td { (text(&x["description"])) }
                    td { (time(x["updated_ms"].as_i64())) }
                    td { @if can_rotate {
                        form.inline method="post" action=(format!("{here}/{}/rotate", seg(&text(&x["name"])))) {
                            (csrf(&session))
                            label for=(format!("v-{}", text(&x["name"]))) { "New value" }
                            input id=(format!("v-{}", text(&x["name"]))) name="value" type="password" autocomplete="off" required;
                            button type="submit" { "Rotate" }
                        }
                    } }
                } } }
            } }
        }
        @if can_create {
            section.card aria-labelledby="new-secret" {
                h2 #new-secret { "Create a secret" }
                form method="post" action=(here) {
                    (csrf(&session))
                    label for="secret-name" { "Name" }
                    input #secret-name name="name" required autocomplete="off";
                    label for="secret-value" { "Value" }
                    input #secret-value name="value" type="password" required autocomplete="off";
                    button type="submit" { "Create" }
                }
            }
        }
    };
    Ok(layout::page(
        "Secrets",
        &session,
        Some(&project_name),
        Section::Secrets,
        content,
    ))
}

/// A secret's form (a new one, or a new value).
#[derive(Debug, Deserialize)]
pub struct SecretForm {
    csrf: String,
    name: Option<String>,
    value: String,
}

/// `POST /console/p/{project}/secrets`.
pub async fn create_secret(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(project_name): Path<String>,
    Form(form): Form<SecretForm>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let body = json!({"name": form.name.unwrap_or_default(), "secret_string": form.value});
    let path = format!("/projects/{}/secrets", seg(&project_name));
    api.act(
        &session,
        Method::POST,
        &path,
        Some(&body),
        &format!("/console/p/{}/secrets", seg(&project_name)),
    )
    .await
}

/// `POST /console/p/{project}/secrets/{name}/rotate`: a new version.
pub async fn rotate_secret(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path((project_name, name)): Path<(String, String)>,
    Form(form): Form<SecretForm>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let path = format!("/projects/{}/secrets/{}/value", seg(&project_name), seg(&name));
    api.act(
        &session,
        Method::PUT,
        &path,
        Some(&json!({"secret_string": form.value})),
        &format!("/console/p/{}/secrets", seg(&project_name)),
    )
    .await
}

/// `GET /console/p/{project}/dead-letters`: deliveries that ran out of
/// attempts, to replay or drop.
pub async fn dead_letters(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(project_name): Path<String>,
) -> Result<Markup, ConsoleError> {
    let p = project(&state, &project_name).await?;
    let items = api
        .items(
            &session,
            &format!("/projects/{}/dead-letters?limit=200", seg(&project_name)),
        )
        .await?;
    let can_replay = may(&state, &session, &p, ev::REPLAY_DEAD_LETTER, "rule/*").await;
    let here = format!("/console/p/{}/dead-letters", seg(&project_name));
    let content = html! {
        h1 { "Dead letters" }
        @if items.is_empty() { (none("dead letters")) } @else {
            div.scroll { table {
                thead { tr { th scope="col" { "Rule" } th scope="col" { "Target" } th scope="col" { "Attempts" } th scope="col" { "Error" } th scope="col" { "When" } th scope="col" { span.sr { "Action" } } } }
                tbody { @for d in &items { tr {
                    td { (text(&d["rule"])) }
                    td { (text(&d["target_id"])) }
                    td { (text(&d["attempts"])) }
                    td { (text(&d["error"])) }
                    td { (time(d["created_ms"].as_i64())) }
                    td { @if can_replay {
                        form method="post" action=(format!("{here}/{}/replay", seg(&text(&d["id"])))) {
                            (csrf(&session))
                            button type="submit" aria-label=(format!("Replay the delivery of {}", text(&d["rule"]))) { "Replay" }
                        }
                    } }
                } } }
            } }
        }
    };
    Ok(layout::page(
        "Dead letters",
        &session,
        Some(&project_name),
        Section::Rules,
        content,
    ))
}

/// `POST /console/p/{project}/dead-letters/{id}/replay`.
pub async fn replay(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path((project_name, id)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let path = format!(
        "/projects/{}/dead-letters/{}/replay",
        seg(&project_name),
        seg(&id)
    );
    api.act(
        &session,
        Method::POST,
        &path,
        None,
        &format!("/console/p/{}/dead-letters", seg(&project_name)),
    )
    .await
}
