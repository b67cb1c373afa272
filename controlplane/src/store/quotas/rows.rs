//! Quota overrides and usage in SQL. An org's rows are reached through the
//! looked-up `Org`, a project's through its `ProjectScope`: each query binds
//! the tenant's id itself. Reading every override at once (for the
//! in-memory book) is the one cross-tenant query, and is named so.

use super::{Kind, QuotaOverride};
use crate::store::orgs::Org;
use crate::store::projects::ProjectScope;
use crate::store::{Result, Store};
use crate::util::now_ms;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::HashMap;

/// The overrides of every org and project, by id.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// By org id.
    pub orgs: HashMap<String, QuotaOverride>,
    /// By project id.
    pub projects: HashMap<String, QuotaOverride>,
}

/// What a tenant uses of its counted quotas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Live functions.
    pub functions: u64,
    /// Event rules.
    pub rules: u64,
    /// Bytes of stored objects.
    pub stored_bytes: u64,
}

impl Usage {
    /// The usage of a counted kind; `None` for kinds counted in memory.
    pub fn get(&self, kind: Kind) -> Option<u64> {
        match kind {
            Kind::Functions => Some(self.functions),
            Kind::Rules => Some(self.rules),
            Kind::StoredBytes => Some(self.stored_bytes),
            Kind::Concurrency | Kind::MemoryMib | Kind::Rps => None,
        }
    }
}

const COLUMNS: &str = "concurrency, memory_mib, rps, stored_bytes, functions, rules";

fn quota_override(r: &AnyRow) -> Result<QuotaOverride> {
    let get =
        |c: &str| -> Result<Option<u64>> { Ok(r.try_get::<Option<i64>, _>(c)?.map(|v| v.max(0) as u64)) };
    Ok(QuotaOverride {
        concurrency: get("concurrency")?,
        memory_mib: get("memory_mib")?,
        rps: get("rps")?,
        stored_bytes: get("stored_bytes")?,
        functions: get("functions")?,
        rules: get("rules")?,
    })
}

/// The override's values in column order, as the database stores them
/// (`check` keeps them within `i64`).
fn values(o: &QuotaOverride) -> [Option<i64>; 6] {
    let v = |x: Option<u64>| x.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    [
        v(o.concurrency),
        v(o.memory_mib),
        v(o.rps),
        v(o.stored_bytes),
        v(o.functions),
        v(o.rules),
    ]
}

/// `INSERT ... ON CONFLICT DO UPDATE` of one tenant's override row.
fn upsert_sql(table: &str, key: &str) -> String {
    format!(
        "INSERT INTO {table} ({key}, {COLUMNS}, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT ({key}) DO UPDATE SET concurrency = excluded.concurrency, \
         memory_mib = excluded.memory_mib, rps = excluded.rps, stored_bytes = excluded.stored_bytes, \
         functions = excluded.functions, rules = excluded.rules, updated_ms = excluded.updated_ms"
    )
}

async fn upsert(pool: crate::store::Db<'_>, sql: &str, id: &str, o: &QuotaOverride) -> Result<()> {
    let mut q = sqlx::query(sql).bind(id.to_owned());
    for v in values(o) {
        q = q.bind(v);
    }
    q.bind(now_ms()).execute(pool).await?;
    Ok(())
}

impl Store {
    /// Every org's and project's override: a cross-tenant read, for the
    /// in-memory book that the hot path consults.
    pub async fn all_quota_overrides(&self) -> Result<Overrides> {
        // One statement for both tables: one round trip every refresh, and
        // an org's and its projects' overrides read at the same moment.
        let rows = sqlx::query(&format!(
            "SELECT 'org' AS kind, org_id AS id, {COLUMNS} FROM org_quotas \
             UNION ALL SELECT 'project' AS kind, project_id AS id, {COLUMNS} FROM project_quotas"
        ))
        .fetch_all(self.pool())
        .await?;
        let mut all = Overrides::default();
        for r in &rows {
            let book = match r.try_get::<String, _>("kind")?.as_str() {
                "org" => &mut all.orgs,
                _ => &mut all.projects,
            };
            book.insert(r.try_get("id")?, quota_override(r)?);
        }
        Ok(all)
    }

