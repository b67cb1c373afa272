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

/// A session of the web console, as the console reads it: the token pair
/// and CSRF token are in `sealed`, which only the console opens. (The row
/// also names its org and user, for ending a user's sessions.)
#[derive(Debug, Clone)]
pub struct ConsoleSessionRow {
    /// SHA-256 (hex) of the id the browser holds.
    pub id_hash: String,
    /// What the console sealed.
    pub sealed: String,
    /// Renewals so far.
    pub generation: i64,
}

impl OrgScope {
    /// Stores a new console session of `user_id` of this org.
    pub async fn create_console_session(
        &self,
        id_hash: &str,
        user_id: &str,
        sealed: &str,
        expires_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, org_id, user_id, sealed, generation, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, 0, $5, $6)",
        )
        .bind(id_hash)
        .bind(&self.org_id)
        .bind(user_id)
        .bind(sealed)
        .bind(now_ms())
        .bind(expires_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

/// Console sessions by the id the browser holds (the org is not known
/// before the row is read).
impl Store {
    /// A console session that has not ended.
    pub async fn console_session(&self, id_hash: &str) -> Result<Option<ConsoleSessionRow>> {
        let row = sqlx::query(
            "SELECT id_hash, sealed, generation FROM console_sessions WHERE id_hash = $1 AND expires_ms > $2",
        )
        .bind(id_hash)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| ConsoleSessionRow {
            id_hash: r.get("id_hash"),
            sealed: r.get("sealed"),
            generation: r.get("generation"),
        }))
    }

    /// Replaces a session's sealed pair if it is still at `generation`
    /// (nobody renewed it meanwhile); false when someone did, or it ended.
    pub async fn renew_console_session(&self, id_hash: &str, generation: i64, sealed: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE console_sessions SET sealed = $1, generation = $2 \
             WHERE id_hash = $3 AND generation = $4",
        )
        .bind(sealed)
        .bind(generation + 1)
        .bind(id_hash)
        .bind(generation)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends a console session.
    pub async fn delete_console_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Forgets console sessions that ended before `now`.
    pub async fn delete_ended_console_sessions(&self, now: i64) -> Result<()> {
        sqlx::query("DELETE FROM console_sessions WHERE expires_ms <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
