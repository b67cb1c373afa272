//! Custom HTTP routes: `POST/GET .../routes`, `DELETE .../routes/{id}`.
//! A change takes effect at once: the gateway's table is rebuilt and swapped.
//! A project's routes answer on its own host, `<project>.<base domain>`
//! (see [`crate::services::routes::table`]), so they conflict only with each other.

use super::error::{ApiError, ApiResult, JsonBody};
use super::{PathParams, authorized, check_name};
use crate::http::AppState;
use crate::http::api::described::ApiRouter;
use crate::http::api::described::routes;
use crate::iam::Caller;
use crate::iam::actions::functions;
use crate::store::functions::HttpAuth;
use crate::store::routes::RouteRow;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Routes of this resource.
pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
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

/// A new route.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewRoute {
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`, `OPTIONS` or `ANY`
    /// (every method); any case.
    method: String,
    /// The path pattern, starting with `/`, at most 1024 bytes: literal
    /// segments, `{name}` for one segment, `{*name}` for the rest. Paths
    /// under `/api/`, `/fn/`, `/metrics`, `/healthz` and `/readyz` are the
    /// platform's.
    path: String,
    /// The function it calls, in the same project.
    function: String,
    /// `public` or `authenticated`; none: as the function's `http_auth`
    /// says.
    auth: Option<HttpAuth>,
}

/// A route as the API shows it: the stored route and the host it answers
/// on.
#[derive(Debug, Serialize, ToSchema)]
struct RouteView {
    #[serde(flatten)]
    route: RouteRow,
    /// `<project>.<base domain>`: the host the route answers on (and on
    /// the project's verified custom domains).
    host: String,
}

/// The routes of a project.
#[derive(Debug, Serialize, ToSchema)]
struct RouteList {
    /// Every route, oldest first.
    items: Vec<RouteView>,
}

/// Adds a custom route to one of the project's functions.
///
/// A method and a path pattern; the route serves at once, on
/// `<project>.<base domain>` and on the project's verified custom domains.
/// Needs `functions:CreateRoute` on `route/*`; a `public` route to a
/// function whose `http_auth` is `authenticated` also needs
/// `functions:UpdateFunction` on the function. A pattern that is invalid
/// or conflicts with another route of the project is refused (409).
/// Audited.
#[utoipa::path(
    post,
    path = "/projects/{project}/routes",
    tag = "routes",
    request_body = NewRoute,
    responses((status = 201, description = "The route, serving", body = RouteView))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
    JsonBody(new): JsonBody<NewRoute>,
) -> ApiResult<(StatusCode, Json<RouteView>)> {
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
fn view(state: &AppState, row: RouteRow) -> RouteView {
    let host = format!("{}.{}", row.project, state.config.base_domain.trim_matches('.'));
    RouteView { route: row, host }
}

/// The project's custom routes, oldest first.
///
/// Needs `functions:ListRoutes` on `route/*`. Not paged: every route
/// comes at once.
#[utoipa::path(
    get,
    path = "/projects/{project}/routes",
    tag = "routes",
    responses((status = 200, description = "Every route of the project", body = RouteList))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(project_name): PathParams<String>,
) -> ApiResult<Json<RouteList>> {
    let project = authorized(&state, &caller, &project_name, functions::LIST_ROUTES, "route/*").await?;
    let rows = state.store.in_project(&project).routes().await?;
    let items = rows.into_iter().map(|r| view(&state, r)).collect();
    Ok(Json(RouteList { items }))
}

/// Deletes a custom route; it stops answering at once.
///
/// Needs `functions:DeleteRoute` on `route/<id>`; audited.
#[utoipa::path(
    delete,
    path = "/projects/{project}/routes/{id}",
    tag = "routes",
    params(("id" = String, Path, description = "The route's id")),
    responses((status = 204, description = "Deleted"))
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
