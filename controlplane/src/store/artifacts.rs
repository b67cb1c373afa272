//! Digests of compiled artifacts: what the platform compiled, so that
//! nothing else is ever loaded as machine code; and claims on compiling,
//! so that one node compiles an org's new bytes while the others wait for
//! its artifact. Content-addressed platform data, shared across tenants by
//! design (stored once); a deploy skips compiling only bytes its own org
//! deployed before, so its speed tells nothing of other tenants.

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

    /// Whether a project of org `org_id` deployed component `sha256`
    /// before (any version, also of a function since deleted).
    pub async fn org_deployed(&self, org_id: &str, sha256: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM function_versions v JOIN projects p ON p.id = v.project_id \
             WHERE v.sha256 = $1 AND p.org_id = $2 LIMIT 1",
        )
        .bind(sha256)
        .bind(org_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }

    /// Claims the compilation of component `sha256` for org `org_id` and
    /// engine `fingerprint` for `owner` until `until_ms`: true when no
    /// other owner's claim is live.
    pub async fn claim_compile(
        &self,
        org_id: &str,
        sha256: &str,
        fingerprint: &str,
        owner: &str,
        until_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO compile_claims (org_id, sha256, fingerprint, owner, until_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (org_id, sha256, fingerprint) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms \
             WHERE compile_claims.until_ms < $6 OR compile_claims.owner = excluded.owner",
        )
        .bind(org_id)
        .bind(sha256)
        .bind(fingerprint)
        .bind(owner)
        .bind(until_ms)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends `owner`'s claim on compiling `sha256` for `org_id`.
    pub async fn release_compile(
        &self,
        org_id: &str,
        sha256: &str,
        fingerprint: &str,
        owner: &str,
    ) -> Result<()> {
        sqlx::query(
            "DELETE FROM compile_claims WHERE org_id = $1 AND sha256 = $2 AND fingerprint = $3 AND owner = $4",
        )
        .bind(org_id)
        .bind(sha256)
        .bind(fingerprint)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
