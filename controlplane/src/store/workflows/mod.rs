//! Workflows and their immutable versions. A definition is stored as the
//! text that was validated; the same text again is the same version.
//!
//! - `executions`: executions, and their journals as read.
//! - `journal`: appending to journals.
//! - `leases`: the leases of the nodes that drive executions, and
//!   signals sent to them.
//! - `retention`: ended executions past their retention, deleted.

pub mod executions;
pub mod journal;
pub mod leases;
pub mod retention;

use super::projects::ProjectScope;
use super::{Result, inserted};
use crate::util::{new_id, now_ms};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A stored workflow.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorkflowRow {
    /// Stable id.
    pub id: String,
    /// Owning project's id.
    #[serde(skip)]
    pub project_id: String,
    /// Unique in the project.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The execution role's name (empty: none).
    pub role: String,
    /// The version new executions run.
    pub version: i64,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Last change, epoch ms.
    pub updated_ms: i64,
}

const WORKFLOW_COLUMNS: &str = "id, project_id, name, description, role, version, created_ms, updated_ms";

fn workflow_row(r: &AnyRow) -> Result<WorkflowRow> {
    Ok(WorkflowRow {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        role: r.try_get("role")?,
        version: r.try_get("version")?,
        created_ms: r.try_get("created_ms")?,
        updated_ms: r.try_get("updated_ms")?,
    })
}

/// What a `PUT` of a workflow stores.
#[derive(Debug, Clone, Copy)]
pub struct NewDefinition<'a> {
    /// The definition's text, validated.
    pub text: &'a str,
    /// Its SHA-256, hex.
    pub sha256: &'a str,
    /// The execution role's name (empty: none).
    pub role: &'a str,
    /// Free text.
    pub description: &'a str,
}

/// What a `PUT` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// A new workflow.
    Created,
    /// A new version of an existing workflow.
    NewVersion,
    /// The same definition as a version it had: that version is current.
    Unchanged,
}

/// Why a workflow could not be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteRefused {
    /// No such workflow.
    NotFound,
    /// It has executions still running.
    Running(i64),
}

impl ProjectScope {
    /// Stores `definition` as the current version of workflow `name`,
    /// creating the workflow or a version as needed. `None` when another
    /// writer created the workflow at the same moment (retry).
    pub async fn put_workflow(
        &self,
        name: &str,
        definition: NewDefinition<'_>,
    ) -> Result<Option<(WorkflowRow, PutOutcome)>> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query(&format!(
            "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE project_id = $1 AND name = $2"
        ))
        .bind(&self.project_id)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        let (id, outcome, version) = match existing.as_ref().map(workflow_row).transpose()? {
            None => {
                let id = new_id();
                let done = sqlx::query(&format!(
                    "INSERT INTO workflows ({WORKFLOW_COLUMNS}) VALUES ($1, $2, $3, $4, $5, 1, $6, $6)"
                ))
                .bind(&id)
                .bind(&self.project_id)
                .bind(name)
                .bind(definition.description)
                .bind(definition.role)
                .bind(now)
                .execute(&mut *tx)
                .await;
                if !inserted(done)? {
                    return Ok(None);
                }
                (id, PutOutcome::Created, None)
            }
            Some(w) => {
                let same: Option<i64> = sqlx::query_scalar(
                    "SELECT version FROM workflow_versions WHERE workflow_id = $1 AND sha256 = $2",
                )
                .bind(&w.id)
                .bind(definition.sha256)
                .fetch_optional(&mut *tx)
                .await?;
                match same {
                    Some(v) => (w.id, PutOutcome::Unchanged, Some(v)),
                    None => (w.id, PutOutcome::NewVersion, None),
                }
            }
        };
        let version = match version {
            Some(v) => v,
            None => {
                let last: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(version) FROM workflow_versions WHERE workflow_id = $1")
                        .bind(&id)
                        .fetch_one(&mut *tx)
                        .await?;
                let v = last.unwrap_or(0) + 1;
                sqlx::query(
                    "INSERT INTO workflow_versions (workflow_id, version, project_id, sha256, definition_json, \
                     created_ms, engine_version) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&id)
                .bind(v)
                .bind(&self.project_id)
                .bind(definition.sha256)
                .bind(definition.text)
                .bind(now)
                .bind(minicloud_asl::machine::ENGINE_VERSION)
                .execute(&mut *tx)
                .await?;
                v
            }
        };
        sqlx::query(
            "UPDATE workflows SET version = $1, role = $2, description = $3, updated_ms = $4 \
             WHERE id = $5 AND project_id = $6",
        )
        .bind(version)
        .bind(definition.role)
        .bind(definition.description)
        .bind(now)
        .bind(&id)
        .bind(&self.project_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let row = self.workflow(name).await?;
        Ok(row.map(|r| (r, outcome)))
    }

    /// A workflow by name.
    pub async fn workflow(&self, name: &str) -> Result<Option<WorkflowRow>> {
        let row = sqlx::query(&format!(
            "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE project_id = $1 AND name = $2"
        ))
        .bind(&self.project_id)
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(workflow_row).transpose()
    }

    /// Workflows by name after `after`, at most `limit`.
    pub async fn workflows(&self, after: Option<&str>, limit: i64) -> Result<Vec<WorkflowRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE project_id = $1 AND name > $2 ORDER BY name LIMIT $3"
        ))
        .bind(&self.project_id)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(workflow_row).collect()
    }

    /// The definition text of a version of a workflow of this project.
    pub async fn workflow_definition(&self, workflow_id: &str, version: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT definition_json FROM workflow_versions WHERE workflow_id = $1 AND version = $2 AND project_id = $3",
        )
        .bind(workflow_id)
        .bind(version)
        .bind(&self.project_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Deletes a workflow with its versions and ended executions; refused
    /// while executions run.
    pub async fn delete_workflow(&self, name: &str) -> Result<std::result::Result<(), DeleteRefused>> {
        let mut tx = self.begin_write().await?;
        let id: Option<String> =
            sqlx::query_scalar("SELECT id FROM workflows WHERE project_id = $1 AND name = $2")
                .bind(&self.project_id)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(id) = id else {
            return Ok(Err(DeleteRefused::NotFound));
        };
        let running: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM workflow_executions WHERE workflow_id = $1 AND status = 'RUNNING'",
        )
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
        if running > 0 {
            return Ok(Err(DeleteRefused::Running(running)));
        }
        for sql in [
            "DELETE FROM workflow_events WHERE execution_id IN (SELECT id FROM workflow_executions WHERE workflow_id = $1)",
            "DELETE FROM workflow_signals WHERE execution_id IN (SELECT id FROM workflow_executions WHERE workflow_id = $1)",
            "DELETE FROM workflow_executions WHERE workflow_id = $1",
            "DELETE FROM workflow_versions WHERE workflow_id = $1",
            "DELETE FROM workflows WHERE id = $1",
        ] {
            sqlx::query(sql).bind(&id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Ok(()))
    }
}
