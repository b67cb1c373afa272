//! Managed policies of an org.

use super::*;

impl OrgScope {
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
}
