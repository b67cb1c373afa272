//! The org's side: its projects (the console's home); its users (and
//! their API keys), roles, bindings and policies (changed in `iam`), the
//! policy simulator, its quota and usage; and the audit trail with filters
//! and the verification of its hash chain.

use super::ConsoleError;
use super::api::InProcess;
use super::iam::{may_in_org, may_on_platform};
use super::layout::{self, Section, csrf, none, seg, text, time};
use super::session::CsrfOnly;
use super::session::Session;
use crate::http::AppState;
use crate::iam::Target;
use crate::iam::actions::{iam, orgs, quotas};
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

/// `GET /console`: the org's projects, and a new one's form.
pub async fn home(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
) -> Result<Markup, ConsoleError> {
    let org = session.user().1.to_owned();
    let items = api
        .items(&session, &format!("/orgs/{}/projects?limit=1000", seg(&org)))
        .await?;
    let can_create = may_in_org(&state, &session, orgs::CREATE_PROJECT, "project/*").await;
    let content = html! {
        h1 { "Projects of " (org) }
        @if items.is_empty() { (none("projects")) } @else {
            ul.cards {
                @for p in &items {
                    li {
                        a href=(format!("/console/p/{}/functions", seg(&text(&p["name"])))) { (text(&p["name"])) }
                        " · " a href=(format!("/console/p/{}/routes", seg(&text(&p["name"])))) { "routes" }
                    }
                }
            }
        }
        @if can_create {
            form.card method="post" action="/console/projects" {
                (csrf(&session))
                label for="project-name" { "New project's name (unique on the platform)" }
                input #project-name name="name" required autocomplete="off";
                button type="submit" { "Create the project" }
            }
        }
    };
    Ok(layout::page(
        "Projects",
        &session,
        None,
        Section::Projects,
        content,
    ))
}

/// The audit page's filters (the API's own).
#[derive(Debug, Default, Deserialize)]
pub struct AuditFilters {
    actor: Option<String>,
    action: Option<String>,
    decision: Option<String>,
    cursor: Option<String>,
    verify: Option<String>,
}

/// `GET /console/audit`: the org's audit records, newest first, filtered;
/// `?verify=1` checks the chain.
pub async fn audit(
    Extension(api): Extension<InProcess>,
    session: Session,
    Query(f): Query<AuditFilters>,
) -> Result<Markup, ConsoleError> {
    let org = session.user().1.to_owned();
    let mut query = vec![("limit".to_owned(), "50".to_owned())];
    for (k, v) in [
        ("actor", &f.actor),
        ("action", &f.action),
        ("decision", &f.decision),
        ("cursor", &f.cursor),
    ] {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            query.push((k.to_owned(), v.clone()));
        }
    }
    let qs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", seg(v))).collect();
    let page = api
        .get(&session, &format!("/orgs/{}/audit?{}", seg(&org), qs.join("&")))
        .await?;
    let verified = if f.verify.is_some() {
        Some(
            api.get(&session, &format!("/orgs/{}/audit/verify", seg(&org)))
                .await?,
        )
    } else {
        None
    };
    let items = page["items"].as_array().cloned().unwrap_or_default();
    let next = page["next_cursor"].clone();
    let kept =
        |k: &str, v: &Option<String>| v.as_ref().map(|v| format!("&{k}={}", seg(v))).unwrap_or_default();
    let filters = format!(
        "{}{}{}",
        kept("actor", &f.actor),
        kept("action", &f.action),
        kept("decision", &f.decision)
    );
    let content = html! {
        h1 { "Audit trail of " (org) }
        form.filters method="get" action="/console/audit" {
            label for="actor" { "Actor" }
            input #actor name="actor" value=(f.actor.clone().unwrap_or_default());
            label for="action" { "Action" }
            input #action name="action" placeholder="functions:DeleteFunction" value=(f.action.clone().unwrap_or_default());
            label for="decision" { "Decision" }
            select #decision name="decision" {
                @for d in ["", "Allow", "Deny"] {
                    @if f.decision.as_deref().unwrap_or("") == d { option selected value=(d) { (if d.is_empty() { "any" } else { d }) } }
                    @else { option value=(d) { (if d.is_empty() { "any" } else { d }) } }
                }
            }
            button type="submit" { "Filter" }
            a.button href="/console/audit?verify=1" { "Verify the chain" }
        }
        @if let Some(v) = &verified {
            @if v["ok"] == true {
                p.ok role="status" { "The chain holds: " (text(&v["records"])) " records, each linked to the one before." }
            } @else {
                p.error role="alert" { "The chain is broken at record " (text(&v["broken_at"])) ": " (text(&v["reason"])) }
            }
        }
        @if items.is_empty() { (none("records")) } @else {
            div.scroll { table {
                thead { tr { th scope="col" { "#" } th scope="col" { "When" } th scope="col" { "Actor" } th scope="col" { "Action" } th scope="col" { "Resource" } th scope="col" { "Decision" } th scope="col" { "Status" } } }
                tbody { @for r in &items { tr {
                    td { (text(&r["seq"])) }
                    td { (time(r["time_ms"].as_i64())) }
                    td { (text(&r["actor_name"])) }
                    td.mono { (text(&r["action"])) }
                    td.mono { (text(&r["resource"])) }
                    td class=(if r["decision"] == "Allow" { "ok" } else { "bad" }) { (text(&r["decision"])) }
                    td { (text(&r["outcome"])) }
                } } }
            } }
            @if !next.is_null() {
                p { a href=(format!("/console/audit?cursor={}{filters}", seg(&text(&next)))) { "Older records" } }
            }
        }
    };
    Ok(layout::page("Audit", &session, None, Section::Audit, content))
}

