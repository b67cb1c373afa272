//! Digests of compiled artifacts: what the platform compiled, so that
//! nothing else is ever loaded as machine code. Content-addressed platform
//! data, shared across tenants by design (the same bytes compile once).

use super::{Result, Store};
use crate::util::now_ms;
use sqlx::Row;

impl Store {
    /// The digest recorded for the artifact of component `sha256` compiled
    /// by the engine `fingerprint`.
    pub async fn artifact_digest(&self, sha256: &str, fingerprint: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT digest FROM compiled_artifacts WHERE sha256 = $1 AND fingerprint = $2")
            .bind(sha256)
            .bind(fingerprint)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.get("digest")))
    }

    /// Records (or replaces, after a recompile) an artifact's digest.
    pub async fn record_artifact_digest(&self, sha256: &str, fingerprint: &str, digest: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO compiled_artifacts (sha256, fingerprint, digest, created_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sha256, fingerprint) DO UPDATE SET digest = excluded.digest, created_ms = excluded.created_ms",
        )
        .bind(sha256)
        .bind(fingerprint)
        .bind(digest)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
