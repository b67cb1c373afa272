//! Custom domains of a project: `POST/GET .../domains`,
//! `GET/DELETE .../domains/{name}`, `POST .../domains/{name}/verify`.
//!
//! A claim answers with the DNS TXT record that proves it; once verified
//! (see [`crate::services::routes::dns`]) the project's routes answer on the
//! domain as on `<project>.<base domain>`. Names are lower-cased on every
//! path, as DNS compares them. The actions are `orgs:*` on
//! `domain/<name>`: the project's admin's business, not a developer's.

use super::error::{ApiResult, JsonBody};
use super::{PathParams, authorized};
use crate::http::AppState;
use crate::http::api::described::ApiRouter;
use crate::http::api::described::routes;
use crate::iam::Caller;
use crate::iam::actions::orgs;
use crate::services::routes::dns;
use crate::store::domains::DomainRow;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Routes of this resource.
pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, remove))
        .routes(routes!(verify))
}

/// A domain to claim.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewDomain {
    /// The host name (lower-cased): two or more dot-separated labels of
    /// letters, digits and `-`, at most 253 characters; not under the
    /// platform's base domain, not `localhost`, not an address.
    name: String,
}

/// A claim as the API shows it: its state and the record that proves it.
#[derive(Debug, Serialize, ToSchema)]
struct DomainView {
    /// The host name, lower case.
    name: String,
    /// The project's name.
    project: String,
    /// `pending` until the record is found, then `verified`.
    status: DomainStatus,
    /// When the claim was verified, epoch ms; `null` while pending.
    verified_ms: Option<i64>,
    /// When the claim was made, epoch ms.
    created_ms: i64,
    /// The DNS record that proves the claim.
    verification: DomainVerification,
}

/// Where a claim stands.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum DomainStatus {
    /// Claimed; the record was not found yet.
    Pending,
    /// Proven: the project's routes answer on the domain.
    Verified,
}

/// The DNS record to publish.
#[derive(Debug, Serialize, ToSchema)]
struct DomainVerification {
    /// Always `TXT`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// The record's name: `_minicloud-challenge.<domain>`.
    record: String,
    /// The record's text: `minicloud-verification=<token>`.
    value: String,
}

/// The project's domains.
#[derive(Debug, Serialize, ToSchema)]
struct DomainList {
    /// Every claim of the project.
    items: Vec<DomainView>,
}

/// A claim as the API shows it: its state and the record that proves it.
fn view(row: &DomainRow) -> DomainView {
    DomainView {
        name: row.name.clone(),
        project: row.project.clone(),
        status: if row.verified_ms.is_some() {
            DomainStatus::Verified
        } else {
            DomainStatus::Pending
        },
        verified_ms: row.verified_ms,
        created_ms: row.created_ms,
        verification: DomainVerification {
            kind: "TXT",
            record: dns::record_name(&row.name),
            value: dns::record_value(&row.token),
        },
    }
}

/// The project and the domain name (lower-cased, as DNS compares names),
/// once the caller may do `action` on `domain/<name>` in it.
async fn authorized_domain(
    state: &AppState,
    caller: &Caller,
    project_name: &str,
    action: &str,
    name: &str,
) -> ApiResult<(crate::store::projects::Project, String)> {
    let name = name.to_ascii_lowercase();
    let project = authorized(state, caller, project_name, action, &format!("domain/{name}")).await?;
    Ok((project, name))
}

/// Claims a custom domain for the project.
///
/// The answer holds the DNS TXT record to publish; once it is published,
/// `POST .../domains/{name}/verify` proves the claim, and the project's
/// routes then answer on the domain. A project holds at most 20 claims.
/// Several projects may claim a name; only one holds it verified. Needs
/// `orgs:CreateDomain` on `domain/<name>`; audited.
#[utoipa::path(
    post,
    path = "/projects/{project}/domains",
    tag = "domains",
    request_body = NewDomain,
    responses((status = 201, description = "The claim, pending", body = DomainView))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    JsonBody(new): JsonBody<NewDomain>,
) -> ApiResult<(StatusCode, Json<DomainView>)> {
    let (project, name) =
        authorized_domain(&state, &caller, &project_name, orgs::CREATE_DOMAIN, &new.name).await?;
    let row = state.routes.claim_domain(&project, &name).await?;
    Ok((StatusCode::CREATED, Json(view(&row))))
}

/// The project's domain claims, pending and verified.
///
/// Needs `orgs:ListDomains` on `domain/*`. Not paged (at most 20).
#[utoipa::path(
    get,
    path = "/projects/{project}/domains",
    tag = "domains",
    responses((status = 200, description = "Every claim of the project", body = DomainList))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
) -> ApiResult<Json<DomainList>> {
    let project = authorized(&state, &caller, &project_name, orgs::LIST_DOMAINS, "domain/*").await?;
    let rows = state.store.in_project(&project).domains().await?;
    let items = rows.iter().map(view).collect();
    Ok(Json(DomainList { items }))
}

/// A domain claim: its state and the record that proves it.
///
/// Needs `orgs:GetDomain` on `domain/<name>`.
#[utoipa::path(
    get,
    path = "/projects/{project}/domains/{name}",
    tag = "domains",
    params(("name" = String, Path, description = "The domain (any case)")),
    responses((status = 200, description = "The claim", body = DomainView))
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<Json<DomainView>> {
    let (project, name) = authorized_domain(&state, &caller, &project_name, orgs::GET_DOMAIN, &name).await?;
    Ok(Json(view(&state.routes.domain(&project, &name).await?)))
}

/// Verifies a domain claim: looks its TXT record up now.
///
/// On success the project's routes answer on the domain at once. A claim
/// already verified answers as it is. The record not found (or not
/// holding the claim's token) is 409 `domain_not_verified`; the domain
/// verified by another project is 409 `domain_taken`. Needs
/// `orgs:VerifyDomain` on `domain/<name>`; audited.
#[utoipa::path(
    post,
    path = "/projects/{project}/domains/{name}/verify",
    tag = "domains",
    params(("name" = String, Path, description = "The domain (any case)")),
    responses((status = 200, description = "The claim, verified", body = DomainView))
)]
async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<Json<DomainView>> {
    let (project, name) =
        authorized_domain(&state, &caller, &project_name, orgs::VERIFY_DOMAIN, &name).await?;
    let row = state.routes.verify_domain(&project, &name).await?;
    Ok(Json(view(&row)))
}

/// Drops a domain claim; a verified domain is released at once.
///
/// Needs `orgs:DeleteDomain` on `domain/<name>`; audited.
#[utoipa::path(
    delete,
    path = "/projects/{project}/domains/{name}",
    tag = "domains",
    params(("name" = String, Path, description = "The domain (any case)")),
    responses((status = 204, description = "Dropped"))
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let (project, name) =
        authorized_domain(&state, &caller, &project_name, orgs::DELETE_DOMAIN, &name).await?;
    state.routes.delete_domain(&project, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
