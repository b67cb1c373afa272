//! MiniCloud resource names: `mrn:<service>:<org>:<project>:<type>/<path>`.
//!
//! The project segment is empty for resources that belong to an org alone
//! (`mrn:iam:acme::user/alice`), and org and project are both empty for
//! the platform itself (`mrn:orgs:::org/acme`).

use std::fmt;

/// A resource name, built from its parts so it is always well formed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mrn {
    service: String,
    org: String,
    project: String,
    resource: String,
}

/// Why a string is not a resource name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a resource name; the form is mrn:<service>:<org>:<project>:<type>/<path>")]
pub struct MrnError(pub String);

impl Mrn {
    /// A resource in a project.
    pub fn project(service: &str, org: &str, project: &str, resource: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            org: org.into(),
            project: project.into(),
            resource: resource.into(),
        }
    }

    /// A resource that belongs to an org, outside any project.
    pub fn org(service: &str, org: &str, resource: impl Into<String>) -> Self {
        Self::project(service, org, "", resource)
    }

    /// A platform-wide resource.
    pub fn platform(service: &str, resource: impl Into<String>) -> Self {
        Self::project(service, "", "", resource)
    }

    /// Parses and checks a resource name (no wildcards).
    pub fn parse(text: &str) -> Result<Self, MrnError> {
        let bad = || MrnError(text.into());
        let mut parts = text.splitn(5, ':');
        let (Some("mrn"), Some(service), Some(org), Some(project), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        let name_ok = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if service.is_empty() || !name_ok(service) || !name_ok(org) || !name_ok(project) {
            return Err(bad());
        }
        if resource.is_empty() || resource.contains(['*', '?']) {
            return Err(bad());
        }
        Ok(Self::project(service, org, project, resource))
    }

    /// The service segment, such as `functions`.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The org segment (empty for platform resources).
    pub fn org_name(&self) -> &str {
        &self.org
    }

    /// The project segment (empty for org and platform resources).
    pub fn project_name(&self) -> &str {
        &self.project
    }
}

impl fmt::Display for Mrn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mrn:{}:{}:{}:{}",
            self.service, self.org, self.project, self.resource
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let name = Mrn::project("functions", "acme", "web", "function/hello");
        assert_eq!(name.to_string(), "mrn:functions:acme:web:function/hello");
        assert_eq!(Mrn::parse(&name.to_string()), Ok(name));
        assert_eq!(
            Mrn::org("iam", "acme", "user/alice").to_string(),
            "mrn:iam:acme::user/alice"
        );
        assert_eq!(
            Mrn::platform("orgs", "org/acme").to_string(),
            "mrn:orgs:::org/acme"
        );
        // The resource part may itself hold colons.
        assert!(Mrn::parse("mrn:storage:acme:web:bucket/raw/a:b").is_ok());
    }

    #[test]
    fn refuses_malformed_names() {
        for bad in [
            "",
            "arn:aws:s3:::bucket",
            "mrn:functions:acme:web",
            "mrn::acme:web:function/x",
            "mrn:Functions:acme:web:function/x",
            "mrn:functions:acme:web:",
            "mrn:functions:acme:web:function/*",
        ] {
            assert!(Mrn::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
