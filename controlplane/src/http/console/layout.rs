//! The console's frame: the page around every view (a skip link, the
//! header with the project's navigation and the user, the main region),
//! its stylesheet and script (compiled into the binary), and the small
//! pieces views share.

use super::session::Session;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// `GET /console/assets/{file}`.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · MiniCloud" }
            link rel="stylesheet" href="/console/assets/console.css";
            script src="/console/assets/console.js" defer {}
        }
    }
}

/// A page without a session (sign-in, errors).
pub fn bare(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { a.brand href="/console" { "MiniCloud" } }
                main #main { (content) }
            }
        }
    }
}

/// Where a page belongs in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The org's projects.
    Projects,
    /// A project's functions.
    Functions,
    /// A project's routes.
    Routes,
    /// A project's event rules.
    Rules,
    /// A project's buckets.
    Buckets,
    /// A project's workflows and approvals.
    Workflows,
    /// A project's secrets.
    Secrets,
    /// A project's quota and usage.
    Quota,
    /// The org's people, permissions and quota.
    Org,
    /// The org's audit trail.
    Audit,
}

/// A page of a signed-in user, in `project` when it has one.
pub fn page(
    title: &str,
    session: &Session,
    project: Option<&str>,
    section: Section,
    content: Markup,
) -> Markup {
    let (user, org) = session.user();
    let link = |s: Section, href: String, label: &str| {
        html! {
            li {
                @if s == section {
                    a href=(href) aria-current="page" { (label) }
                } @else {
                    a href=(href) { (label) }
                }
            }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to the content" }
                header.top {
                    a.brand href="/console" { "MiniCloud" }
                    nav aria-label="Sections" {
                        ul {
                            (link(Section::Projects, "/console".into(), "Projects"))
                            @if let Some(p) = project {
                                (link(Section::Functions, format!("/console/p/{}/functions", seg(p)), "Functions"))
                                (link(Section::Routes, format!("/console/p/{}/routes", seg(p)), "Routes"))
                                (link(Section::Rules, format!("/console/p/{}/rules", seg(p)), "Rules"))
                                (link(Section::Buckets, format!("/console/p/{}/buckets", seg(p)), "Buckets"))
                                (link(Section::Workflows, format!("/console/p/{}/workflows", seg(p)), "Workflows"))
                                (link(Section::Secrets, format!("/console/p/{}/secrets", seg(p)), "Secrets"))
                                (link(Section::Quota, format!("/console/p/{}/quota", seg(p)), "Quota"))
                            }
                            (link(Section::Org, "/console/org".into(), "Org"))
                            (link(Section::Audit, "/console/audit".into(), "Audit"))
                        }
                    }
                    form.who method="post" action="/console/logout" {
                        span { (user) " · " (org) }
                        (csrf(session))
                        button.link type="submit" { "Sign out" }
                    }
                }
                main #main data-csrf=(session.csrf()) {
                    @if let Some(p) = project {
                        p.crumb { "Project " strong { (p) } }
                    }
                    (content)
                }
            }
        }
    }
}

/// The hidden CSRF field of a form.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf()); }
}

/// `s` as one path segment of a console URL.
pub fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// An epoch-ms time as UTC, or nothing.
pub fn time(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// A JSON value as text in a cell: strings bare, nothing for null.
pub fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A line saying a list is empty.
pub fn none(what: &str) -> Markup {
    html! { p.empty { "No " (what) " yet." } }
}
