//! Changing who may do what, and how much: roles (create, attach and
//! detach managed policies, inline policies, delete), the org's managed
//! policies (create, edit the document, delete), bindings (who holds which
//! role, in the org or one project: bind and unbind), and quotas (the
//! limits and usage of the org and of each project, changed by the
//! platform administrator alone). Every change goes through the API with
//! the user's token; a form is shown only when the API would allow it.

use super::ConsoleError;
use super::api::InProcess;
use super::layout::{self, Section, csrf, none, seg, text, time};
use super::session::{CsrfOnly, Session};
use crate::http::AppState;
use crate::iam::Target;
use crate::iam::actions::{iam, quotas};
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Whether the API would allow `action` on `resource` (`role/x`,
/// `policy/*` ...) of the caller's org.
pub(super) async fn may_in_org(state: &AppState, session: &Session, action: &str, resource: &str) -> bool {
    let service = action.split_once(':').map_or("iam", |(s, _)| s);
    let target = Target::in_org(service, &session.caller.principal.org, resource);
    session.may(state, action, &target).await
}

/// Whether the API would allow `action` on a platform resource
/// (`org/<name>`, `project/<name>`): platform-wide grants alone reach one
/// (new orgs, quotas).
pub(super) async fn may_on_platform(
    state: &AppState,
    session: &Session,
    action: &str,
    resource: &str,
) -> bool {
    let service = action.split_once(':').map_or("orgs", |(s, _)| s);
    session
        .may(state, action, &Target::platform(service, resource))
        .await
}

/// The console's page of role `name`.
fn role_page(name: &str) -> String {
    format!("/console/org/roles/{}", seg(name))
}

fn org_path(session: &Session, rest: &str) -> String {
    format!("/orgs/{}{rest}", seg(session.user().1))
}

/// A policy document typed into a form, as JSON.
fn document(text: &str) -> Result<Value, ConsoleError> {
    serde_json::from_str(text).map_err(|e| {
        ConsoleError::new(
            StatusCode::BAD_REQUEST,
            format!("the policy document is not JSON ({e}): go back and correct it"),
        )
    })
}

// ---- roles ----

/// `GET /console/org/roles/{role}`: a role's policies and who holds it.
pub async fn role(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(name): Path<String>,
) -> Result<Markup, ConsoleError> {
    let r = api
        .get(&session, &org_path(&session, &format!("/roles/{}", seg(&name))))
        .await?;
    let page = api
        .get(&session, &org_path(&session, "/policies?limit=1000"))
        .await?;
    // The built-in policies, then the org's own.
    let policies: Vec<String> = page["builtin"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(page["items"].as_array().into_iter().flatten().map(|p| &p["name"]))
        .map(text)
        .collect();
    let bindings = api
        .items(&session, &org_path(&session, "/bindings?limit=1000"))
        .await
        .unwrap_or_default();
    let resource = format!("role/{name}");
    let can_attach = may_in_org(&state, &session, iam::ATTACH_ROLE_POLICY, &resource).await;
    let can_inline = may_in_org(&state, &session, iam::PUT_ROLE_POLICY, &resource).await;
    let can_delete = may_in_org(&state, &session, iam::DELETE_ROLE, &resource).await;
    let here = role_page(&name);
    let attached: Vec<String> = r["policies"].as_array().into_iter().flatten().map(text).collect();
    let holders: Vec<&Value> = bindings.iter().filter(|b| text(&b["role"]) == name).collect();
    let content = html! {
        h1 { "Role " (name) }
        p { a href="/console/org" { "Back to the org" } }
        h2 { "Managed policies" }
        @if attached.is_empty() { (none("managed policies")) } @else {
            ul {
                @for p in &attached {
                    li {
                        (p) " "
                        @if can_attach {
                            form.inline method="post" action=(format!("{here}/policies/{}/detach", seg(p))) {
                                (csrf(&session))
                                button type="submit" aria-label=(format!("Detach {p}")) { "Detach" }
                            }
                        }
                    }
                }
            }
        }
        @if can_attach {
            form.card method="post" action=(format!("{here}/policies")) {
                (csrf(&session))
                label for="attach-policy" { "Attach a managed policy" }
                select #attach-policy name="policy" required {
                    @for n in &policies {
                        @if !attached.contains(n) { option value=(n) { (n) } }
                    }
                }
                button type="submit" { "Attach" }
            }
        }
        h2 { "Inline policies" }
        @let inline = r["inline_policies"].as_array().cloned().unwrap_or_default();
        @if inline.is_empty() { (none("inline policies")) } @else {
            @for p in &inline {
                details {
                    summary { (text(&p["name"])) }
                    pre.mono { (serde_json::to_string_pretty(&p["document"]).unwrap_or_default()) }
                    @if can_inline {
                        form method="post" action=(format!("{here}/inline/{}/delete", seg(&text(&p["name"])))) {
                            (csrf(&session))
                            button type="submit" aria-label=(format!("Delete the inline policy {}", text(&p["name"]))) { "Delete" }
                        }
                    }
                }
            }
        }
        @if can_inline {
            form.card method="post" action=(format!("{here}/inline")) {
                (csrf(&session))
                label for="inline-name" { "Inline policy's name (an existing one is replaced)" }
                input #inline-name name="name" required autocomplete="off";
                label for="inline-document" { "Document (JSON)" }
                textarea #inline-document name="document" rows="8" required {
                    "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"functions:Get*\", \"Resource\": \"*\"}]}"
                }
                button type="submit" { "Save the inline policy" }
            }
        }
        h2 { "Who holds it" }
        @if holders.is_empty() { (none("bindings of this role")) } @else {
            ul { @for b in &holders { li { (text(&b["principal"])) " in " (b["project"].as_str().unwrap_or("the whole org")) } } }
        }
        @if can_delete {
            form method="post" action=(format!("{here}/delete")) {
                (csrf(&session))
                button.danger type="submit" { "Delete the role" }
            }
        }
    };
    Ok(layout::page(
        &format!("Role {name}"),
        &session,
        None,
        Section::Org,
        content,
    ))
}

