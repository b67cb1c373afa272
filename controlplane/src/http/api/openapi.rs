//! The API's description in OpenAPI 3.1, made from the handlers
//! themselves: every handler carries `#[utoipa::path]` (its method, path,
//! query, body and answers, with the types it reads and writes), and every
//! resource's router registers its handlers through [`super::described`]'s
//! `routes!`, which adds a route and what describes it at once. So a route
//! cannot be served without being described. What is the same for every
//! operation is added here, once ([`Common`]): the error shape as the
//! `default` answer, the bearer scheme (all but the public endpoints), and
//! a description of every path parameter a handler did not describe
//! itself.
//!
//! Served at `/api/v1/openapi.json`; `/api/docs` is Swagger UI on it, from
//! assets compiled into the binary.

use super::described::{ApiRouter, Description, routes};
use super::error::ApiError;
use crate::http::AppState;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use std::sync::{Arc, OnceLock};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Object, OpenApi, RefOr, Required, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi as _, ToSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Every error's body.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a description of ApiError's JSON, never built")]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a description of ApiError's JSON, never built")]
pub struct ErrorDetail {
    /// A stable code, such as `not_found` or `access_denied`.
    code: String,
    /// What to fix, for a person.
    message: String,
    /// The request's trace id (also in `x-request-id`).
    trace_id: String,
    /// The JSON path of the problem in the request, when one part of it
    /// is wrong.
    path: Option<String>,
    /// Every problem of a workflow definition.
    problems: Option<Vec<Problem>>,
}

/// One problem of a definition.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a description of ApiError's JSON, never built")]
pub struct Problem {
    /// Its JSON path.
    path: String,
    /// What is wrong.
    message: String,
}

/// A page of a list: `GET` of a collection answers one, newest or oldest
/// first as the endpoint says.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "a description of list_page's JSON, never built")]
pub struct ListPage<T: ToSchema> {
    /// The page's items.
    items: Vec<T>,
    /// Where the next page starts (pass it as `cursor`); `null` on the
    /// last page.
    #[schema(value_type = Option<serde_json::Value>)]
    next_cursor: Option<serde_json::Value>,
}

/// The parts of the description that are not any handler's.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "MiniCloud API",
        description = "Functions, triggers, events, workflows, storage, secrets and IAM of a MiniCloud \
                       platform. Every call but the login endpoints and health checks needs \
                       `Authorization: Bearer <API key or access token>`; every error answers \
                       `{\"error\": {\"code\", \"message\", \"trace_id\"}}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(ErrorBody, ErrorDetail, Problem, crate::store::functions::HttpAuth)),
    modifiers(&Common)
)]
struct Base;

/// Paths that need no credentials.
const PUBLIC: [&str; 6] = [
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
    "/healthz",
    "/readyz",
    "/api/v1/openapi.json",
];

/// The document: the base, then the handlers' paths (`paths`, described by
/// the routers), then what every operation shares.
pub fn document(paths: OpenApi) -> OpenApi {
    let mut doc = Base::openapi();
    doc.merge(paths);
    // axum's `{*key}` (the rest of the path) is OpenAPI's `{key}`.
    let wildcards: Vec<String> = doc
        .paths
        .paths
        .keys()
        .filter(|p| p.contains("{*"))
        .cloned()
        .collect();
    for path in wildcards {
        if let Some(item) = doc.paths.paths.remove(&path) {
            doc.paths.paths.insert(path.replace("{*", "{"), item);
        }
    }
    Common.modify(&mut doc);
    doc
}

/// What every operation shares.
struct Common;

impl Modify for Common {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key, or the access token of `POST /api/v1/auth/login`.",
                    ))
                    .build(),
            ),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            let names = template_names(path);
            let public = PUBLIC.contains(&path.as_str());
            for op in operations(item) {
                // Handlers of different resources share names (`list`,
                // `create`): the resource's tag makes the id unique.
                if let (Some(tag), Some(id)) = (op.tags.as_ref().and_then(|t| t.first()), &op.operation_id)
                    && !id.contains('.')
                {
                    op.operation_id = Some(format!("{tag}.{id}"));
                }
                let declared: Vec<String> = op
                    .parameters
                    .iter()
                    .flatten()
                    .filter_map(|p| match p {
                        RefOr::T(p) if p.parameter_in == ParameterIn::Path => Some(p.name.clone()),
                        _ => None,
                    })
                    .collect();
                for name in names.iter().filter(|n| !declared.contains(n)) {
                    op.parameters
                        .get_or_insert_with(Vec::new)
                        .push(RefOr::T(path_parameter(name)));
                }
                op.responses.responses.entry("default".into()).or_insert_with(|| {
                    RefOr::T(
                        ResponseBuilder::new()
                            .description("An error: its status, and the error's code and message")
                            .content(
                                "application/json",
                                ContentBuilder::new()
                                    .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                                        "ErrorBody",
                                    ))))
                                    .build(),
                            )
                            .build(),
                    )
                });
                if op.security.is_none() {
                    op.security = Some(if public {
                        vec![SecurityRequirement::default()]
                    } else {
                        vec![SecurityRequirement::new("bearer", Vec::<String>::new())]
                    });
                }
            }
        }
    }
}

