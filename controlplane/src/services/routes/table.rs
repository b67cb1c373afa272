//! Custom routes, partitioned by project: each project's routes answer only
//! on its own host names, `<project>.<base domain>` and the custom domains
//! it verified, so no tenant's route can shadow, overlap or capture
//! another's, whatever paths they choose.

use crate::store::domains::DomainRow;
use crate::store::functions::HttpAuth;
use crate::store::routes::RouteRow;
use std::collections::HashMap;

/// Where a custom route leads (always a function of the route's project).
#[derive(Debug, Clone)]
pub struct RouteTarget {
    pub(crate) function: String,
    pub(crate) auth: Option<HttpAuth>,
}

/// One project's routes by method (`ANY` matches every method).
#[derive(Debug, Default)]
struct ProjectRoutes {
    by_method: HashMap<String, matchit::Router<RouteTarget>>,
}

/// Every project's routes, compiled into matchers, and the verified custom
/// domains that lead to projects. Rebuilt whole and swapped on every change.
#[derive(Debug, Default)]
pub struct RouteTable {
    by_project: HashMap<String, ProjectRoutes>,
    /// Verified domain (lower case) to the project that holds it.
    by_domain: HashMap<String, String>,
}

/// A route matched: the function and the path parameters.
pub(crate) type Found = (RouteTarget, Vec<(String, String)>);

impl RouteTable {
    /// Compiles routes; fails on a pattern that is invalid or conflicts with
    /// another route of the same project.
    pub fn build(rows: &[RouteRow], domains: &[DomainRow]) -> Result<Self, String> {
        let mut table = Self {
            by_project: HashMap::new(),
            by_domain: domains
                .iter()
                .map(|d| (d.name.clone(), d.project.clone()))
                .collect(),
        };
        for r in rows {
            table
                .by_project
                .entry(r.project.clone())
                .or_default()
                .by_method
                .entry(r.method.clone())
                .or_default()
                .insert(
                    r.path.clone(),
                    RouteTarget {
                        function: r.function.clone(),
                        auth: r.auth,
                    },
                )
                .map_err(|e| format!("{} {}: {e}", r.method, r.path))?;
        }
        Ok(table)
    }

    /// The project a request's `Host` names: `<project>.<base domain>` or
    /// a custom domain the project verified.
    pub(crate) fn project_of(&self, host: &str, base_domain: &str) -> Option<String> {
        if let Some(project) = project_of_host(host, base_domain) {
            return Some(project.to_ascii_lowercase());
        }
        let name = strip_port(host).trim_end_matches('.').to_ascii_lowercase();
        self.by_domain.get(&name).cloned()
    }

    /// The route of `project` for `method` and `path`, if any.
    pub(crate) fn find(&self, project: &str, method: &str, path: &str) -> Option<Found> {
        let routes = self.by_project.get(project)?;
        [method, "ANY"].iter().find_map(|m| {
            let matched = routes.by_method.get(*m)?.at(path).ok()?;
            let params = matched
                .params
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            Some((matched.value.clone(), params))
        })
    }
}