/// What the org page shows besides its lists.
#[derive(Debug, Default)]
struct OrgView {
    error: Option<String>,
    /// The simulator's form and its answer.
    simulated: Option<(SimulateForm, Value)>,
}

/// `GET /console/org`: the org's people and permissions (users, roles,
/// the policy simulator) and its quota and usage.
pub async fn org(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
) -> Result<Markup, ConsoleError> {
    org_page(&state, &api, &session, OrgView::default()).await
}

async fn org_page(
    state: &AppState,
    api: &InProcess,
    session: &Session,
    view: OrgView,
) -> Result<Markup, ConsoleError> {
    let org = session.user().1.to_owned();
    let o = seg(&org);
    let users = api.get(session, &format!("/orgs/{o}/users?limit=1000")).await?;
    let roles = api.get(session, &format!("/orgs/{o}/roles?limit=1000")).await?;
    let quota = api.get(session, &format!("/orgs/{o}/quota")).await.ok();
    let policies = api
        .get(session, &format!("/orgs/{o}/policies?limit=1000"))
        .await?;
    let orgs = api.get(session, "/orgs?limit=1000").await?;
    let can_create_user = may_in_org(state, session, iam::CREATE_USER, "user/*").await;
    let can_simulate = may_in_org(state, session, iam::SIMULATE_POLICY, "user/*").await;
    let can_create_org = may_on_platform(state, session, orgs::CREATE_ORG, "org/*").await;
    let roles_section = super::iam::roles_section(state, session, &roles).await;
    let bindings_section = super::iam::bindings_section(state, api, session, &roles, &users).await;
    let policies_section = super::iam::policies_section(state, session, &policies).await;
    let quota_action = may_on_platform(state, session, quotas::PUT_QUOTA, &format!("org/{org}"))
        .await
        .then_some("/console/org/quota");
    let sim = view.simulated.as_ref();
    let content = html! {
        h1 { "Org " (org) }
        @if let Some(e) = &view.error { p.error role="alert" { (e) } }
        @if let Some(q) = &quota {
            section aria-labelledby="quota-title" {
                h2 #quota-title { "Quota and usage" }
                (super::iam::quota_table(session, q, quota_action))
            }
        }
        section aria-labelledby="users-title" {
            h2 #users-title { "Users" }
            div.scroll { table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Tags" } th scope="col" { "Created" } } }
                tbody { @for u in users["items"].as_array().into_iter().flatten() { tr {
                    td { a href=(format!("/console/org/users/{}", seg(&text(&u["name"])))) { (text(&u["name"])) } }
                    td.mono { (u["tags"].to_string()) }
                    td { (time(u["created_ms"].as_i64())) }
                } } }
            } }
            @if can_create_user {
                form.card method="post" action="/console/org/users" {
                    (csrf(session))
                    label for="user-name" { "New user's name" }
                    input #user-name name="name" required autocomplete="off";
                    label for="user-password" { "Password (12 characters at least)" }
                    input #user-password name="password" type="password" autocomplete="new-password" required;
                    button type="submit" { "Create the user" }
                }
            }
        }
        (roles_section)
        (bindings_section)
        (policies_section)
        @let visible = orgs["items"].as_array().cloned().unwrap_or_default();
        @if visible.len() > 1 || can_create_org {
            section aria-labelledby="orgs-title" {
                h2 #orgs-title { "Orgs" }
                ul.cards { @for x in &visible { li { (text(&x["name"])) " · created " (time(x["created_ms"].as_i64())) } } }
                @if can_create_org {
                    form.card method="post" action="/console/orgs" {
                        (csrf(session))
                        label for="org-name" { "New org's name" }
                        input #org-name name="name" required autocomplete="off";
                        button type="submit" { "Create the org" }
                    }
                }
            }
        }
        @if can_simulate {
            section.card aria-labelledby="sim-title" {
                h2 #sim-title { "Policy simulator" }
                form #simulator method="post" action="/console/org/simulate" {
                    (csrf(session))
                    label for="sim-user" { "User" }
                    input #sim-user name="user" required value=(sim.map(|(f, _)| f.user.clone()).unwrap_or_default());
                    label for="sim-action" { "Action" }
                    input #sim-action name="action" required placeholder="functions:InvokeFunction" value=(sim.map(|(f, _)| f.action.clone()).unwrap_or_default());
                    label for="sim-resource" { "Resource" }
                    input #sim-resource name="resource" required placeholder="mrn:functions:org:project:function/name" value=(sim.map(|(f, _)| f.resource.clone()).unwrap_or_default());
                    button type="submit" { "Simulate" }
                }
                @if let Some((_, answer)) = sim {
                    @let decision = text(&answer["decision"]);
                    p #decision role="status" class=(if decision == "Allow" { "ok" } else { "bad" }) { "Decision: " (decision) }
                    @for st in answer["statements"].as_array().into_iter().flatten() {
                        p.mono { (text(&st["policy"])) ": " (st["statement"].to_string()) }
                    }
                }
            }
        }
    };
    Ok(layout::page("Org", session, None, Section::Org, content))
}

