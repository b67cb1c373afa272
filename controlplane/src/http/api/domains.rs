//! Custom domains of a project: `POST/GET .../domains`,
//! `GET/DELETE .../domains/{name}`, `POST .../domains/{name}/verify`.
//!
//! A claim answers with the DNS TXT record that proves it; once verified
//! (see [`crate::http::gateway::domains`]) the project's routes answer on the
//! domain as on `<project>.<base domain>`. Names are lower-cased on every
//! path, as DNS compares them. The actions are `orgs:*` on
//! `domain/<name>`: the project's admin's business, not a developer's.

use super::error::{ApiError, ApiResult, JsonBody};
use super::{PathParams, authorized};
use crate::http::AppState;
use crate::http::gateway::domains::{self, Check};
use crate::iam::Caller;
use crate::iam::actions::orgs;
use crate::store::domains::{DomainRow, Verified};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{project}/domains", get(list).post(create))
        .route("/projects/{project}/domains/{name}", get(read).delete(remove))
        .route("/projects/{project}/domains/{name}/verify", post(verify))
}

/// Claims one project may hold at once (so one list is every claim).
const MAX_DOMAINS_PER_PROJECT: i64 = 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDomain {
    name: String,
}

/// A claim as the API shows it: its state and the record that proves it.
fn view(row: &DomainRow) -> Value {
    json!({
        "name": row.name,
        "project": row.project,
        "status": if row.verified_ms.is_some() { "verified" } else { "pending" },
        "verified_ms": row.verified_ms,
        "created_ms": row.created_ms,
        "verification": {
            "type": "TXT",
            "record": domains::record_name(&row.name),
            "value": domains::record_value(&row.token),
        },
    })
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("the project has no claim on domain {name:?}"))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    JsonBody(new): JsonBody<NewDomain>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let name = new.name.to_ascii_lowercase();
    let resource = format!("domain/{name}");
    let project = authorized(&state, &caller, &project_name, orgs::CREATE_DOMAIN, &resource).await?;
    domains::check_name(&name, &state.config.base_domain)
        .map_err(|e| ApiError::bad_request("invalid_domain", e))?;
    let token = hex::encode(rand::random::<[u8; 16]>());
    let scope = state.store.in_project(&project);
    let Some(row) = scope
        .insert_domain(&name, &token, MAX_DOMAINS_PER_PROJECT)
        .await?
    else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "domain_conflict",
            format!(
                "the project has claimed {name:?} already, or holds {MAX_DOMAINS_PER_PROJECT} claims \
                 (the most it may); delete one first"
            ),
        ));
    };
    Ok((StatusCode::CREATED, Json(view(&row))))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let project = authorized(&state, &caller, &project_name, orgs::LIST_DOMAINS, "domain/*").await?;
    let rows = state.store.in_project(&project).domains().await?;
    let items: Vec<Value> = rows.iter().map(view).collect();
    Ok(Json(json!({ "items": items })))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    let name = name.to_ascii_lowercase();
    let resource = format!("domain/{name}");
    let project = authorized(&state, &caller, &project_name, orgs::GET_DOMAIN, &resource).await?;
    let row = state.store.in_project(&project).domain(&name).await?;
    Ok(Json(view(&row.ok_or_else(|| not_found(&name))?)))
}

/// Looks the record up now; on success the domain routes to the project
/// at once.
async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    let name = name.to_ascii_lowercase();
    let resource = format!("domain/{name}");
    let project = authorized(&state, &caller, &project_name, orgs::VERIFY_DOMAIN, &resource).await?;
    let scope = state.store.in_project(&project);
    let row = scope.domain(&name).await?.ok_or_else(|| not_found(&name))?;
    if row.verified_ms.is_none() {
        let expect = || {
            format!(
                "publish a TXT record {} with the text {:?}, then verify again",
                domains::record_name(&row.name),
                domains::record_value(&row.token)
            )
        };
        let refusal = match state.domains.check(&row.name, &row.token).await {
            Check::Proven => None,
            Check::NotFound(seen) if seen.is_empty() => {
                Some(format!("no TXT record was found: {}", expect()))
            }
            Check::NotFound(seen) => Some(format!(
                "the TXT records found ({}) do not hold this claim's token: {}",
                seen.join(", "),
                expect()
            )),
            Check::Failed(e) => Some(format!("the DNS lookup failed ({e}): {}", expect())),
        };
        if let Some(message) = refusal {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "domain_not_verified",
                message,
            ));
        }
        match scope.verify_domain(&row.name).await? {
            Verified::Done => {}
            Verified::Taken => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "domain_taken",
                    format!(
                        "{:?} is verified by another project; it must delete its claim before this one can hold it",
                        row.name
                    ),
                ));
            }
            Verified::Missing => return Err(not_found(&name)),
        }
        super::routes::reload(&state).await?;
    }
    let row = scope.domain(&name).await?.ok_or_else(|| not_found(&name))?;
    Ok(Json(view(&row)))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, name)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let name = name.to_ascii_lowercase();
    let resource = format!("domain/{name}");
    let project = authorized(&state, &caller, &project_name, orgs::DELETE_DOMAIN, &resource).await?;
    if !state.store.in_project(&project).delete_domain(&name).await? {
        return Err(not_found(&name));
    }
    super::routes::reload(&state).await?;
    Ok(StatusCode::NO_CONTENT)
}
