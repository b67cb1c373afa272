//! Identities and access, scoped by construction: every query here goes
//! through an [`OrgScope`], which binds the org's id itself, so no caller
//! can forget the tenant.
//!
//! - [`users`]: users of an org.
//! - [`keys`]: API keys of users.
//! - [`policies`]: managed policies.
//! - [`roles`]: roles, with managed and inline policies.
//! - [`bindings`]: bindings of principals to roles.
//! - [`sessions`]: refresh tokens, and the web console's sessions.
//! - [`credentials`]: lookups from a credential (keys, refresh tokens,
//!   signing keys) before the org is known.

mod bindings;
mod credentials;
mod keys;
mod policies;
mod roles;
mod sessions;
mod users;

pub use sessions::ConsoleSessionRow;

use super::orgs::Org;
use super::{Result, Store, is_unique_violation};
use crate::util::{new_id, now_ms};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// The IAM tables of one org.
#[derive(Debug, Clone)]
pub struct OrgScope {
    store: Store,
    /// The org's id.
    pub org_id: String,
    /// The org's name.
    pub org_name: String,
}

impl Store {
    /// The IAM repository of `org`.
    pub fn in_org(&self, org: &Org) -> OrgScope {
        OrgScope {
            store: self.clone(),
            org_id: org.id.clone(),
            org_name: org.name.clone(),
        }
    }
}

/// A user of an org.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Stable id (`mc:userid`).
    pub id: String,
    /// Name, unique in the org (`mc:username`).
    pub name: String,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// The argon2id hash; never serialized.
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// Tags, seen by policies as `mc:PrincipalTag/<key>`.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub tags: Tags,
}

/// Key-value tags.
pub type Tags = std::collections::BTreeMap<String, String>;

/// Tags from their stored JSON (an unreadable value counts as none).
pub fn tags_from_json(text: &str) -> Tags {
    serde_json::from_str(text).unwrap_or_default()
}

fn user(r: &AnyRow) -> User {
    User {
        id: r.get("id"),
        name: r.get("name"),
        created_ms: r.get("created_ms"),
        password_hash: r.get("password_hash"),
        tags: tags_from_json(&r.get::<String, _>("tags_json")),
    }
}

/// An API key's metadata (never its secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    /// The key id: the public half of the credential.
    pub id: String,
    /// The owner's id.
    pub user_id: String,
    /// A label.
    pub name: String,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// When it stops working, if ever.
    pub expires_ms: Option<i64>,
    /// When it was revoked.
    pub revoked_ms: Option<i64>,
    /// When it last authenticated a request (updated at most once a minute).
    pub last_used_ms: Option<i64>,
    /// SHA-256 of the secret; never serialized.
    #[serde(skip)]
    pub secret_hash: String,
    /// The org it belongs to; never serialized.
    #[serde(skip)]
    pub org_id: String,
}

fn api_key(r: &AnyRow) -> ApiKey {
    ApiKey {
        id: r.get("id"),
        user_id: r.get("user_id"),
        name: r.get("name"),
        created_ms: r.get("created_ms"),
        expires_ms: r.get("expires_ms"),
        revoked_ms: r.get("revoked_ms"),
        last_used_ms: r.get("last_used_ms"),
        secret_hash: r.get("secret_hash"),
        org_id: r.get("org_id"),
    }
}

const KEY_COLUMNS: &str =
    "id, org_id, user_id, name, secret_hash, created_ms, expires_ms, revoked_ms, last_used_ms";

/// A managed policy of the org.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyRow {
    /// Name, unique among the org's live policies.
    pub name: String,
    /// The document, as JSON text.
    #[serde(skip)]
    pub document: String,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Last change, epoch ms.
    pub updated_ms: i64,
}

fn policy_row(r: &AnyRow) -> PolicyRow {
    PolicyRow {
        name: r.get("name"),
        document: r.get("document"),
        created_ms: r.get("created_ms"),
        updated_ms: r.get("updated_ms"),
    }
}

/// A role: its name and creation time (`GET` of the role shows its
/// policies).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Role {
    /// Stable id.
    #[serde(skip)]
    pub id: String,
    /// Name, unique among the org's live roles.
    pub name: String,
    /// Creation time, epoch ms.
    pub created_ms: i64,
}

fn role(r: &AnyRow) -> Role {
    Role {
        id: r.get("id"),
        name: r.get("name"),
        created_ms: r.get("created_ms"),
    }
}

/// A principal's role, in the org or in one project.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Binding {
    /// Stable id.
    pub id: String,
    /// `user` or `api_key`.
    pub principal_type: String,
    /// The user's or key's id.
    pub principal_id: String,
    /// The role's id (`builtin:<Name>` for a built-in role).
    pub role_id: String,
    /// The project's id, or empty for the whole org.
    pub project_id: String,
    /// Creation time, epoch ms.
    pub created_ms: i64,
}

/// A binding with the names of what it binds, as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NamedBinding {
    /// The binding, by ids.
    #[serde(flatten)]
    pub binding: Binding,
    /// The principal: a user's name (empty if the user is gone), or
    /// `key:<key id>`.
    pub principal: String,
    /// The role's name (a built-in one's too; empty if the role is gone).
    pub role: String,
    /// The project's name; `null`: the whole org.
    pub project: Option<String>,
}

const BINDING_COLUMNS: &str = "id, principal_type, principal_id, role_id, project_id, created_ms";

fn binding(r: &AnyRow) -> Binding {
    Binding {
        id: r.get("id"),
        principal_type: r.get("principal_type"),
        principal_id: r.get("principal_id"),
        role_id: r.get("role_id"),
        project_id: r.get("project_id"),
        created_ms: r.get("created_ms"),
    }
}

/// Whether an insert collided with a unique name.
pub enum Created<T> {
    /// Stored.
    New(T),
    /// The name is taken.
    Taken,
}

impl OrgScope {
    fn pool(&self) -> super::Db<'_> {
        self.store.pool()
    }
}