/// The new user's form.
#[derive(Debug, Deserialize)]
pub struct NewUser {
    csrf: String,
    name: String,
    password: String,
}

/// `POST /console/org/users`.
pub async fn create_user(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Form(form): Form<NewUser>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let org = seg(session.user().1);
    let body = json!({"name": form.name, "password": form.password});
    let (status, answer) = api
        .call(&session, Method::POST, &format!("/orgs/{org}/users"), Some(&body))
        .await?;
    if status.is_success() {
        return Ok(Redirect::to("/console/org").into_response());
    }
    let view = OrgView {
        error: Some(super::api::message(&answer)),
        ..OrgView::default()
    };
    Ok((status, org_page(&state, &api, &session, view).await?).into_response())
}

/// The simulator's form.
#[derive(Debug, Default, Deserialize)]
pub struct SimulateForm {
    #[serde(default)]
    csrf: String,
    user: String,
    action: String,
    resource: String,
}

/// `POST /console/org/simulate`: the API's simulator, for a user of the
/// org.
pub async fn simulate(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Form(form): Form<SimulateForm>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let org = session.user().1.to_owned();
    let body = json!({
        "principal": {"org": org, "user": form.user},
        "action": form.action,
        "resource": form.resource,
    });
    let (status, answer) = api
        .call(&session, Method::POST, "/policies/simulate", Some(&body))
        .await?;
    let view = if status.is_success() {
        OrgView {
            simulated: Some((form, answer)),
            ..OrgView::default()
        }
    } else {
        OrgView {
            error: Some(super::api::message(&answer)),
            ..OrgView::default()
        }
    };
    Ok((status, org_page(&state, &api, &session, view).await?).into_response())
}

/// `GET /console/org/users/{user}`: a user's API keys.
pub async fn user(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(name): Path<String>,
) -> Result<Markup, ConsoleError> {
    user_page(&state, &api, &session, &name, None).await
}