    /// Replaces an org's override.
    pub async fn put_org_quota(&self, org: &Org, o: &QuotaOverride) -> Result<()> {
        upsert(self.pool(), &upsert_sql("org_quotas", "org_id"), &org.id, o).await
    }

    /// What an org's live projects use.
    pub async fn org_usage(&self, org: &Org) -> Result<Usage> {
        let row = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM functions f JOIN projects p ON p.id = f.project_id \
                 WHERE p.org_id = $1 AND p.deleted_ms IS NULL AND f.deleted_ms IS NULL) AS functions, \
               (SELECT COUNT(*) FROM event_rules r JOIN projects p ON p.id = r.project_id \
                 WHERE p.org_id = $1 AND p.deleted_ms IS NULL) AS rules, \
               (SELECT CAST(COALESCE(SUM(o.size), 0) AS BIGINT) FROM objects o JOIN buckets b ON b.id = o.bucket_id \
                 JOIN projects p ON p.id = b.project_id \
                 WHERE p.org_id = $1 AND p.deleted_ms IS NULL) AS stored_bytes",
        )
        .bind(&org.id)
        .fetch_one(self.pool())
        .await?;
        usage(&row)
    }
}

impl ProjectScope {
    /// Replaces the project's override.
    pub async fn put_quota(&self, o: &QuotaOverride) -> Result<()> {
        let sql = upsert_sql("project_quotas", "project_id");
        upsert(self.pool(), &sql, &self.project_id, o).await
    }

    /// What the project uses.
    pub async fn usage(&self) -> Result<Usage> {
        let row = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM functions WHERE project_id = $1 AND deleted_ms IS NULL) AS functions, \
               (SELECT COUNT(*) FROM event_rules WHERE project_id = $1) AS rules, \
               (SELECT CAST(COALESCE(SUM(o.size), 0) AS BIGINT) FROM objects o JOIN buckets b ON b.id = o.bucket_id \
                 WHERE b.project_id = $1) AS stored_bytes",
        )
        .bind(&self.project_id)
        .fetch_one(self.pool())
        .await?;
        usage(&row)
    }
}

// The sums are cast because PostgreSQL's SUM of BIGINT is NUMERIC, which
// the `Any` driver does not decode.
fn usage(r: &AnyRow) -> Result<Usage> {
    let get = |c: &str| -> Result<u64> { Ok(r.try_get::<i64, _>(c)?.max(0) as u64) };
    Ok(Usage {
        functions: get("functions")?,
        rules: get("rules")?,
        stored_bytes: get("stored_bytes")?,
    })
}

#[cfg(test)]
mod tests {
    use crate::store::tests::temporary_sqlite;

    #[tokio::test]
    async fn overrides_round_trip_and_usage_starts_at_zero() {
        let (store, _dir) = temporary_sqlite().await;
        let project = store.ensure_project("default").await.expect("project");
        let org = project.org();
        let o = "functions=2,stored_bytes=1000".parse().expect("parses");
        store.in_project(&project).put_quota(&o).await.expect("stored");
        store
            .put_org_quota(&org, &"rps=7".parse().expect("parses"))
            .await
            .expect("stored");
        // A second write replaces the first.
        let o2 = "functions=3".parse().expect("parses");
        store.in_project(&project).put_quota(&o2).await.expect("replaced");
        let all = store.all_quota_overrides().await.expect("read");
        assert_eq!(all.projects.get(&project.id), Some(&o2));
        assert_eq!(all.orgs.get(&org.id).and_then(|o| o.rps), Some(7));
        let usage = store.in_project(&project).usage().await.expect("counted");
        assert_eq!(usage, super::Usage::default());
        assert_eq!(
            store.org_usage(&org).await.expect("counted"),
            super::Usage::default()
        );
    }
}
