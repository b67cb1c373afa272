//! Who calls ([`Caller`], [`Principal`]) and on what ([`Target`]): what
//! the authorizer judges.

use crate::store::orgs::Org;
use minicloud_policy::Mrn;
use std::net::IpAddr;

/// User or API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// A person, signed in with a password (access token).
    User,
    /// An API key of a user.
    ApiKey,
}

impl PrincipalKind {
    /// `user` or `api_key`, as stored in bindings and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::ApiKey => "api_key",
        }
    }
}

/// An authenticated identity.
#[derive(Debug, Clone)]
pub struct Principal {
    /// User or API key.
    pub kind: PrincipalKind,
    /// The user's id, or the key's id.
    pub id: String,
    /// The user (the key's owner for a key).
    pub user_id: String,
    /// The user's name.
    pub user_name: String,
    /// The org the principal belongs to.
    pub org: Org,
    /// The user's tags (`mc:PrincipalTag/<key>`).
    pub tags: crate::store::iam::Tags,
}

/// A principal with what the request says about itself (for conditions).
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// The client's address.
    pub source_ip: Option<IpAddr>,
    /// The client's `User-Agent`.
    pub user_agent: String,
}

/// What an action is done to: its resource name and its tenant.
#[derive(Debug, Clone)]
pub struct Target {
    /// The resource name.
    pub mrn: Mrn,
    /// The owning org's id (empty for platform resources).
    pub org_id: String,
    /// The owning project's id, for project resources.
    pub project_id: Option<String>,
    /// The resource's tags (`mc:ResourceTag/<key>`).
    pub tags: crate::store::iam::Tags,
}

impl Target {
    /// The same target with the resource's tags.
    pub fn with_tags(mut self, tags: crate::store::iam::Tags) -> Self {
        self.tags = tags;
        self
    }

    /// A resource of a project.
    pub fn in_project(service: &str, project: &crate::store::projects::Project, resource: &str) -> Self {
        Self {
            mrn: Mrn::project(service, &project.org_name, &project.name, resource),
            org_id: project.org_id.clone(),
            project_id: Some(project.id.clone()),
            tags: Default::default(),
        }
    }

    /// A resource of an org.
    pub fn in_org(service: &str, org: &Org, resource: &str) -> Self {
        Self {
            mrn: Mrn::org(service, &org.name, resource),
            org_id: org.id.clone(),
            project_id: None,
            tags: Default::default(),
        }
    }

    /// A platform-wide resource.
    pub fn platform(service: &str, resource: &str) -> Self {
        Self {
            mrn: Mrn::platform(service, resource),
            org_id: String::new(),
            project_id: None,
            tags: Default::default(),
        }
    }
}