/// A new role's form.
#[derive(Debug, Deserialize)]
pub struct NewRole {
    csrf: String,
    name: String,
}

/// `POST /console/org/roles`: a role, then its page.
pub async fn create_role(
    Extension(api): Extension<InProcess>,
    session: Session,
    Form(form): Form<NewRole>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let then = role_page(&form.name);
    let body = json!({"name": form.name});
    api.act(
        &session,
        Method::POST,
        &org_path(&session, "/roles"),
        Some(&body),
        &then,
    )
    .await
}

/// The policy to attach.
#[derive(Debug, Deserialize)]
pub struct Attach {
    csrf: String,
    policy: String,
}

/// `POST /console/org/roles/{role}/policies`.
pub async fn attach(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(name): Path<String>,
    Form(form): Form<Attach>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let path = org_path(
        &session,
        &format!("/roles/{}/policies/{}", seg(&name), seg(&form.policy)),
    );
    let then = role_page(&name);
    api.act(&session, Method::PUT, &path, None, &then).await
}

/// `POST /console/org/roles/{role}/policies/{policy}/detach`.
pub async fn detach(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path((name, policy)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let path = org_path(
        &session,
        &format!("/roles/{}/policies/{}", seg(&name), seg(&policy)),
    );
    let then = role_page(&name);
    api.act(&session, Method::DELETE, &path, None, &then).await
}

/// An inline policy's form.
#[derive(Debug, Deserialize)]
pub struct Inline {
    csrf: String,
    name: String,
    document: String,
}

/// `POST /console/org/roles/{role}/inline`: creates or replaces it.
pub async fn put_inline(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(name): Path<String>,
    Form(form): Form<Inline>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let body = json!({"document": document(&form.document)?});
    let path = org_path(
        &session,
        &format!("/roles/{}/inline-policies/{}", seg(&name), seg(&form.name)),
    );
    let then = role_page(&name);
    api.act(&session, Method::PUT, &path, Some(&body), &then).await
}

/// `POST /console/org/roles/{role}/inline/{policy}/delete`.
pub async fn delete_inline(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path((name, policy)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let path = org_path(
        &session,
        &format!("/roles/{}/inline-policies/{}", seg(&name), seg(&policy)),
    );
    let then = role_page(&name);
    api.act(&session, Method::DELETE, &path, None, &then).await
}

/// `POST /console/org/roles/{role}/delete`.
pub async fn delete_role(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(name): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let path = org_path(&session, &format!("/roles/{}", seg(&name)));
    api.act(&session, Method::DELETE, &path, None, "/console/org")
        .await
}

// ---- managed policies ----

/// A managed policy's form (new, or a new document).
#[derive(Debug, Deserialize)]
pub struct PolicyForm {
    csrf: String,
    #[serde(default)]
    name: String,
    document: String,
}

/// `POST /console/org/policies`: a new managed policy.
pub async fn create_policy(
    Extension(api): Extension<InProcess>,
    session: Session,
    Form(form): Form<PolicyForm>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let body = json!({"name": form.name, "document": document(&form.document)?});
    api.act(
        &session,
        Method::POST,
        &org_path(&session, "/policies"),
        Some(&body),
        "/console/org#policies-title",
    )
    .await
}

/// `POST /console/org/policies/{policy}`: its document replaced.
pub async fn update_policy(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(name): Path<String>,
    Form(form): Form<PolicyForm>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let body = json!({"document": document(&form.document)?});
    let path = org_path(&session, &format!("/policies/{}", seg(&name)));
    api.act(
        &session,
        Method::PUT,
        &path,
        Some(&body),
        "/console/org#policies-title",
    )
    .await
}

/// `POST /console/org/policies/{policy}/delete`.
pub async fn delete_policy(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(name): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let path = org_path(&session, &format!("/policies/{}", seg(&name)));
    api.act(
        &session,
        Method::DELETE,
        &path,
        None,
        "/console/org#policies-title",
    )
    .await
}

/// The org page's policies: each document, editable and deletable where
/// allowed (built-in ones are not), and a form for a new one.
pub(super) async fn policies_section(state: &AppState, session: &Session, policies: &Value) -> Markup {
    let can_create = may_in_org(state, session, iam::CREATE_POLICY, "policy/*").await;
    let mut rows = Vec::new();
    for p in policies["items"].as_array().into_iter().flatten() {
        let name = text(&p["name"]);
        let own = p["builtin"] != true;
        let resource = format!("policy/{name}");
        let can_edit = own && may_in_org(state, session, iam::UPDATE_POLICY, &resource).await;
        let can_delete = own && may_in_org(state, session, iam::DELETE_POLICY, &resource).await;
        rows.push((p, name, can_edit, can_delete));
    }
    html! {
        section aria-labelledby="policies-title" {
            h2 #policies-title { "Policies" }
            @for (i, (p, name, can_edit, can_delete)) in rows.iter().enumerate() {
                details {
                    summary { (name) @if p["builtin"] == true { " (built in)" } }
                    @let pretty = serde_json::to_string_pretty(&p["document"]).unwrap_or_default();
                    @if *can_edit {
                        form method="post" action=(format!("/console/org/policies/{}", seg(name))) {
                            (csrf(session))
                            label for=(format!("policy-doc-{i}")) { "Document of " (name) }
                            textarea id=(format!("policy-doc-{i}")) name="document" rows="10" required { (pretty) }
                            button type="submit" { "Save " (name) }
                        }
                    } @else {
                        pre.mono { (pretty) }
                    }
                    @if *can_delete {
                        form method="post" action=(format!("/console/org/policies/{}/delete", seg(name))) {
                            (csrf(session))
                            button.danger type="submit" aria-label=(format!("Delete the policy {name}")) { "Delete" }
                        }
                    }
                }
            }
            @if can_create {
                form.card method="post" action="/console/org/policies" {
                    (csrf(session))
                    label for="policy-name" { "New policy's name" }
                    input #policy-name name="name" required autocomplete="off";
                    label for="policy-document" { "Document (JSON)" }
                    textarea #policy-document name="document" rows="8" required {
                        "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"functions:Get*\", \"Resource\": \"*\"}]}"
                    }
                    button type="submit" { "Create the policy" }
                }
            }
        }
    }
}

/// The org page's roles: each linked to its page, and a form for a new
/// one.
pub(super) async fn roles_section(state: &AppState, session: &Session, roles: &Value) -> Markup {
    let can_create = may_in_org(state, session, iam::CREATE_ROLE, "role/*").await;
    html! {
        section aria-labelledby="roles-title" {
            h2 #roles-title { "Roles" }
            div.scroll { table {
                thead { tr { th scope="col" { "Role" } th scope="col" { "Managed policies" } th scope="col" { "Inline policies" } } }
                tbody { @for r in roles["items"].as_array().into_iter().flatten() { tr {
                    td { a href=(role_page(&text(&r["name"]))) { (text(&r["name"])) } }
                    td { (r["policies"].as_array().map(|p| p.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                    td { (r["inline_policies"].as_array().map(|p| p.iter().map(|i| text(&i["name"])).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                } } }
            } }
            p.hint { "Built-in roles: " (roles["builtin"].as_array().map(|b| b.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
            @if can_create {
                form.card method="post" action="/console/org/roles" {
                    (csrf(session))
                    label for="role-name" { "New role's name" }
                    input #role-name name="name" required autocomplete="off";
                    button type="submit" { "Create the role" }
                }
            }
        }
    }
}

// ---- bindings ----

/// The org page's bindings: who holds which role where, unbind and bind
/// where allowed.
pub(super) async fn bindings_section(
    state: &AppState,
    api: &InProcess,
    session: &Session,
    roles: &Value,
    users: &Value,
) -> Markup {
    if !may_in_org(state, session, iam::LIST_BINDINGS, "binding/*").await {
        return html! {};
    }
    let bindings = api
        .items(session, &org_path(session, "/bindings?limit=1000"))
        .await;
    let projects = api
        .items(session, &org_path(session, "/projects?limit=1000"))
        .await
        .unwrap_or_default();
    let can_bind = may_in_org(state, session, iam::CREATE_BINDING, "binding/*").await;
    let mut rows = Vec::new();
    for b in bindings.as_deref().unwrap_or_default() {
        let can_unbind = may_in_org(
            state,
            session,
            iam::DELETE_BINDING,
            &format!("binding/{}", text(&b["id"])),
        )
        .await;
        rows.push((b, can_unbind));
    }
    let role_names: Vec<String> = roles["builtin"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            roles["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| &r["name"]),
        )
        .map(text)
        .filter(|r| r != "Administrator")
        .collect();
    html! {
        section aria-labelledby="bindings-title" {
            h2 #bindings-title { "Bindings" }
            @if let Err(e) = &bindings { p.error role="alert" { "The bindings could not be read: " (e.message) } }
            @if rows.is_empty() { (none("bindings")) } @else {
                div.scroll { table {
                    thead { tr { th scope="col" { "Who" } th scope="col" { "Role" } th scope="col" { "Where" } th scope="col" { "Since" } th scope="col" { span.sr { "Action" } } } }
                    tbody { @for (b, can_unbind) in &rows { tr {
                        td { (text(&b["principal"])) }
                        td { (text(&b["role"])) }
                        td { (b["project"].as_str().unwrap_or("the whole org")) }
                        td { (time(b["created_ms"].as_i64())) }
                        td { @if *can_unbind && b["role"] != "Administrator" {
                            form method="post" action=(format!("/console/org/bindings/{}/delete", seg(&text(&b["id"])))) {
                                (csrf(session))
                                button type="submit" aria-label=(format!("Unbind {} from {}", text(&b["principal"]), text(&b["role"]))) { "Unbind" }
                            }
                        } }
                    } } }
                } }
            }
            @if can_bind {
                form.card method="post" action="/console/org/bindings" {
                    (csrf(session))
                    label for="bind-principal" { "User (or key:<key id>)" }
                    input #bind-principal name="principal" required list="bind-users" autocomplete="off";
                    datalist #bind-users { @for u in users["items"].as_array().into_iter().flatten() { option value=(text(&u["name"])) {} } }
                    label for="bind-role" { "Role" }
                    select #bind-role name="role" required { @for r in &role_names { option value=(r) { (r) } } }
                    label for="bind-project" { "Where" }
                    select #bind-project name="project" {
                        option value="" { "The whole org" }
                        @for p in &projects { option value=(text(&p["name"])) { "Project " (text(&p["name"])) } }
                    }
                    button type="submit" { "Bind" }
                }
            }
        }
    }
}

/// A new binding's form.
#[derive(Debug, Deserialize)]
pub struct NewBinding {
    csrf: String,
    principal: String,
    role: String,
    #[serde(default)]
    project: String,
}

/// `POST /console/org/bindings`.
pub async fn bind(
    Extension(api): Extension<InProcess>,
    session: Session,
    Form(form): Form<NewBinding>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let project = (!form.project.is_empty()).then_some(form.project);
    let body = json!({"principal": form.principal, "role": form.role, "project": project});
    api.act(
        &session,
        Method::POST,
        &org_path(&session, "/bindings"),
        Some(&body),
        "/console/org#bindings-title",
    )
    .await
}

/// `POST /console/org/bindings/{id}/delete`.
pub async fn unbind(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let path = org_path(&session, &format!("/bindings/{}", seg(&id)));
    api.act(
        &session,
        Method::DELETE,
        &path,
        None,
        "/console/org#bindings-title",
    )
    .await
}

// ---- quotas ----

/// The kinds of a quota, in the order shown.
const QUOTA_KINDS: [(&str, &str); 6] = [
    ("concurrency", "Instances running at once"),
    ("memory_mib", "MiB their instances reserve"),
    ("rps", "Requests a second (public HTTP)"),
    ("stored_bytes", "Bytes of stored objects"),
    ("functions", "Functions"),
    ("rules", "Event rules"),
];

/// A quota's limits, usage and defaults (`GET .../quota`), and the form
/// that changes it when `action` (the console path it posts to) is given.
pub(super) fn quota_table(session: &Session, q: &Value, action: Option<&str>) -> Markup {
    html! {
        div.scroll { table {
            thead { tr { th scope="col" { "Kind" } th scope="col" { "Used" } th scope="col" { "Limit" } th scope="col" { "Default" } } }
            tbody { @for (kind, label) in QUOTA_KINDS { tr {
                td { (label) }
                td { (if kind == "rps" { "-".to_owned() } else { text(&q["usage"][kind]) }) }
                td { (text(&q["limits"][kind])) @if !q["override"][kind].is_null() { " (set)" } }
                td { (text(&q["defaults"][kind])) }
            } } }
        } }
        @if let Some(action) = action {
            form.card method="post" action=(action) {
                (csrf(session))
                p.hint { "Empty: the server's default." }
                @for (kind, label) in QUOTA_KINDS {
                    label for=(format!("quota-{kind}")) { (label) }
                    input id=(format!("quota-{kind}")) name=(kind) type="number" min="0" value=(text(&q["override"][kind]));
                }
                button type="submit" { "Set the quota" }
            }
        }
    }
}

/// A quota's form: each kind a number, or empty for the default.
#[derive(Debug, Deserialize)]
pub struct QuotaForm {
    csrf: String,
    #[serde(flatten)]
    kinds: std::collections::HashMap<String, String>,
}

impl QuotaForm {
    /// The override the API takes: each kind a number or `null`.
    fn body(&self) -> Result<Value, ConsoleError> {
        let mut body = Map::new();
        for (kind, label) in QUOTA_KINDS {
            let v = self.kinds.get(kind).map(|v| v.trim()).unwrap_or_default();
            let value = if v.is_empty() {
                Value::Null
            } else {
                json!(v.parse::<u64>().map_err(|_| ConsoleError::new(
                    StatusCode::BAD_REQUEST,
                    format!("{label}: {v:?} is not a whole number"),
                ))?)
            };
            body.insert(kind.to_owned(), value);
        }
        Ok(Value::Object(body))
    }
}

/// `POST /console/org/quota`: the org's quota (platform administrator).
pub async fn set_org_quota(
    Extension(api): Extension<InProcess>,
    session: Session,
    Form(form): Form<QuotaForm>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let body = form.body()?;
    api.act(
        &session,
        Method::PUT,
        &org_path(&session, "/quota"),
        Some(&body),
        "/console/org#quota-title",
    )
    .await
}

/// `GET /console/p/{project}/quota`: the project's quota and usage.
pub async fn project_quota(
    State(state): State<AppState>,
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(project): Path<String>,
) -> Result<Markup, ConsoleError> {
    let q = api
        .get(&session, &format!("/projects/{}/quota", seg(&project)))
        .await?;
    let here = format!("/console/p/{}/quota", seg(&project));
    let editable = may_on_platform(&state, &session, quotas::PUT_QUOTA, &format!("project/{project}")).await;
    let content = html! {
        h1 { "Quota of " (project) }
        (quota_table(&session, &q, editable.then_some(here.as_str())))
        p.hint { "Running instances and their memory are counted on the node that answered." }
    };
    Ok(layout::page(
        "Quota",
        &session,
        Some(&project),
        Section::Quota,
        content,
    ))
}

/// `POST /console/p/{project}/quota` (platform administrator).
pub async fn set_project_quota(
    Extension(api): Extension<InProcess>,
    session: Session,
    Path(project): Path<String>,
    Form(form): Form<QuotaForm>,
) -> Result<Response, ConsoleError> {
    session.check_form(&form.csrf)?;
    let body = form.body()?;
    let then = format!("/console/p/{}/quota", seg(&project));
    api.act(
        &session,
        Method::PUT,
        &format!("/projects/{}/quota", seg(&project)),
        Some(&body),
        &then,
    )
    .await
}
