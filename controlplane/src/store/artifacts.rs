//! Digests of compiled artifacts: what the platform compiled, so that
//! nothing else is ever loaded as machine code; and claims on compiling,
//! so that one node compiles an org's new bytes while the others wait for
//! its artifact. Content-addressed platform data, shared across tenants by
//! design (stored once); a deploy skips compiling only bytes its own org
//! deployed before, so its speed tells nothing of other tenants.

use super::{Result, Store};
use crate::util::now_ms;
use sqlx::Row;

/// What the platform recorded of an artifact it compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedArtifact {
    /// SHA-256 in hex.
    pub digest: String,
    /// Bytes; `None` for artifacts recorded before sizes were (until a
    /// matching copy records it).
    pub size: Option<u64>,
}

impl Store {
    /// What was recorded of the artifact of component `sha256` compiled
    /// by the engine `fingerprint`.
    pub async fn recorded_artifact(
        &self,
        sha256: &str,
        fingerprint: &str,
    ) -> Result<Option<RecordedArtifact>> {
        let row = sqlx::query(
            "SELECT digest, size_bytes FROM compiled_artifacts WHERE sha256 = $1 AND fingerprint = $2",
        )
        .bind(sha256)
        .bind(fingerprint)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| RecordedArtifact {
            digest: r.get("digest"),
            size: r.get::<Option<i64>, _>("size_bytes").map(|n| n as u64),
        }))
    }

    /// Records (or replaces, after a recompile) an artifact's digest and
    /// size.
    pub async fn record_artifact(
        &self,
        sha256: &str,
        fingerprint: &str,
        digest: &str,
        size: u64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO compiled_artifacts (sha256, fingerprint, digest, size_bytes, created_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256, fingerprint) DO UPDATE \
             SET digest = excluded.digest, size_bytes = excluded.size_bytes, created_ms = excluded.created_ms",
        )
        .bind(sha256)
        .bind(fingerprint)
        .bind(digest)
        .bind(size as i64)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records the size of an artifact recorded without one, from a copy
    /// that matched its `digest` (if the row still names that digest).
    pub async fn record_artifact_size(
        &self,
        sha256: &str,
        fingerprint: &str,
        digest: &str,
        size: u64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE compiled_artifacts SET size_bytes = $4 \
             WHERE sha256 = $1 AND fingerprint = $2 AND digest = $3 AND size_bytes IS NULL",
        )
        .bind(sha256)
        .bind(fingerprint)
        .bind(digest)
        .bind(size as i64)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The size of component `sha256` as its versions recorded it at
    /// upload (`None` if no version names it).
    pub async fn component_size(&self, sha256: &str) -> Result<Option<u64>> {
        let size: Option<i64> =
            sqlx::query_scalar("SELECT size_bytes FROM function_versions WHERE sha256 = $1 LIMIT 1")
                .bind(sha256)
                .fetch_optional(self.pool())
                .await?;
        Ok(size.map(|n| n as u64))
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
