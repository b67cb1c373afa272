//! Tenancy: `POST/GET /orgs`, `GET/DELETE /orgs/{org}`, and the projects of
//! an org: `POST/GET /orgs/{org}/projects`, `GET/DELETE
//! /orgs/{org}/projects/{project}`.
//!
//! An org or project is deleted only when empty, and softly: it vanishes
//! from every lookup at once, its name stays reserved, its history stays.

use super::error::{ApiError, ApiResult, JsonBody, QueryParams};
use super::openapi::ListPage;
use super::{Page, PathParams, check_name};
use crate::http::AppState;
use crate::http::api::described::ApiRouter;
use crate::http::api::described::routes;
use crate::iam::actions::orgs as act;
use crate::iam::{Caller, Target};
use crate::services::tenancy::TenancyChangeError;
use crate::store::orgs::{Org, TenancyError};
use crate::store::projects::Project;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use minicloud_policy::Mrn;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Routes of this resource.
pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(list_orgs, create_org))
        .routes(routes!(get_org, delete_org))
        .routes(routes!(list_projects, create_project))
        .routes(routes!(get_project, delete_project))
}

impl From<TenancyChangeError> for ApiError {
    fn from(e: TenancyChangeError) -> Self {
        match e {
            TenancyChangeError::Refused(e) => e.into(),
            TenancyChangeError::Protected => ApiError::new(StatusCode::CONFLICT, "protected", e.to_string()),
            TenancyChangeError::Routes(e) => e.into(),
        }
    }
}

impl From<TenancyError> for ApiError {
    fn from(e: TenancyError) -> Self {
        match e {
            TenancyError::NameTaken(name) => ApiError::new(
                StatusCode::CONFLICT,
                "name_taken",
                format!("the name {name:?} is taken (names stay reserved after a delete)"),
            ),
            TenancyError::NotEmpty(message) => ApiError::new(StatusCode::CONFLICT, "not_empty", message),
            TenancyError::Store(e) => e.into(),
        }
    }
}

/// A new org or project.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    /// Its name, unique on the platform (org names among orgs, project
    /// names among every org's projects); names of deleted orgs and
    /// projects stay reserved.
    name: String,
}

/// An org.
#[derive(Debug, Serialize, ToSchema)]
struct OrgView {
    /// The org's name.
    name: String,
    /// Creation time, epoch ms.
    created_ms: i64,
}

/// A project.
#[derive(Debug, Serialize, ToSchema)]
struct ProjectView {
    /// The project's name (unique on the platform: paths name a project
    /// without its org).
    name: String,
    /// The name of the org that owns it.
    org: String,
}

/// The org named `name`, or 404.
pub(crate) async fn org_named(state: &AppState, name: &str) -> ApiResult<Org> {
    state
        .store
        .org(name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("org {name:?} does not exist")))
}

/// The project, only if it belongs to the org in the path.
async fn project_in(state: &AppState, org: &Org, name: &str) -> ApiResult<Project> {
    match state.project(name).await? {
        Some(p) if p.org_id == org.id => Ok(p),
        _ => Err(ApiError::not_found(format!(
            "project {name:?} does not exist in org {:?}",
            org.name
        ))),
    }
}

fn org_target(o: &Org) -> Target {
    Target::in_org("orgs", o, &format!("org/{}", o.name))
}

fn project_target(p: &Project) -> Target {
    Target::in_project("orgs", p, &format!("project/{}", p.name))
}

fn org_view(o: &Org) -> OrgView {
    OrgView {
        name: o.name.clone(),
        created_ms: o.created_ms,
    }
}

fn project_view(org: &Org, p: &Project) -> ProjectView {
    ProjectView {
        name: p.name.clone(),
        org: org.name.clone(),
    }
}

/// A page of what the caller may see (`items` and `next_cursor`, as
/// [`super::list_page`] writes them).
#[derive(Debug, Serialize)]
struct Visible<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

/// Creates an org.
///
/// Needs `orgs:CreateOrg` on `mrn:orgs:<name>::org/<name>`: the org does
/// not exist yet, so only platform-wide grants (the platform
/// administrator's) can allow it.
#[utoipa::path(
    post,
    path = "/orgs",
    tag = "orgs",
    request_body = NewTenant,
    responses((status = 201, description = "The org, created", body = OrgView))
)]
async fn create_org(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewTenant>,
) -> ApiResult<(StatusCode, Json<OrgView>)> {
    check_name("org", &new.name)?;
    // The org does not exist yet: only platform-wide grants can allow this.
    let target = Target {
        mrn: Mrn::org("orgs", &new.name, format!("org/{}", new.name)),
        org_id: String::new(),
        project_id: None,
        tags: Default::default(),
    };
    state.authorize(&caller, act::CREATE_ORG, &target).await?;
    let org = state.tenancy.create_org(&new.name).await?;
    Ok((StatusCode::CREATED, Json(org_view(&org))))
}

