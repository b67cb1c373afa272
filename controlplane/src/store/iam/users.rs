//! Users of an org.

use super::*;

impl OrgScope {
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
}
