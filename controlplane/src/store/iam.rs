//! Identities and access, scoped by construction: every query here goes
//! through an [`OrgScope`], which binds the org's id itself, so no caller
//! can forget the tenant.

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
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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

/// A role and what it carries.
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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
    fn pool(&self) -> &sqlx::AnyPool {
        self.store.pool()
    }

    // ---- users ----

    /// Creates a user; `Taken` when the name is in use (deleted users' names
    /// stay taken: their history refers to them).
    pub async fn create_user(
        &self,
        name: &str,
        password_hash: Option<&str>,
        tags: Tags,
    ) -> Result<Created<User>> {
        let u = User {
            id: new_id(),
            name: name.to_owned(),
            created_ms: now_ms(),
            password_hash: password_hash.map(str::to_owned),
            tags,
        };
        let r = sqlx::query(
            "INSERT INTO users (id, org_id, name, password_hash, tags_json, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&u.id)
        .bind(&self.org_id)
        .bind(&u.name)
        .bind(u.password_hash.as_deref())
        .bind(serde_json::to_string(&u.tags).unwrap_or_else(|_| "{}".into()))
        .bind(u.created_ms)
        .execute(self.pool())
        .await;
        match r {
            Ok(_) => Ok(Created::New(u)),
            Err(e) if is_unique_violation(&e) => Ok(Created::Taken),
            Err(e) => Err(e.into()),
        }
    }

    /// A live user by name.
    pub async fn user(&self, name: &str) -> Result<Option<User>> {
        let row = sqlx::query(
            "SELECT id, name, created_ms, password_hash, tags_json FROM users \
             WHERE org_id = $1 AND name = $2 AND deleted_ms IS NULL",
        )
        .bind(&self.org_id)
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(user))
    }

    /// A live user by id.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        let row = sqlx::query(
            "SELECT id, name, created_ms, password_hash, tags_json FROM users \
             WHERE org_id = $1 AND id = $2 AND deleted_ms IS NULL",
        )
        .bind(&self.org_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(user))
    }

    /// Live users by name, after `cursor`.
    pub async fn list_users(&self, cursor: &str, limit: i64) -> Result<Vec<User>> {
        let rows = sqlx::query(
            "SELECT id, name, created_ms, password_hash, tags_json FROM users \
             WHERE org_id = $1 AND deleted_ms IS NULL AND name > $2 ORDER BY name LIMIT $3",
        )
        .bind(&self.org_id)
        .bind(cursor)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(user).collect())
    }

    /// Replaces a user's tags.
    pub async fn set_user_tags(&self, user_id: &str, tags: &Tags) -> Result<()> {
        sqlx::query("UPDATE users SET tags_json = $1 WHERE org_id = $2 AND id = $3")
            .bind(serde_json::to_string(tags).unwrap_or_else(|_| "{}".into()))
            .bind(&self.org_id)
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Soft-deletes a user, revokes their keys and sessions, and removes
    /// their bindings, in one transaction.
    pub async fn delete_user(&self, u: &User) -> Result<()> {
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        sqlx::query("UPDATE users SET deleted_ms = $1 WHERE org_id = $2 AND id = $3")
            .bind(now)
            .bind(&self.org_id)
            .bind(&u.id)
            .execute(&mut *tx)
            .await?;
        for table in ["api_keys", "refresh_tokens"] {
            sqlx::query(&format!(
                "UPDATE {table} SET revoked_ms = $1 WHERE org_id = $2 AND user_id = $3 AND revoked_ms IS NULL"
            ))
            .bind(now)
            .bind(&self.org_id)
            .bind(&u.id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "DELETE FROM bindings WHERE org_id = $1 AND ((principal_type = 'user' AND principal_id = $2) \
             OR (principal_type = 'api_key' AND principal_id IN \
                 (SELECT id FROM api_keys WHERE org_id = $1 AND user_id = $2)))",
        )
        .bind(&self.org_id)
        .bind(&u.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- API keys ----

    /// Stores a new key for a user.
    pub async fn create_api_key(
        &self,
        user_id: &str,
        name: &str,
        secret_hash: &str,
        expires_ms: Option<i64>,
    ) -> Result<ApiKey> {
        let k = ApiKey {
            id: new_id(),
            user_id: user_id.to_owned(),
            name: name.to_owned(),
            created_ms: now_ms(),
            expires_ms,
            revoked_ms: None,
            last_used_ms: None,
            secret_hash: secret_hash.to_owned(),
            org_id: self.org_id.clone(),
        };
        sqlx::query(
            "INSERT INTO api_keys (id, org_id, user_id, name, secret_hash, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&k.id)
        .bind(&self.org_id)
        .bind(&k.user_id)
        .bind(&k.name)
        .bind(&k.secret_hash)
        .bind(k.created_ms)
        .bind(k.expires_ms)
        .execute(self.pool())
        .await?;
        Ok(k)
    }

    /// A user's keys, newest first (revoked ones included, marked).
    pub async fn list_api_keys(&self, user_id: &str) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = $1 AND user_id = $2 ORDER BY id DESC"
        ))
        .bind(&self.org_id)
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(api_key).collect())
    }

    /// Revokes a user's key; false when there is no such live key.
    pub async fn revoke_api_key(&self, user_id: &str, key_id: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_ms = $1 \
             WHERE org_id = $2 AND user_id = $3 AND id = $4 AND revoked_ms IS NULL",
        )
        .bind(now_ms())
        .bind(&self.org_id)
        .bind(user_id)
        .bind(key_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    // ---- policies ----

    /// Stores a managed policy; `Taken` when a live one has the name.
    pub async fn create_policy(&self, name: &str, document: &str) -> Result<Created<PolicyRow>> {
        if self.policy(name).await?.is_some() {
            return Ok(Created::Taken);
        }
        let now = now_ms();
        sqlx::query(
            "INSERT INTO policies (id, org_id, name, document, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(new_id())
        .bind(&self.org_id)
        .bind(name)
        .bind(document)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(Created::New(PolicyRow {
            name: name.to_owned(),
            document: document.to_owned(),
            created_ms: now,
            updated_ms: now,
        }))
    }

    /// A live managed policy.
    pub async fn policy(&self, name: &str) -> Result<Option<PolicyRow>> {
        let row = sqlx::query(
            "SELECT name, document, created_ms, updated_ms FROM policies \
             WHERE org_id = $1 AND name = $2 AND deleted_ms IS NULL",
        )
        .bind(&self.org_id)
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(policy_row))
    }

    /// Live managed policies by name, after `cursor`.
    pub async fn list_policies(&self, cursor: &str, limit: i64) -> Result<Vec<PolicyRow>> {
        let rows = sqlx::query(
            "SELECT name, document, created_ms, updated_ms FROM policies \
             WHERE org_id = $1 AND deleted_ms IS NULL AND name > $2 ORDER BY name LIMIT $3",
        )
        .bind(&self.org_id)
        .bind(cursor)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(policy_row).collect())
    }

    /// Replaces a live policy's document; false when there is none.
    pub async fn update_policy(&self, name: &str, document: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE policies SET document = $1, updated_ms = $2 \
             WHERE org_id = $3 AND name = $4 AND deleted_ms IS NULL",
        )
        .bind(document)
        .bind(now_ms())
        .bind(&self.org_id)
        .bind(name)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Soft-deletes a policy and detaches it from every role.
    pub async fn delete_policy(&self, name: &str) -> Result<bool> {
        let mut tx = self.store.begin_write().await?;
        let done = sqlx::query(
            "UPDATE policies SET deleted_ms = $1 WHERE org_id = $2 AND name = $3 AND deleted_ms IS NULL",
        )
        .bind(now_ms())
        .bind(&self.org_id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM role_policies WHERE org_id = $1 AND policy_name = $2")
            .bind(&self.org_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    // ---- roles ----

    /// Creates a role; `Taken` when a live one has the name.
    pub async fn create_role(&self, name: &str) -> Result<Created<Role>> {
        if self.role(name).await?.is_some() {
            return Ok(Created::Taken);
        }
        let r = Role {
            id: new_id(),
            name: name.to_owned(),
            created_ms: now_ms(),
        };
        sqlx::query("INSERT INTO roles (id, org_id, name, created_ms) VALUES ($1, $2, $3, $4)")
            .bind(&r.id)
            .bind(&self.org_id)
            .bind(&r.name)
            .bind(r.created_ms)
            .execute(self.pool())
            .await?;
        Ok(Created::New(r))
    }

    /// A live role by name.
    pub async fn role(&self, name: &str) -> Result<Option<Role>> {
        let row = sqlx::query(
            "SELECT id, name, created_ms FROM roles WHERE org_id = $1 AND name = $2 AND deleted_ms IS NULL",
        )
        .bind(&self.org_id)
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(role))
    }

    /// Live roles by name, after `cursor`.
    pub async fn list_roles(&self, cursor: &str, limit: i64) -> Result<Vec<Role>> {
        let rows = sqlx::query(
            "SELECT id, name, created_ms FROM roles \
             WHERE org_id = $1 AND deleted_ms IS NULL AND name > $2 ORDER BY name LIMIT $3",
        )
        .bind(&self.org_id)
        .bind(cursor)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(role).collect())
    }

    /// Soft-deletes a role and removes its bindings.
    pub async fn delete_role(&self, role: &Role) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        sqlx::query("UPDATE roles SET deleted_ms = $1 WHERE org_id = $2 AND id = $3")
            .bind(now_ms())
            .bind(&self.org_id)
            .bind(&role.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM bindings WHERE org_id = $1 AND role_id = $2")
            .bind(&self.org_id)
            .bind(&role.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Attaches a managed policy (built-in or the org's) to a role.
    pub async fn attach_policy(&self, role: &Role, policy_name: &str) -> Result<()> {
        let r = sqlx::query("INSERT INTO role_policies (role_id, org_id, policy_name) VALUES ($1, $2, $3)")
            .bind(&role.id)
            .bind(&self.org_id)
            .bind(policy_name)
            .execute(self.pool())
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Detaches a managed policy; false when it was not attached.
    pub async fn detach_policy(&self, role: &Role, policy_name: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM role_policies WHERE org_id = $1 AND role_id = $2 AND policy_name = $3")
                .bind(&self.org_id)
                .bind(&role.id)
                .bind(policy_name)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Sets (creates or replaces) an inline policy of a role.
    pub async fn put_inline_policy(&self, role: &Role, name: &str, document: &str) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        sqlx::query("DELETE FROM role_inline_policies WHERE org_id = $1 AND role_id = $2 AND name = $3")
            .bind(&self.org_id)
            .bind(&role.id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO role_inline_policies (role_id, org_id, name, document) VALUES ($1, $2, $3, $4)",
        )
        .bind(&role.id)
        .bind(&self.org_id)
        .bind(name)
        .bind(document)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes an inline policy; false when there was none.
    pub async fn delete_inline_policy(&self, role: &Role, name: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM role_inline_policies WHERE org_id = $1 AND role_id = $2 AND name = $3")
                .bind(&self.org_id)
                .bind(&role.id)
                .bind(name)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A role's policies: `(name, document)` of attached managed policies
    /// (built-in ones come back with an empty document: the caller has
    /// them) and of inline ones (named `inline:<name>`).
    pub async fn role_policies(&self, role_id: &str) -> Result<Vec<(String, Option<String>)>> {
        let managed = sqlx::query(
            "SELECT rp.policy_name AS name, p.document AS document FROM role_policies rp \
             LEFT JOIN policies p ON p.org_id = rp.org_id AND p.name = rp.policy_name AND p.deleted_ms IS NULL \
             WHERE rp.org_id = $1 AND rp.role_id = $2 ORDER BY rp.policy_name",
        )
        .bind(&self.org_id)
        .bind(role_id)
        .fetch_all(self.pool())
        .await?;
        let inline = sqlx::query(
            "SELECT name, document FROM role_inline_policies WHERE org_id = $1 AND role_id = $2 ORDER BY name",
        )
        .bind(&self.org_id)
        .bind(role_id)
        .fetch_all(self.pool())
        .await?;
        Ok(managed
            .iter()
            .map(|r| (r.get::<String, _>("name"), r.get::<Option<String>, _>("document")))
            .chain(inline.iter().map(|r| {
                (
                    format!("inline:{}", r.get::<String, _>("name")),
                    Some(r.get::<String, _>("document")),
                )
            }))
            .collect())
    }

    // ---- bindings ----

    /// Gives a principal a role, in the org (`project_id` empty) or a
    /// project. Idempotent: an existing binding is returned.
    pub async fn bind(
        &self,
        principal_type: &str,
        principal_id: &str,
        role_id: &str,
        project_id: &str,
    ) -> Result<Binding> {
        let b = Binding {
            id: new_id(),
            principal_type: principal_type.to_owned(),
            principal_id: principal_id.to_owned(),
            role_id: role_id.to_owned(),
            project_id: project_id.to_owned(),
            created_ms: now_ms(),
        };
        let r = sqlx::query(
            "INSERT INTO bindings (id, org_id, project_id, principal_type, principal_id, role_id, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&b.id)
        .bind(&self.org_id)
        .bind(&b.project_id)
        .bind(&b.principal_type)
        .bind(&b.principal_id)
        .bind(&b.role_id)
        .bind(b.created_ms)
        .execute(self.pool())
        .await;
        match r {
            Ok(_) => Ok(b),
            Err(e) if is_unique_violation(&e) => {
                let row = sqlx::query(&format!(
                    "SELECT {BINDING_COLUMNS} FROM bindings \
                     WHERE org_id = $1 AND principal_type = $2 AND principal_id = $3 AND role_id = $4 \
                     AND project_id = $5"
                ))
                .bind(&self.org_id)
                .bind(principal_type)
                .bind(principal_id)
                .bind(role_id)
                .bind(project_id)
                .fetch_one(self.pool())
                .await?;
                Ok(binding(&row))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The org's bindings, by id, after `cursor`.
    pub async fn list_bindings(&self, cursor: &str, limit: i64) -> Result<Vec<Binding>> {
        let rows = sqlx::query(&format!(
            "SELECT {BINDING_COLUMNS} FROM bindings \
             WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(&self.org_id)
        .bind(cursor)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(binding).collect())
    }

    /// One binding of the org.
    pub async fn binding(&self, id: &str) -> Result<Option<Binding>> {
        let row = sqlx::query(&format!(
            "SELECT {BINDING_COLUMNS} FROM bindings \
             WHERE org_id = $1 AND id = $2"
        ))
        .bind(&self.org_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(binding))
    }

    /// Removes a binding; false when there was none.
    pub async fn unbind(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM bindings WHERE org_id = $1 AND id = $2")
            .bind(&self.org_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The bindings of one principal.
    pub async fn bindings_of(&self, principal_type: &str, principal_id: &str) -> Result<Vec<Binding>> {
        let rows = sqlx::query(&format!(
            "SELECT {BINDING_COLUMNS} FROM bindings \
             WHERE org_id = $1 AND principal_type = $2 AND principal_id = $3"
        ))
        .bind(&self.org_id)
        .bind(principal_type)
        .bind(principal_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(binding).collect())
    }

    // ---- sessions ----

    /// Stores a refresh token's hash.
    pub async fn create_refresh_token(&self, user_id: &str, token_hash: &str, expires_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (id, org_id, user_id, token_hash, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new_id())
        .bind(&self.org_id)
        .bind(user_id)
        .bind(token_hash)
        .bind(now_ms())
        .bind(expires_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

/// Lookups that start from a credential, before the org is known.
impl Store {
    /// An API key by id, with its org's name, if the key is live (not
    /// revoked, not expired) and its user and org exist.
    pub async fn live_api_key(&self, key_id: &str) -> Result<Option<(ApiKey, User, Org)>> {
        let row = sqlx::query(
            "SELECT k.id, k.org_id, k.user_id, k.name, k.secret_hash, k.created_ms, k.expires_ms, \
                    k.revoked_ms, k.last_used_ms, u.name AS user_name, u.created_ms AS user_created_ms, \
                    u.tags_json AS tags_json, \
                    o.name AS org_name, o.created_ms AS org_created_ms \
             FROM api_keys k JOIN users u ON u.id = k.user_id AND u.org_id = k.org_id \
             JOIN orgs o ON o.id = k.org_id \
             WHERE k.id = $1 AND k.revoked_ms IS NULL AND (k.expires_ms IS NULL OR k.expires_ms > $2) \
               AND u.deleted_ms IS NULL AND o.deleted_ms IS NULL",
        )
        .bind(key_id)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| {
            let key = api_key(&r);
            let u = User {
                id: key.user_id.clone(),
                name: r.get("user_name"),
                created_ms: r.get("user_created_ms"),
                password_hash: None,
                tags: tags_from_json(&r.get::<String, _>("tags_json")),
            };
            let o = Org {
                id: key.org_id.clone(),
                name: r.get("org_name"),
                created_ms: r.get("org_created_ms"),
            };
            (key, u, o)
        }))
    }

    /// Records that a key authenticated a request.
    pub async fn touch_api_key(&self, key_id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE api_keys SET last_used_ms = $1 WHERE id = $2")
            .bind(now)
            .bind(key_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A live refresh token's org and user ids.
    pub async fn live_refresh_token(&self, token_hash: &str) -> Result<Option<(String, String)>> {
        let row = sqlx::query(
            "SELECT org_id, user_id FROM refresh_tokens \
             WHERE token_hash = $1 AND revoked_ms IS NULL AND expires_ms > $2",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| (r.get("org_id"), r.get("user_id"))))
    }

    /// Revokes a refresh token; false when it was not live.
    pub async fn revoke_refresh_token(&self, token_hash: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_ms = $1 WHERE token_hash = $2 AND revoked_ms IS NULL",
        )
        .bind(now_ms())
        .bind(token_hash)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// An org by id, live or not (principals carry ids).
    pub async fn org_by_id(&self, id: &str) -> Result<Option<Org>> {
        let row = sqlx::query("SELECT id, name, created_ms FROM orgs WHERE id = $1 AND deleted_ms IS NULL")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| Org {
            id: r.get("id"),
            name: r.get("name"),
            created_ms: r.get("created_ms"),
        }))
    }

    /// Signing keys that still verify, newest first.
    pub async fn signing_keys(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT kid, secret FROM signing_keys WHERE retired_ms IS NULL ORDER BY created_ms DESC, kid DESC",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(|r| (r.get("kid"), r.get("secret"))).collect())
    }

    /// Adds a signing key (it becomes the one that signs).
    pub async fn add_signing_key(&self, kid: &str, secret: &str) -> Result<()> {
        sqlx::query("INSERT INTO signing_keys (kid, secret, created_ms) VALUES ($1, $2, $3)")
            .bind(kid)
            .bind(secret)
            .bind(now_ms())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Replaces a key's stored form (its secret sealed), if it is still
    /// `old`: two nodes starting at once seal it once.
    pub async fn replace_signing_key(&self, kid: &str, old: &str, new: &str) -> Result<()> {
        sqlx::query("UPDATE signing_keys SET secret = $1 WHERE kid = $2 AND secret = $3")
            .bind(new)
            .bind(kid)
            .bind(old)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Retires every signing key but the newest `keep`.
    pub async fn retire_signing_keys(&self, keep: &[String]) -> Result<()> {
        for (kid, _) in self.signing_keys().await? {
            if !keep.contains(&kid) {
                sqlx::query("UPDATE signing_keys SET retired_ms = $1 WHERE kid = $2")
                    .bind(now_ms())
                    .bind(&kid)
                    .execute(self.pool())
                    .await?;
            }
        }
        Ok(())
    }

    /// Whether any user exists (false before the bootstrap admin).
    pub async fn has_users(&self) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(self.pool())
            .await?;
        Ok(row.get::<i64, _>("n") > 0)
    }
}
