//! Orgs, and the projects they contain.
//!
//! Deletes are soft: the row stays (its name reserved, its history
//! readable) and every lookup filters it out at once.

use super::projects::Project;
use super::{Result, Store, StoreError, is_unique_violation};
use crate::util::{new_id, now_ms};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// An org: the tenant that owns projects, users and policies.
#[derive(Debug, Clone, Serialize)]
pub struct Org {
    /// Stable id.
    pub id: String,
    /// Unique name, used in URLs.
    pub name: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
}

fn org(r: &AnyRow) -> Org {
    Org {
        id: r.get("id"),
        name: r.get("name"),
        created_ms: r.get("created_ms"),
    }
}

/// Why a tenancy change was refused.
#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    /// The name is taken (names of deleted orgs and projects stay taken).
    #[error("the name {0:?} is taken")]
    NameTaken(String),
    /// The org or project still contains something.
    #[error("{0}")]
    NotEmpty(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for TenancyError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

impl Store {
    /// Creates an org.
    pub async fn create_org(&self, name: &str) -> std::result::Result<Org, TenancyError> {
        let row = Org {
            id: new_id(),
            name: name.to_owned(),
            created_ms: now_ms(),
        };
        let inserted = sqlx::query("INSERT INTO orgs (id, name, created_ms) VALUES ($1, $2, $3)")
            .bind(&row.id)
            .bind(&row.name)
            .bind(row.created_ms)
            .execute(self.pool())
            .await;
        match inserted {
            Ok(_) => Ok(row),
            Err(e) if is_unique_violation(&e) => Err(TenancyError::NameTaken(name.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// A live org by name.
    pub async fn org(&self, name: &str) -> Result<Option<Org>> {
        let row = sqlx::query("SELECT id, name, created_ms FROM orgs WHERE name = $1 AND deleted_ms IS NULL")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(org))
    }

    /// Live orgs in name order, after `cursor`, at most `limit`.
    pub async fn list_orgs(&self, cursor: &str, limit: i64) -> Result<Vec<Org>> {
        let rows = sqlx::query(
            "SELECT id, name, created_ms FROM orgs WHERE deleted_ms IS NULL AND name > $1 \
             ORDER BY name LIMIT $2",
        )
        .bind(cursor)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(org).collect())
    }

    /// Soft-deletes an org that has no live project.
    pub async fn delete_org(&self, org: &Org) -> std::result::Result<(), TenancyError> {
        let mut tx = self.pool().begin().await?;
        let live: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM projects WHERE org_id = $1 AND deleted_ms IS NULL")
                .bind(&org.id)
                .fetch_one(&mut *tx)
                .await?
                .get("n");
        if live > 0 {
            return Err(TenancyError::NotEmpty(format!(
                "org {:?} still has {live} project(s); delete them first",
                org.name
            )));
        }
        sqlx::query("UPDATE orgs SET deleted_ms = $1 WHERE id = $2 AND deleted_ms IS NULL")
            .bind(now_ms())
            .bind(&org.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates a project in an org. Project names are unique across orgs:
    /// they appear in URLs on their own.
    pub async fn create_project(&self, org: &Org, name: &str) -> std::result::Result<Project, TenancyError> {
        let project = Project {
            id: new_id(),
            name: name.to_owned(),
            org_id: org.id.clone(),
            org_name: org.name.clone(),
        };
        let inserted =
            sqlx::query("INSERT INTO projects (id, name, org_id, created_ms) VALUES ($1, $2, $3, $4)")
                .bind(&project.id)
                .bind(&project.name)
                .bind(&project.org_id)
                .bind(now_ms())
                .execute(self.pool())
                .await;
        match inserted {
            Ok(_) => Ok(project),
            Err(e) if is_unique_violation(&e) => Err(TenancyError::NameTaken(name.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// Live projects of an org in name order, after `cursor`.
    pub async fn list_projects(&self, org: &Org, cursor: &str, limit: i64) -> Result<Vec<Project>> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM projects p JOIN orgs o ON o.id = p.org_id \
             WHERE p.org_id = $1 AND p.deleted_ms IS NULL AND p.name > $2 ORDER BY p.name LIMIT $3",
            super::projects::PROJECT_COLUMNS
        ))
        .bind(&org.id)
        .bind(cursor)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(super::projects::project).collect())
    }

    /// Soft-deletes a project that has no function, route or workflow.
    pub async fn delete_project(&self, project: &Project) -> std::result::Result<(), TenancyError> {
        let mut tx = self.pool().begin().await?;
        let functions: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM functions WHERE project_id = $1 AND deleted_ms IS NULL")
                .bind(&project.id)
                .fetch_one(&mut *tx)
                .await?
                .get("n");
        let routes: i64 = sqlx::query("SELECT COUNT(*) AS n FROM routes WHERE project_id = $1")
            .bind(&project.id)
            .fetch_one(&mut *tx)
            .await?
            .get("n");
        let workflows: i64 = sqlx::query("SELECT COUNT(*) AS n FROM workflows WHERE project_id = $1")
            .bind(&project.id)
            .fetch_one(&mut *tx)
            .await?
            .get("n");
        if functions + routes + workflows > 0 {
            return Err(TenancyError::NotEmpty(format!(
                "project {:?} still has {functions} function(s), {routes} route(s) and {workflows} workflow(s); delete them first",
                project.name
            )));
        }
        // A deleted project's domains are free for others to verify.
        sqlx::query("DELETE FROM domains WHERE project_id = $1")
            .bind(&project.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE projects SET deleted_ms = $1 WHERE id = $2 AND deleted_ms IS NULL")
            .bind(now_ms())
            .bind(&project.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
