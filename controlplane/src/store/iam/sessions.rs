//! Refresh tokens of users' sessions.

use super::*;

impl OrgScope {
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
