//! Custom HTTP routes: `POST/GET .../routes`, `DELETE .../routes/{id}`.
//! A change takes effect at once: the gateway's table is rebuilt and swapped.
//! A project's routes answer on its own host, `<project>.<base domain>`
//! (see [`crate::services::routes::table`]), so they conflict only with each other.

use super::error::{ApiError, ApiResult, JsonBody};
use super::{PathParams, authorized, check_name};
use crate::http::AppState;
use crate::iam::Caller;
use crate::iam::actions::functions;
use crate::store::functions::HttpAuth;
use crate::store::routes::RouteRow;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(remove))
}

impl From<crate::services::routes::RoutesError> for ApiError {
    fn from(e: crate::services::routes::RoutesError) -> Self {
        use crate::services::routes::RoutesError as R;
        let conflict = |code| Self::new(axum::http::StatusCode::CONFLICT, code, e.to_string());
        match &e {
            R::RouteConflict(_) => conflict("route_conflict"),
            R::DomainConflict(_) => conflict("domain_conflict"),
            R::NotVerified(_) => conflict("domain_not_verified"),
            R::DomainTaken(_) => conflict("domain_taken"),
            R::InvalidDomain(_) => Self::bad_request("invalid_domain", e.to_string()),
            R::NoRoute(_) | R::NoDomain(_) => Self::not_found(e.to_string()),
            R::Table(_) | R::Store(_) => Self::internal(&e),
        }
    }
}

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "ANY"];
const RESERVED: &[&str] = &["/api/", "/fn/", "/metrics", "/healthz", "/readyz"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRoute {
    method: String,
    path: String,
    function: String,
    /// `public` or `authenticated`; none: as the function says.
    auth: Option<HttpAuth>,
}

#[utoipa::path(
    post,
    path = "/projects/{project}/routes",
    tag = "routes",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 201, description = "Done", body = Object))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    JsonBody(new): JsonBody<NewRoute>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let project = authorized(&state, &caller, &project_name, functions::CREATE_ROUTE, "route/*").await?;
    let method = new.method.to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(ApiError::bad_request(
            "invalid_route",
            format!("method must be one of {}", METHODS.join(", ")),
        ));
    }
    if !new.path.starts_with('/') || new.path.len() > 1024 {
        return Err(ApiError::bad_request(
            "invalid_route",
            "path must start with '/' and be at most 1024 bytes",
        ));
    }
    if RESERVED
        .iter()
        .any(|r| new.path.starts_with(r) || r.trim_end_matches('/') == new.path)
    {
        return Err(ApiError::bad_request(
            "invalid_route",
            format!("paths under {} belong to the platform", RESERVED.join(", ")),
        ));
    }
    check_name("function", &new.function)?;
    let Some(function) = state.store.in_project(&project).function(&new.function).await? else {
        return Err(ApiError::not_found(format!(
            "function {:?} does not exist",
            new.function
        )));
    };
    // A public route to a function that wants its callers authenticated
    // makes it public: only someone who could change the function's own
    // `http_auth` may do that.
    if new.auth == Some(HttpAuth::Public) && function.settings.http_auth == HttpAuth::Authenticated {
        let target =
            crate::iam::Target::in_project("functions", &project, &format!("function/{}", new.function))
                .with_tags(function.settings.tags.clone());
        state
            .authorize(&caller, functions::UPDATE_FUNCTION, &target)
            .await?;
    }
    // The project's table is compiled with the new route first: an
    // invalid or conflicting pattern is refused before anything is stored.
    let candidate = RouteRow {
        id: String::new(),
        project_id: project.id.clone(),
        project: project.name.clone(),
        method,
        path: new.path.clone(),
        function: new.function.clone(),
        auth: new.auth,
        created_ms: 0,
    };
    let row = state.routes.add_route(&project, candidate).await?;
    Ok((StatusCode::CREATED, Json(view(&state, row))))
}

/// A route as the API shows it: the stored row and the host it answers on.
fn view(state: &AppState, row: RouteRow) -> serde_json::Value {
    let host = format!("{}.{}", row.project, state.config.base_domain.trim_matches('.'));
    let mut value = json!(row);
    value["host"] = host.into();
    value
}

#[utoipa::path(
    get,
    path = "/projects/{project}/routes",
    tag = "routes",
    responses((status = 200, description = "Done", body = Object))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let project = authorized(&state, &caller, &project_name, functions::LIST_ROUTES, "route/*").await?;
    let rows = state.store.in_project(&project).routes().await?;
    let items: Vec<_> = rows.into_iter().map(|r| view(&state, r)).collect();
    Ok(Json(json!({ "items": items })))
}

#[utoipa::path(
    delete,
    path = "/projects/{project}/routes/{id}",
    tag = "routes",
    responses((status = 204, description = "Done"))
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((project_name, id)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    let project = authorized(
        &state,
        &caller,
        &project_name,
        functions::DELETE_ROUTE,
        &format!("route/{id}"),
    )
    .await?;
    state.routes.delete_route(&project, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