/// The operations of a path.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The `{name}`s of a path template.
fn template_names(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|s| s.trim_start_matches('*').to_owned())
        .collect()
}

/// A path parameter described by its name alone.
fn path_parameter(name: &str) -> Parameter {
    let description = match name {
        "org" => "The org's name",
        "project" => "The project's name",
        "name" => "The resource's name",
        "key" => "The object's key (may hold `/`)",
        _ => "The resource's name or id",
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(Object::with_type(Type::String)))
        .build()
}

/// The description, given what describes the routers' paths once they
/// are built (it describes itself too), and made into a document and JSON
/// on its first request, not on every start (measured at start: about
/// 3 ms for the document and its JSON, 4-5 ms for the operations).
#[derive(Clone, Default)]
pub struct Described(Arc<DescribedOnce>);

#[derive(Default)]
struct DescribedOnce {
    paths: OnceLock<Description>,
    json: OnceLock<Bytes>,
}

impl std::fmt::Debug for Described {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Described")
            .field("json_bytes", &self.0.json.get().map(Bytes::len))
            .finish_non_exhaustive()
    }
}

impl Described {
    /// Sets what describes the routers' paths, once.
    pub fn set(&self, paths: Description) {
        let _ = self.0.paths.set(paths);
    }

    /// The document as JSON; `None` until the paths are set.
    fn json(&self) -> Option<Bytes> {
        let paths = self.0.paths.get()?;
        let json = self
            .0
            .json
            .get_or_init(|| Bytes::from(serde_json::to_vec(&document(paths.openapi())).unwrap_or_default()));
        Some(json.clone())
    }
}

/// `/api/v1/openapi.json`.
pub fn router(described: &Described) -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(openapi_json))
        .route_layer(Extension(described.clone()))
}

/// This description of the API, in OpenAPI 3.1.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "system",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
async fn openapi_json(Extension(described): Extension<Described>) -> Response {
    match described.json() {
        Some(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        None => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "starting",
            "the server is starting",
        )
        .into_response(),
    }
}

/// `/api/docs`: Swagger UI, its assets compiled into the binary, on
/// `/api/v1/openapi.json`.
pub fn docs() -> Router<AppState> {
    Router::from(SwaggerUi::new("/api/docs").config(Config::new(["/api/v1/openapi.json"]))).layer(
        axum::middleware::map_response(|mut resp: Response| async move {
            // Never framed (clickjacking of the "Authorize" dialog), never
            // sniffed.
            let h = resp.headers_mut();
            h.insert(
                header::X_FRAME_OPTIONS,
                axum::http::HeaderValue::from_static("DENY"),
            );
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                axum::http::HeaderValue::from_static("frame-ancestors 'none'"),
            );
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                axum::http::HeaderValue::from_static("nosniff"),
            );
            resp
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The API's routers add routes only through `routes!` (a route with
    /// what describes it): no plain `.route(` and no plain `Router` in
    /// `http/api` (but in `described`, which is that `routes!`), so no
    /// route is served undescribed.
    #[test]
    fn every_route_of_the_api_is_described() {
        let api = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/api");
        let mut files = vec![api.clone()];
        let mut offences = Vec::new();
        // Spelt in two halves, so that this test's own lines are no match.
        let (route, route_service, plain) = (
            concat!(".rou", "te("),
            concat!(".rou", "te_service("),
            concat!("Rou", "ter::new()"),
        );
        while let Some(path) = files.pop() {
            if path.ends_with("described.rs") {
                continue;
            }
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).expect("a folder") {
                    files.push(entry.expect("an entry").path());
                }
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                let plain_router = code
                    .match_indices(plain)
                    .any(|(i, _)| !code[..i].ends_with("Api"));
                if code.contains(route) || code.contains(route_service) || plain_router {
                    offences.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
        assert!(
            offences.is_empty(),
            "routes added without a description (use described::routes! and #[utoipa::path]):\n{}",
            offences.join("\n")
        );
    }

    #[test]
    fn names_of_a_template() {
        assert_eq!(
            template_names("/projects/{project}/buckets/{bucket}/objects/{*key}"),
            ["project", "bucket", "key"]
        );
        assert!(template_names("/healthz").is_empty());
    }
}
