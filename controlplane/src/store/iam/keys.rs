//! API keys of users.

use super::*;

impl OrgScope {
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
}