/// The project whose host `host` (a `Host` header, with or without port)
/// is: `shop.example.com` is project `shop` under base domain
/// `example.com`. One label only: `a.b.example.com` is no project's.
pub fn project_of_host<'h>(host: &'h str, base_domain: &str) -> Option<&'h str> {
    let name = strip_port(host).trim_end_matches('.');
    let base = base_domain.trim_matches('.');
    if base.is_empty() || name.len() <= base.len() + 1 {
        return None;
    }
    // A host is ASCII (IDNs arrive as punycode); anything else is nobody's,
    // and byte offsets below stay on character boundaries.
    if !name.is_ascii() {
        return None;
    }
    let (label, rest) = name.split_at(name.len() - base.len() - 1);
    let suffix_ok = rest.as_bytes()[0] == b'.' && rest[1..].eq_ignore_ascii_case(base);
    (suffix_ok && !label.contains('.') && !label.is_empty()).then_some(label)
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // An IPv6 literal is never a project's host.
        return "";
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_name_one_project_under_the_base_domain() {
        let cases = [
            ("shop.localhost:8080", "localhost", Some("shop")),
            ("shop.localhost", "localhost", Some("shop")),
            ("shop.localhost.", "localhost", Some("shop")),
            ("SHOP.Example.COM", "example.com", Some("SHOP")),
            ("shop.example.com:443", ".example.com.", Some("shop")),
            ("a.b.example.com", "example.com", None),
            ("example.com", "example.com", None),
            (".example.com", "example.com", None),
            ("shopexample.com", "example.com", None),
            ("shop.example.org", "example.com", None),
            ("127.0.0.1:8080", "localhost", None),
            ("[::1]:8080", "localhost", None),
            ("shop.localhost", "", None),
            ("", "localhost", None),
            // Found by the fuzzer: a cut inside a character.
            ("ⷊࣃ🟰&", "localhost", None),
            ("4ⷊ.localhost", "localhost", None),
        ];
        for (host, base, want) in cases {
            assert_eq!(project_of_host(host, base), want, "{host} under {base}");
        }
    }

    fn row(project: &str, method: &str, path: &str, function: &str) -> RouteRow {
        RouteRow {
            id: String::new(),
            project_id: String::new(),
            project: project.into(),
            method: method.into(),
            path: path.into(),
            function: function.into(),
            auth: None,
            created_ms: 0,
        }
    }

    #[test]
    fn projects_never_see_each_others_routes() {
        let table = RouteTable::build(
            &[
                row("a", "ANY", "/webhook", "a-hook"),
                row("b", "POST", "/webhook", "b-hook"),
                row("a", "GET", "/orders/{id}", "a-orders"),
                row("b", "GET", "/orders/42", "b-order"),
                row("b", "ANY", "/{*rest}", "b-all"),
                row("b", "GET", "/orders/{id}", "b-orders"),
            ],
            &[],
        )
        .expect("the same paths in two projects do not conflict");
        let f = |p: &str, m: &str, path: &str| table.find(p, m, path).map(|(t, _)| t.function);
        assert_eq!(f("a", "POST", "/webhook").as_deref(), Some("a-hook"));
        assert_eq!(f("b", "POST", "/webhook").as_deref(), Some("b-hook"));
        assert_eq!(f("a", "GET", "/orders/42").as_deref(), Some("a-orders"));
        assert_eq!(f("a", "GET", "/api/v1/auth/me/"), None);
        assert_eq!(f("b", "GET", "/api/v1/auth/me/").as_deref(), Some("b-all"));
        assert_eq!(f("c", "GET", "/webhook"), None);
        assert_eq!(f("b", "GET", "/orders/7").as_deref(), Some("b-orders"));
        // Within one project, conflicts are still refused.
        assert!(
            RouteTable::build(
                &[row("a", "GET", "/x/{a}", "f"), row("a", "GET", "/x/{b}", "g")],
                &[]
            )
            .is_err()
        );
    }

    #[test]
    fn verified_domains_lead_to_their_project_only() {
        let domain = |name: &str, project: &str| DomainRow {
            project: project.into(),
            name: name.into(),
            token: String::new(),
            verified_ms: Some(1),
            created_ms: 0,
        };
        let table = RouteTable::build(&[], &[domain("shop.example.com", "a")]).expect("no routes");
        let p = |host: &str| table.project_of(host, "localhost");
        assert_eq!(p("shop.example.com").as_deref(), Some("a"));
        assert_eq!(p("SHOP.example.com.:443").as_deref(), Some("a"));
        assert_eq!(p("b.localhost:8080").as_deref(), Some("b"));
        assert_eq!(p("www.shop.example.com"), None);
        assert_eq!(p("example.com"), None);
    }
}
