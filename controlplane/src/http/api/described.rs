//! The API's routers, each route registered with its description.
//!
//! [`routes!`] takes the handlers of one path (each carries
//! `#[utoipa::path]`) and gives a [`Routes`]: the path and methods, read
//! from the handlers' descriptions, routed at once, and a function that
//! describes them (operations, parameters, schemas) when asked.
//! [`ApiRouter`] routes like an `axum::Router` and keeps those functions,
//! each with the path it ends up at. So a route cannot be served without
//! being described, as with `utoipa_axum`'s `OpenApiRouter`, but the
//! descriptions are built only when the document is first requested,
//! not on every start (`utoipa_axum` builds every operation as it is
//! routed: describing lazily took 4-5 ms off a cold start's CPU,
//! BENCHMARKS 2026-12-05).

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, Route};
use std::convert::Infallible;
use tower::{Layer, Service};
use utoipa::openapi::path::Paths;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{Components, OpenApi, OpenApiBuilder, RefOr};

/// What describes the handlers of one path: their schemas and the path's
/// operations (keyed by the path as the handlers give it).
pub type Describe = fn() -> (Vec<(String, RefOr<Schema>)>, Paths);

/// `routes!(handler, ...)`: the handlers of one path, each with
/// `#[utoipa::path]`, routed by the methods they declare and described on
/// demand.
macro_rules! routes {
    ($($($seg:ident)::+),+ $(,)?) => {{
        use utoipa_axum::PathItemExt as _;
        let mut method_router = axum::routing::MethodRouter::new();
        let mut paths = Vec::<String>::new();
        $(
            paths.push(utoipa_axum::routes!(@path [path()] of $($seg)::+));
            for method in utoipa_axum::routes!(@path [methods()] of $($seg)::+) {
                method_router = method_router.on(method.to_method_filter(), $($seg)::+);
            }
        )+
        $crate::http::api::described::Routes::new(paths, method_router, || {
            let mut schemas = Vec::new();
            let mut paths = utoipa::openapi::path::Paths::new();
            $(
                let (path, item, types) = utoipa_axum::routes!(@resolve_types $($seg)::+ : schemas);
                paths.add_path_operation(&path, types, item);
            )+
            (schemas, paths)
        })
    }};
}
pub(crate) use routes;

/// The handlers of one path: routed, and described when asked.
pub struct Routes<S> {
    path: String,
    method_router: MethodRouter<S>,
    describe: Describe,
}

impl<S> Routes<S> {
    /// The handlers' paths (one and the same), their methods, and what
    /// describes them. Made by [`routes!`].
    ///
    /// # Panics
    ///
    /// When the handlers declare different paths: a mistake in the code
    /// that every start (and so every test) would meet.
    pub fn new(paths: Vec<String>, method_router: MethodRouter<S>, describe: Describe) -> Self {
        let path = paths.first().cloned().unwrap_or_default();
        assert!(
            paths.iter().all(|p| *p == path),
            "routes! takes the handlers of one path; these declare {paths:?}"
        );
        Self {
            path,
            method_router,
            describe,
        }
    }
}

/// A router of the API: an `axum::Router` and, for each of its paths, what
/// describes it.
pub struct ApiRouter<S> {
    router: Router<S>,
    described: Vec<(String, Describe)>,
}

impl<S: Clone + Send + Sync + 'static> Default for ApiRouter<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Clone + Send + Sync + 'static> ApiRouter<S> {
    /// No routes.
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            described: Vec::new(),
        }
    }

    /// Adds the handlers of one path.
    pub fn routes(mut self, routes: Routes<S>) -> Self {
        let at = if routes.path.is_empty() { "/" } else { &routes.path };
        self.router = self.router.route(at, routes.method_router);
        self.described.push((routes.path, routes.describe));
        self
    }

    /// Adds another router's routes (`axum::Router::merge`).
    pub fn merge(mut self, other: ApiRouter<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.described.extend(other.described);
        self
    }

    /// Adds another router's routes under `prefix` (`axum::Router::nest`).
    pub fn nest(mut self, prefix: &str, other: ApiRouter<S>) -> Self {
        self.router = self.router.nest(prefix, other.router);
        let prefix = nested(prefix, "/");
        self.described.extend(
            other
                .described
                .into_iter()
                .map(|(path, describe)| (nested(&prefix, &path), describe)),
        );
        self
    }

    /// `axum::Router::route_layer`.
    pub fn route_layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        self.router = self.router.route_layer(layer);
        self
    }

    /// The router, and what describes its paths.
    pub fn split(self) -> (Router<S>, Description) {
        (self.router, Description(self.described))
    }
}

/// A path under a prefix, as `axum::Router::nest` routes it.
fn nested(prefix: &str, path: &str) -> String {
    let path = if path.is_empty() { "/" } else { path };
    if prefix.ends_with('/') {
        format!("{prefix}{}", path.trim_start_matches('/'))
    } else if path == "/" {
        prefix.to_owned()
    } else {
        format!("{prefix}{path}")
    }
}

/// What describes every path of a router.
pub struct Description(Vec<(String, Describe)>);

impl Description {
    /// The paths' operations and the schemas they name.
    pub fn openapi(&self) -> OpenApi {
        let mut paths = Paths::new();
        let mut components = Components::new();
        for (at, describe) in &self.0 {
            let (schemas, described) = describe();
            for (_, item) in described.paths {
                match paths.paths.get_mut(at) {
                    Some(existing) => existing.merge_operations(item),
                    None => {
                        paths.paths.insert(at.clone(), item);
                    }
                }
            }
            components.schemas.extend(schemas);
        }
        OpenApiBuilder::new()
            .paths(paths)
            .components(Some(components))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::nested;

    #[test]
    fn nested_paths_are_the_ones_axum_routes() {
        assert_eq!(nested("/api/v1", "/orgs"), "/api/v1/orgs");
        assert_eq!(nested("/api/v1", "/"), "/api/v1");
        assert_eq!(nested("/api/v1", ""), "/api/v1");
        assert_eq!(nested("/api/", "/orgs"), "/api/orgs");
    }
}
