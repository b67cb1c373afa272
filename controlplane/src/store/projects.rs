//! Projects by name, and API tokens.

use super::{Result, Store};
use crate::util::{new_id, now_ms};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A project: the unit that owns functions and routes, inside an org.
#[derive(Debug, Clone)]
pub struct Project {
    /// Stable id.
    pub id: String,
    /// Unique name, used in URLs.
    pub name: String,
    /// The org that owns it.
    pub org_id: String,
    /// That org's name (for resource names).
    pub org_name: String,
}

pub(crate) fn project(r: &AnyRow) -> Project {
    Project {
        id: r.get("id"),
        name: r.get("name"),
        org_id: r.get("org_id"),
        org_name: r.get("org_name"),
    }
}

impl Project {
    /// The org that owns the project, as far as the project row knows it
    /// (id and name; the creation time is not loaded).
    pub fn org(&self) -> super::orgs::Org {
        super::orgs::Org {
            id: self.org_id.clone(),
            name: self.org_name.clone(),
            created_ms: 0,
        }
    }
}

/// The columns `project` reads, from `projects p JOIN orgs o`.
pub(crate) const PROJECT_COLUMNS: &str = "p.id AS id, p.name AS name, p.org_id AS org_id, o.name AS org_name";

/// The functions, routes and records of one project: every query through
/// it binds the project's id itself, so no caller can reach another
/// project's rows by forgetting a `WHERE`.
#[derive(Debug, Clone)]
pub struct ProjectScope {
    store: Store,
    /// The project's id.
    pub project_id: String,
}

impl ProjectScope {
    pub(crate) fn pool(&self) -> super::Db<'_> {
        self.store.pool()
    }

    pub(crate) fn backend(&self) -> super::Backend {
        self.store.backend()
    }

    /// A transaction that will write (see [`Store::begin_write`]).
    pub(crate) async fn begin_write(&self) -> super::Result<sqlx::Transaction<'static, sqlx::Any>> {
        self.store.begin_write().await
    }
}

impl Store {
    /// The repository of one project's functions, routes and records.
    pub fn in_project(&self, project: &Project) -> ProjectScope {
        ProjectScope {
            store: self.clone(),
            project_id: project.id.clone(),
        }
    }
}

impl Store {
    /// Live functions of every project, at most `limit`, in the order a
    /// starting node loads them ahead of their first requests: the most
    /// recently invoked first (the ones likely to be called again soon),
    /// then the most recently changed.
    pub async fn functions_to_warm(&self, limit: i64) -> Result<Vec<(Project, String)>> {
        let rows = sqlx::query(&format!(
            "SELECT {PROJECT_COLUMNS}, f.name AS function_name FROM functions f \
             JOIN projects p ON p.id = f.project_id JOIN orgs o ON o.id = p.org_id \
             WHERE f.deleted_ms IS NULL AND p.deleted_ms IS NULL AND o.deleted_ms IS NULL \
             ORDER BY COALESCE((SELECT MAX(k.started_s) FROM invocation_packs k \
               WHERE k.project_id = f.project_id AND k.function_name = f.name) * 1000, \
               (SELECT MAX(i.started_ms) FROM invocations i \
               WHERE i.project_id = f.project_id AND i.function_name = f.name), 0) DESC, \
             f.updated_ms DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| (project(r), r.get("function_name")))
            .collect())
    }
}

/// The id of the `default` org, which the migrations create.
pub const DEFAULT_ORG_ID: &str = "org-default";

impl Store {
    /// A live project by id.
    pub async fn project_by_id(&self, id: &str) -> Result<Option<Project>> {
        self.live_project("p.id", id).await
    }

    /// Finds a live project by name.
    pub async fn project(&self, name: &str) -> Result<Option<Project>> {
        self.live_project("p.name", name).await
    }

    /// The live project whose `column` (a fixed column name, never input)
    /// equals `value`.
    async fn live_project(&self, column: &'static str, value: &str) -> Result<Option<Project>> {
        let row = sqlx::query(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects p JOIN orgs o ON o.id = p.org_id \
             WHERE {column} = $1 AND p.deleted_ms IS NULL AND o.deleted_ms IS NULL"
        ))
        .bind(value)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(project))
    }

    /// Creates a project in the `default` org unless one of that name
    /// exists; returns it.
    pub async fn ensure_project(&self, name: &str) -> Result<Project> {
        if let Some(p) = self.project(name).await? {
            return Ok(p);
        }
        let id = new_id();
        let inserted = sqlx::query("INSERT INTO projects (id, name, created_ms) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(name)
            .bind(now_ms())
            .execute(self.pool())
            .await;
        match inserted {
            Ok(_) => Ok(Project {
                id,
                name: name.to_owned(),
                org_id: DEFAULT_ORG_ID.to_owned(),
                org_name: "default".to_owned(),
            }),
            // Another node created it first.
            Err(e) if super::is_unique_violation(&e) => self
                .project(name)
                .await?
                .ok_or_else(|| super::StoreError::Corrupt(format!("project {name} vanished"))),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether any API token exists (false on a first start).
    pub async fn has_tokens(&self) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM api_tokens")
            .fetch_one(self.pool())
            .await?;
        Ok(row.get::<i64, _>("n") > 0)
    }

    /// Whether a token hash belongs to a stored token.
    pub async fn token_exists(&self, token_hash: &str) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_one(self.pool())
            .await?;
        Ok(row.get::<i64, _>("n") > 0)
    }
}
