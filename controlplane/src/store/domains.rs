//! Custom domains of projects: claimed with a token, verified through DNS,
//! held verified by one project at a time.

use super::projects::ProjectScope;
use super::{Result, Store, is_unique_violation};
use crate::util::{new_id, now_ms};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A stored domain claim.
#[derive(Debug, Clone, Serialize)]
pub struct DomainRow {
    /// Owning project's name.
    pub project: String,
    /// The host name, lower case.
    pub name: String,
    /// What the TXT record must hold (not a secret: it is published).
    pub token: String,
    /// When the project proved the name is its own; none: pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_ms: Option<i64>,
    /// Creation time, epoch ms.
    pub created_ms: i64,
}

/// What marking a claim verified came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    /// The claim is verified now.
    Done,
    /// Another project holds the name verified.
    Taken,
    /// The project has no claim on the name.
    Missing,
}

fn domain_row(r: &AnyRow) -> Result<DomainRow> {
    Ok(DomainRow {
        project: r.try_get("project_name")?,
        name: r.try_get("name")?,
        token: r.try_get("token")?,
        verified_ms: r.try_get("verified_ms")?,
        created_ms: r.try_get("created_ms")?,
    })
}

const COLUMNS: &str = "p.name AS project_name, d.name, d.token, d.verified_ms, d.created_ms";
const FROM: &str = "domains d JOIN projects p ON p.id = d.project_id";

impl ProjectScope {
    /// Claims `name` for the project with `token`; `None` when the project
    /// has claimed it already or holds `limit` claims.
    pub async fn insert_domain(&self, name: &str, token: &str, limit: i64) -> Result<Option<DomainRow>> {
        let mut tx = self.pool().begin().await?;
        let held: i64 = sqlx::query("SELECT COUNT(*) AS n FROM domains WHERE project_id = $1")
            .bind(&self.project_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if held >= limit {
            return Ok(None);
        }
        let id = new_id();
        let inserted = sqlx::query(
            "INSERT INTO domains (id, project_id, name, token, created_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(&self.project_id)
        .bind(name)
        .bind(token)
        .bind(now_ms())
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => tx.commit().await?,
            Err(e) if is_unique_violation(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        self.domain(name).await
    }

    /// The project's claim on `name`.
    pub async fn domain(&self, name: &str) -> Result<Option<DomainRow>> {
        let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE d.project_id = $1 AND d.name = $2");
        let row = sqlx::query(&sql)
            .bind(&self.project_id)
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(domain_row).transpose()
    }

    /// The project's claims in name order.
    pub async fn domains(&self) -> Result<Vec<DomainRow>> {
        let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE d.project_id = $1 ORDER BY d.name");
        let rows = sqlx::query(&sql)
            .bind(&self.project_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(domain_row).collect()
    }

    /// Marks the project's claim on `name` verified, unless another
    /// project holds the name verified.
    pub async fn verify_domain(&self, name: &str) -> Result<Verified> {
        let updated = sqlx::query("UPDATE domains SET verified_ms = $1 WHERE project_id = $2 AND name = $3")
            .bind(now_ms())
            .bind(&self.project_id)
            .bind(name)
            .execute(self.pool())
            .await;
        match updated {
            Ok(done) if done.rows_affected() > 0 => Ok(Verified::Done),
            Ok(_) => Ok(Verified::Missing),
            Err(e) if is_unique_violation(&e) => Ok(Verified::Taken),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the project's claim on `name`.
    pub async fn delete_domain(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM domains WHERE project_id = $1 AND name = $2")
            .bind(&self.project_id)
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl Store {
    /// Every verified domain and the project that holds it, for the
    /// gateway's table.
    pub async fn verified_domains(&self) -> Result<Vec<DomainRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE d.verified_ms IS NOT NULL AND p.deleted_ms IS NULL ORDER BY d.name"
        );
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(domain_row).collect()
    }
}
