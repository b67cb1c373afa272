//! Counted quotas (functions, rules, stored bytes) checked where they
//! cannot be raced: inside the transaction that writes the row, after the
//! org's row is locked, so that concurrent creations and uploads of one
//! org, on one node or many, are counted one at a time. (SQLite's write transactions are serialized
//! already; on PostgreSQL the lock does it.)

use super::{Holder, Kind, QuotaExceeded};
use crate::store::Result;
use sqlx::Row;

/// The room a creation of one `kind` (or an upload's bytes) must fit in:
/// its project's limit and its org's.
#[derive(Debug, Clone)]
pub struct CountLimit {
    pub(super) kind: Kind,
    pub(super) org_id: String,
    pub(super) project: (Holder, u64),
    pub(super) org: (Holder, u64),
}

/// Why a creation was refused.
#[derive(Debug, thiserror::Error)]
pub enum CreateRefused {
    /// A row of the same name went in first.
    #[error("another request created it first; retry")]
    Conflict,
    /// One more would pass a quota.
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
}

impl CountLimit {
    /// No limit on `kind` in `project` (for tools and benchmarks that set
    /// up a store directly).
    pub fn unlimited(project: &crate::store::projects::Project, kind: Kind) -> Self {
        Self {
            kind,
            org_id: project.org_id.clone(),
            project: (Holder::Project(project.name.clone()), u64::MAX),
            org: (Holder::Org(project.org_name.clone()), u64::MAX),
        }
    }

    /// Inside `tx`, before the row of project `project_id` is inserted:
    /// locks the org's row and refuses if one more would pass the
    /// project's or the org's limit.
    pub(crate) async fn check(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        project_id: &str,
    ) -> Result<std::result::Result<(), QuotaExceeded>> {
        self.check_change(tx, project_id, 1, 0).await
    }

    /// Inside `tx`: locks the org's row and refuses if adding `adding`
    /// (rows, or bytes) while `freeing` goes would pass the project's or
    /// the org's limit.
    pub(crate) async fn check_change(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        project_id: &str,
        adding: u64,
        freeing: u64,
    ) -> Result<std::result::Result<(), QuotaExceeded>> {
        sqlx::query("UPDATE orgs SET name = name WHERE id = $1")
            .bind(&self.org_id)
            .execute(&mut **tx)
            .await?;
        // (what is counted, the rows it is counted in, the condition)
        let (what, from, live) = match self.kind {
            Kind::Functions => ("COUNT(*)", "functions x", " AND x.deleted_ms IS NULL"),
            Kind::Rules => ("COUNT(*)", "event_rules x", ""),
            // The sums are cast: PostgreSQL's SUM of BIGINT is NUMERIC,
            // which the `Any` driver does not decode.
            Kind::StoredBytes => (
                "CAST(COALESCE(SUM(o.size), 0) AS BIGINT)",
                "objects o JOIN buckets x ON x.id = o.bucket_id",
                "",
            ),
            // Other kinds are not counted in rows.
            _ => return Ok(Ok(())),
        };
        let sql = format!(
            "SELECT (SELECT {what} FROM {from} WHERE x.project_id = $1{live}) AS in_project, \
             (SELECT {what} FROM {from} JOIN projects p ON p.id = x.project_id \
               WHERE p.org_id = $2 AND p.deleted_ms IS NULL{live}) AS in_org"
        );
        let row = sqlx::query(&sql)
            .bind(project_id)
            .bind(&self.org_id)
            .fetch_one(&mut **tx)
            .await?;
        let used = |c: &str| -> Result<u64> { Ok(row.try_get::<i64, _>(c)?.max(0) as u64) };
        for ((holder, limit), used) in [(&self.project, used("in_project")?), (&self.org, used("in_org")?)] {
            if used.saturating_sub(freeing).saturating_add(adding) > *limit {
                return Ok(Err(QuotaExceeded {
                    holder: holder.clone(),
                    kind: self.kind,
                    limit: *limit,
                    retry_after_secs: None,
                }));
            }
        }
        Ok(Ok(()))
    }
}