/// Lists the orgs the caller may see, by name.
///
/// An org is listed when the caller is allowed `orgs:GetOrg` on it; the
/// others are skipped, so a page may be filled from several scans (see
/// [`VisiblePage`]). The cursor is the last name shown.
#[utoipa::path(
    get,
    path = "/orgs",
    tag = "orgs",
    params(Page),
    responses((status = 200, description = "A page of orgs, by name", body = ListPage<OrgView>))
)]
async fn list_orgs(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(p): QueryParams<Page>,
) -> ApiResult<Json<Visible<OrgView>>> {
    let limit = p.limit()?;
    let mut page = VisiblePage::new(limit, p.cursor.unwrap_or_default());
    while let Some(cursor) = page.scan_from() {
        let rows = state.store.list_orgs(&cursor, limit).await?;
        page.scanned(rows.len());
        for o in rows {
            let visible = state.allowed(&caller, act::GET_ORG, &org_target(&o)).await?;
            page.offer(o.name.clone(), visible.then(|| org_view(&o)));
        }
    }
    let (items, next) = page.finish();
    Ok(Json(Visible {
        items,
        next_cursor: next,
    }))
}

/// A page of up to `limit` rows the caller may see, filled by scanning the
/// stored rows by name from a cursor and skipping the others. The next
/// cursor is the last row shown, so it never names a row the caller may
/// not see (a cursor taken from the scan would).
struct VisiblePage<T> {
    limit: i64,
    cursor: String,
    shown: Vec<T>,
    last_shown: Option<String>,
    exhausted: bool,
}

impl<T> VisiblePage<T> {
    fn new(limit: i64, cursor: String) -> Self {
        Self {
            limit,
            cursor,
            shown: Vec::new(),
            last_shown: None,
            exhausted: false,
        }
    }

    fn full(&self) -> bool {
        self.shown.len() as i64 >= self.limit
    }

    /// Where the next scan starts, while the page needs more rows.
    fn scan_from(&self) -> Option<String> {
        (!self.full() && !self.exhausted).then(|| self.cursor.clone())
    }

    /// A scan returned `n` rows; fewer than the limit means the end.
    fn scanned(&mut self, n: usize) {
        self.exhausted = (n as i64) < self.limit;
    }

    /// The next scanned row, by name, with its view if the caller may see it.
    fn offer(&mut self, name: String, view: Option<T>) {
        if self.full() {
            return;
        }
        if let Some(v) = view {
            self.shown.push(v);
            self.last_shown = Some(name.clone());
        }
        self.cursor = name;
    }

    /// The rows shown and the next cursor (none after the last row).
    fn finish(self) -> (Vec<T>, Option<String>) {
        let next = if self.full() { self.last_shown } else { None };
        (self.shown, next)
    }
}

/// An org.
///
/// Needs `orgs:GetOrg` on `org/<name>` in the org.
#[utoipa::path(
    get,
    path = "/orgs/{org}",
    tag = "orgs",
    responses((status = 200, description = "The org", body = OrgView))
)]
async fn get_org(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(name): PathParams<String>,
) -> ApiResult<Json<OrgView>> {
    let org = org_named(&state, &name).await?;
    state.authorize(&caller, act::GET_ORG, &org_target(&org)).await?;
    Ok(Json(org_view(&org)))
}

/// Deletes an empty org.
///
/// Needs `orgs:DeleteOrg` on `org/<name>` in the org. An org that still
/// has projects answers 409 `not_empty`; the `default` org cannot be
/// deleted (409 `protected`). The delete is soft: the org vanishes from
/// every lookup at once, its name stays reserved and its audit log stays.
#[utoipa::path(
    delete,
    path = "/orgs/{org}",
    tag = "orgs",
    responses((status = 204, description = "Deleted"))
)]
async fn delete_org(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(name): PathParams<String>,
) -> ApiResult<StatusCode> {
    let org = org_named(&state, &name).await?;
    state
        .authorize(&caller, act::DELETE_ORG, &org_target(&org))
        .await?;
    state.tenancy.delete_org(&org).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Creates a project in an org.
///
/// Needs `orgs:CreateProject` on `project/<name>` in the org. Project names
/// are unique on the platform, not only in the org.
#[utoipa::path(
    post,
    path = "/orgs/{org}/projects",
    tag = "orgs",
    request_body = NewTenant,
    responses((status = 201, description = "The project, created", body = ProjectView))
)]
async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org_name): PathParams<String>,
    JsonBody(new): JsonBody<NewTenant>,
) -> ApiResult<(StatusCode, Json<ProjectView>)> {
    check_name("project", &new.name)?;
    let org = org_named(&state, &org_name).await?;
    let target = Target {
        mrn: Mrn::project("orgs", &org.name, &new.name, format!("project/{}", new.name)),
        org_id: org.id.clone(),
        project_id: None,
        tags: Default::default(),
    };
    state.authorize(&caller, act::CREATE_PROJECT, &target).await?;
    let project = state.tenancy.create_project(&org, &new.name).await?;
    Ok((StatusCode::CREATED, Json(project_view(&org, &project))))
}

