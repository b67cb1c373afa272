//! Lookups that start from a credential, before the org is known: live
//! API keys and refresh tokens, orgs by id, the signing keys of access
//! tokens.

use super::*;

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
