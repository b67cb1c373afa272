//! Digests of compiled artifacts: what the platform compiled, so that
//! nothing else is ever loaded as machine code; and claims on compiling,
//! so that one node compiles new bytes while the others wait for its
//! artifact. Content-addressed platform data, shared across tenants by
//! design (the same bytes compile once).

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

    /// Claims the compilation of component `sha256` for engine
    /// `fingerprint` for `owner` until `until_ms`: true when no other
    /// owner's claim is live.
    pub async fn claim_compile(
        &self,
        sha256: &str,
        fingerprint: &str,
        owner: &str,
        until_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO compile_claims (sha256, fingerprint, owner, until_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sha256, fingerprint) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms \
             WHERE compile_claims.until_ms < $5 OR compile_claims.owner = excluded.owner",
        )
        .bind(sha256)
        .bind(fingerprint)
        .bind(owner)
        .bind(until_ms)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends `owner`'s claim on compiling `sha256` for `fingerprint`.
    pub async fn release_compile(&self, sha256: &str, fingerprint: &str, owner: &str) -> Result<()> {
        sqlx::query("DELETE FROM compile_claims WHERE sha256 = $1 AND fingerprint = $2 AND owner = $3")
            .bind(sha256)
            .bind(fingerprint)
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
