//! Roles and the policies attached to them (managed and inline).

use super::*;

impl OrgScope {
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
}
