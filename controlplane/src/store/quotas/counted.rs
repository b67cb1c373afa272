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
        // Rows are counted only as far as the verdict needs: past the
        // limit (plus what goes) one more row decides, so a deploy's check
        // costs at most the limit's rows, not all of a large tenant's.
        let enough =
            |limit: u64| i64::try_from(limit.saturating_add(freeing).saturating_add(1)).unwrap_or(i64::MAX);
        let (in_project, in_org) = (enough(self.project.1), enough(self.org.1));
        let sql = match self.kind {
            Kind::Functions | Kind::Rules => {
                let (table, live) = match self.kind {
                    Kind::Functions => ("functions", " AND x.deleted_ms IS NULL"),
                    _ => ("event_rules", ""),
                };
                format!(
                    "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM {table} x WHERE x.project_id = $1{live} LIMIT $3) t) \
                       AS in_project, \
                     (SELECT COUNT(*) FROM (SELECT 1 FROM {table} x JOIN projects p ON p.id = x.project_id \
                       WHERE p.org_id = $2 AND p.deleted_ms IS NULL{live} LIMIT $4) t) AS in_org"
                )
            }
            // The sums are cast: PostgreSQL's SUM of BIGINT is NUMERIC,
            // which the `Any` driver does not decode.
            Kind::StoredBytes => "SELECT (SELECT CAST(COALESCE(SUM(o.size), 0) AS BIGINT) \
                   FROM objects o JOIN buckets x ON x.id = o.bucket_id WHERE x.project_id = $1) AS in_project, \
                 (SELECT CAST(COALESCE(SUM(o.size), 0) AS BIGINT) \
                   FROM objects o JOIN buckets x ON x.id = o.bucket_id JOIN projects p ON p.id = x.project_id \
                   WHERE p.org_id = $2 AND p.deleted_ms IS NULL) AS in_org"
                .to_owned(),
            // Other kinds are not counted in rows.
            _ => return Ok(Ok(())),
        };
        let mut query = sqlx::query(&sql).bind(project_id).bind(&self.org_id);
        if self.kind != Kind::StoredBytes {
            query = query.bind(in_project).bind(in_org);
        }
        let row = query.fetch_one(&mut **tx).await?;
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