async fn user_page(
    state: &AppState,
    api: &InProcess,
    session: &Session,
    name: &str,
    minted: Option<String>,
) -> Result<Markup, ConsoleError> {
    let org = seg(session.user().1);
    let u = api
        .get(session, &format!("/orgs/{org}/users/{}", seg(name)))
        .await?;
    let keys = api
        .get(session, &format!("/orgs/{org}/users/{}/keys", seg(name)))
        .await?;
    let resource = format!("user/{name}");
    let can_keys = may_in_org(state, session, iam::CREATE_API_KEY, &resource).await;
    let can_revoke = may_in_org(state, session, iam::REVOKE_API_KEY, &resource).await;
    // Judged with the user's tags, as the API judges it.
    let target = Target::in_org("iam", &session.caller.principal.org, &resource).with_tags(tags_of(&u));
    let can_tag = session.may(state, iam::TAG_USER, &target).await;
    let here = format!("/console/org/users/{}", seg(name));
    let content = html! {
        h1 { "User " (text(&u["name"])) }
        p { a href="/console/org" { "Back to the org" } }
        @if let Some(token) = &minted {
            section.card role="status" {
                h2 { "The new key" }
                p { "Copy it now: it is shown once." }
                pre.mono #minted { (token) }
            }
        }
        dl.facts {
            dt { "Tags" } dd.mono { (u["tags"].to_string()) }
            dt { "Created" } dd { (time(u["created_ms"].as_i64())) }
        }
        @if can_tag {
            form.card method="post" action=(format!("{here}/tags")) {
                (csrf(session))
                label for="user-tags" { "Tags (JSON object of strings; policies read them as mc:PrincipalTag/<key>)" }
                textarea #user-tags name="tags" rows="2" { (u["tags"].to_string()) }
                button type="submit" { "Save the tags" }
            }
        }
        h2 { "API keys" }
        @let items = keys["items"].as_array().cloned().unwrap_or_default();
        @if items.is_empty() { (none("keys")) } @else {
            div.scroll { table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "Revoked" } th scope="col" { span.sr { "Action" } } } }
                tbody { @for k in &items { tr {
                    td { (text(&k["name"])) }
                    td.mono { (text(&k["id"])) }
                    td { (time(k["created_ms"].as_i64())) }
                    td { (time(k["last_used_ms"].as_i64())) }
                    td { (time(k["revoked_ms"].as_i64())) }
                    td { @if can_revoke && k["revoked_ms"].is_null() {
                        form method="post" action=(format!("{here}/keys/{}/revoke", seg(&text(&k["id"])))) {
                            (csrf(session))
                            button type="submit" aria-label=(format!("Revoke the key {}", text(&k["name"]))) { "Revoke" }
                        }
                    } }
                } } }
            } }
        }
        @if can_keys {
            form.card method="post" action=(format!("{here}/keys")) {
                (csrf(session))
                label for="key-name" { "New key's name" }
                input #key-name name="name" required autocomplete="off";
                button type="submit" { "Create a key" }
            }
        }
    };
    Ok(layout::page(
        &format!("User {name}"),
        session,
        None,
        Section::Org,
        content,
    ))
}

/// A new key's form.
#[derive(Debug, Deserialize)]
pub struct NewKey {
    csrf: String,
    name: String,
}

/// `POST /console/org/users/{user}/keys`: the key, shown once.
pub async fn create_key(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(name): Path<String>,
    Form(form): Form<NewKey>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let org = seg(session.user().1);
    let path = format!("/orgs/{org}/users/{}/keys", seg(&name));
    let (status, answer) = api
        .call(&session, Method::POST, &path, Some(&json!({"name": form.name})))
        .await?;
    if !status.is_success() {
        return Err(super::api::refusal(status, &answer));
    }
    let token = text(&answer["token"]);
    Ok(user_page(&state, &api, &session, &name, Some(token))
        .await?
        .into_response())
}

/// `POST /console/org/users/{user}/keys/{key}/revoke`.
pub async fn revoke_key(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path((name, key)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let org = seg(session.user().1);
    let path = format!("/orgs/{org}/users/{}/keys/{}", seg(&name), seg(&key));
    api.act(
        &session,
        Method::DELETE,
        &path,
        None,
        &format!("/console/org/users/{}", seg(&name)),
    )
    .await
}

/// A user's tags as the API showed them.
fn tags_of(user: &Value) -> crate::store::iam::Tags {
    user["tags"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect()
}

/// `POST /console/org/users/{user}/tags`: `PATCH` of the user's tags.
pub async fn tag_user(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(name): Path<String>,
    Form(form): Form<super::functions::TagsForm>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let path = format!("/orgs/{}/users/{}", seg(session.user().1), seg(&name));
    api.act(
        &session,
        Method::PATCH,
        &path,
        Some(&form.body()?),
        &format!("/console/org/users/{}", seg(&name)),
    )
    .await
}

/// A new org's or project's form.
#[derive(Debug, Deserialize)]
pub struct NewTenant {
    csrf: String,
    name: String,
}

/// `POST /console/projects`: a project in the user's org, then its page.
pub async fn create_project(
    Extension(api): Extension<InProcess>,
    session: Session,
    Form(form): Form<NewTenant>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let path = format!("/orgs/{}/projects", seg(session.user().1));
    let then = format!("/console/p/{}/functions", seg(&form.name));
    api.act(
        &session,
        Method::POST,
        &path,
        Some(&json!({"name": form.name})),
        &then,
    )
    .await
}

/// `POST /console/orgs`: a new org (the platform administrator's).
pub async fn create_org(
    Extension(api): Extension<InProcess>,
    session: Session,
    Form(form): Form<NewTenant>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    api.act(
        &session,
        Method::POST,
        "/orgs",
        Some(&json!({"name": form.name})),
        "/console/org#orgs-title",
    )
    .await
}
