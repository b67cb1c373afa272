//! The org's side: its projects (the console's home), and the audit
//! trail with filters and the verification of its hash chain.

use super::ConsoleError;
use super::api::InProcess;
use super::layout::{self, Section, none, seg, text, time};
use super::session::Session;
use axum::Extension;
use axum::extract::Query;
use maud::{Markup, html};
use serde::Deserialize;

/// `GET /console`: the org's projects.
pub async fn home(Extension(api): Extension<InProcess>, session: Session) -> Result<Markup, ConsoleError> {
    let org = session.user().1.to_owned();
    let listed = api
        .get(&session, &format!("/orgs/{}/projects?limit=1000", seg(&org)))
        .await?;
    let items = listed["items"].as_array().cloned().unwrap_or_default();
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