/// Lists the org's projects the caller may see, by name.
///
/// A project is listed when the caller is allowed `orgs:GetProject` on it;
/// the others are skipped, so a page may be filled from several scans (see
/// [`VisiblePage`]). The cursor is the last name shown.
#[utoipa::path(
    get,
    path = "/orgs/{org}/projects",
    tag = "orgs",
    params(Page),
    responses((status = 200, description = "A page of projects, by name", body = ListPage<ProjectView>))
)]
async fn list_projects(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(org_name): PathParams<String>,
    QueryParams(p): QueryParams<Page>,
) -> ApiResult<Json<Visible<ProjectView>>> {
    let org = org_named(&state, &org_name).await?;
    let limit = p.limit()?;
    let mut page = VisiblePage::new(limit, p.cursor.unwrap_or_default());
    while let Some(cursor) = page.scan_from() {
        let rows = state.store.list_projects(&org, &cursor, limit).await?;
        page.scanned(rows.len());
        for p in rows {
            let visible = state
                .allowed(&caller, act::GET_PROJECT, &project_target(&p))
                .await?;
            page.offer(p.name.clone(), visible.then(|| project_view(&org, &p)));
        }
    }
    let (items, next) = page.finish();
    Ok(Json(Visible {
        items,
        next_cursor: next,
    }))
}

/// A project of an org.
///
/// Needs `orgs:GetProject` on `project/<name>` in the project. A project of
/// another org answers 404.
#[utoipa::path(
    get,
    path = "/orgs/{org}/projects/{project}",
    tag = "orgs",
    responses((status = 200, description = "The project", body = ProjectView))
)]
async fn get_project(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org_name, name)): PathParams<(String, String)>,
) -> ApiResult<Json<ProjectView>> {
    let org = org_named(&state, &org_name).await?;
    let project = project_in(&state, &org, &name).await?;
    state
        .authorize(&caller, act::GET_PROJECT, &project_target(&project))
        .await?;
    Ok(Json(project_view(&org, &project)))
}

/// Deletes an empty project.
///
/// Needs `orgs:DeleteProject` on `project/<name>` in the project. A
/// project that still has functions, routes or workflows answers 409
/// `not_empty`. Its custom domains are released at once. The delete is
/// soft: the project vanishes from every lookup, its name stays reserved.
#[utoipa::path(
    delete,
    path = "/orgs/{org}/projects/{project}",
    tag = "orgs",
    responses((status = 204, description = "Deleted"))
)]
async fn delete_project(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((org_name, name)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let org = org_named(&state, &org_name).await?;
    let project = project_in(&state, &org, &name).await?;
    state
        .authorize(&caller, act::DELETE_PROJECT, &project_target(&project))
        .await?;
    state.tenancy.delete_project(&project).await?;
    state.forget_project(&project.name);
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::VisiblePage;

    #[test]
    fn a_page_fills_with_visible_rows_and_its_cursor_names_one() {
        // Rows a..h; the caller sees b, e and f.
        let rows: Vec<String> = ('a'..='h').map(String::from).collect();
        let visible = |r: &str| ["b", "e", "f"].contains(&r);
        let mut page = VisiblePage::new(2, String::new());
        let mut scans = 0;
        while let Some(cursor) = page.scan_from() {
            scans += 1;
            let batch: Vec<&String> = rows.iter().filter(|r| **r > cursor).take(2).collect();
            page.scanned(batch.len());
            for r in batch {
                page.offer(r.clone(), visible(r).then(|| r.clone()));
            }
        }
        assert_eq!(
            page.finish(),
            (vec!["b".to_owned(), "e".to_owned()], Some("e".to_owned()))
        );
        assert_eq!(scans, 3);
        // The last page ends without a cursor, even when the scan stopped on
        // a hidden row.
        let mut page = VisiblePage::new(2, "e".to_owned());
        while let Some(cursor) = page.scan_from() {
            let batch: Vec<&String> = rows.iter().filter(|r| **r > cursor).take(2).collect();
            page.scanned(batch.len());
            for r in batch {
                page.offer(r.clone(), visible(r).then(|| r.clone()));
            }
        }
        assert_eq!(page.finish(), (vec!["f".to_owned()], None));
    }
}
