//! Functions, their immutable versions, and their settings.

use super::projects::ProjectScope;
use super::quotas::{CountLimit, CreateRefused};
use super::{Result, StoreError, is_unique_violation};
use crate::util::{new_id, now_ms};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

/// Per-function settings; apply to every version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// Linear memory limit per instance, bytes.
    pub memory_bytes: i64,
    /// Wall-clock limit per invocation, milliseconds.
    pub timeout_ms: i64,
    /// Largest request body, bytes.
    pub max_request_bytes: i64,
    /// Largest response body, bytes.
    pub max_response_bytes: i64,
    /// Instances that may run at once.
    pub concurrency: i64,
    /// Environment variables the guest sees (and nothing else).
    pub env: BTreeMap<String, String>,
    /// Who may call it over HTTP.
    pub http_auth: HttpAuth,
    /// Tags, seen by policies as `mc:ResourceTag/<key>`.
    pub tags: super::iam::Tags,
    /// The execution role (a role of the org); empty: nothing granted.
    pub role: String,
    /// Plain settings served through `wasi:config`.
    pub config: BTreeMap<String, String>,
    /// Per-invocation caps on host calls, requests and bytes.
    pub host_limits: minicloud_runtime::HostLimits,
    /// Instance reuse across requests (WASI 0.3 HTTP functions); `None`:
    /// a fresh instance per request.
    pub reuse: Option<minicloud_runtime::Reuse>,
}

/// Who may call a function over HTTP.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum HttpAuth {
    /// Anyone.
    #[default]
    Public,
    /// Callers whose token allows `functions:InvokeFunction` on it.
    Authenticated,
}

impl HttpAuth {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpAuth::Public => "public",
            HttpAuth::Authenticated => "authenticated",
        }
    }

    /// From storage or a query string.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(HttpAuth::Public),
            "authenticated" => Some(HttpAuth::Authenticated),
            _ => None,
        }
    }
}

/// A function as stored.
#[derive(Debug, Clone)]
pub struct FunctionRow {
    /// Stable id.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Name, unique in the project.
    pub name: String,
    /// The version that serves calls.
    pub active_version: i64,
    /// Limits and environment.
    pub settings: Settings,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Last change, epoch ms.
    pub updated_ms: i64,
}

/// One immutable version of a function.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionRow {
    /// 1, 2, 3...
    pub version: i64,
    /// Hex SHA-256 of the uploaded component.
    pub sha256: String,
    /// Size of the uploaded component, bytes.
    pub size_bytes: i64,
    /// `http` or `handler`.
    pub world: String,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Whether its component is a composition (which never reuses
    /// instances), as its deploy read it; `None` for versions deployed
    /// before that was recorded.
    #[serde(skip)]
    pub composed: Option<bool>,
}

/// What a deploy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployOutcome {
    /// A new version was created.
    Created,
    /// The same bytes were already a version; it is now active.
    Existing,
}

const FUNCTION_COLUMNS: &str = "id, project_id, name, active_version, memory_bytes, timeout_ms, \
     max_request_bytes, max_response_bytes, concurrency, env_json, http_auth, tags_json, role_name, config_json, \
     host_limits_json, reuse_json, created_ms, updated_ms";

fn function_row(r: &AnyRow) -> Result<FunctionRow> {
    let env_json: String = r.try_get("env_json")?;
    let env = serde_json::from_str(&env_json)
        .map_err(|e| StoreError::Corrupt(format!("functions.env_json: {e}")))?;
    Ok(FunctionRow {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        name: r.try_get("name")?,
        active_version: r.try_get("active_version")?,
        settings: Settings {
            memory_bytes: r.try_get("memory_bytes")?,
            timeout_ms: r.try_get("timeout_ms")?,
            max_request_bytes: r.try_get("max_request_bytes")?,
            max_response_bytes: r.try_get("max_response_bytes")?,
            concurrency: r.try_get("concurrency")?,
            env,
            http_auth: HttpAuth::parse(&r.try_get::<String, _>("http_auth")?)
                .ok_or_else(|| StoreError::Corrupt("functions.http_auth".into()))?,
            tags: super::iam::tags_from_json(&r.try_get::<String, _>("tags_json")?),
            role: r.try_get("role_name")?,
            config: serde_json::from_str(&r.try_get::<String, _>("config_json")?)
                .map_err(|e| StoreError::Corrupt(format!("functions.config_json: {e}")))?,
            host_limits: serde_json::from_str(&r.try_get::<String, _>("host_limits_json")?)
                .map_err(|e| StoreError::Corrupt(format!("functions.host_limits_json: {e}")))?,
            reuse: serde_json::from_str(&r.try_get::<String, _>("reuse_json")?)
                .map_err(|e| StoreError::Corrupt(format!("functions.reuse_json: {e}")))?,
        },
        created_ms: r.try_get("created_ms")?,
        updated_ms: r.try_get("updated_ms")?,
    })
}

fn version_row(r: &AnyRow) -> Result<VersionRow> {
    Ok(VersionRow {
        version: r.try_get("version")?,
        sha256: r.try_get("sha256")?,
        size_bytes: r.try_get("size_bytes")?,
        world: r.try_get("world")?,
        created_ms: r.try_get("created_ms")?,
        composed: r.try_get::<Option<i64>, _>("composed")?.map(|c| c != 0),
    })
}

fn env_json(settings: &Settings) -> String {
    serde_json::to_string(&settings.env).unwrap_or_else(|_| "{}".into())
}

/// Binds the settings columns, in the order both the INSERT and the UPDATE
/// list them: memory, timeout, request and response limits, concurrency,
/// environment, HTTP auth, tags, role, config, host limits, reuse.
fn bind_settings<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    s: &Settings,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(s.memory_bytes)
        .bind(s.timeout_ms)
        .bind(s.max_request_bytes)
        .bind(s.max_response_bytes)
        .bind(s.concurrency)
        .bind(env_json(s))
        .bind(s.http_auth.as_str())
        .bind(serde_json::to_string(&s.tags).unwrap_or_else(|_| "{}".into()))
        .bind(s.role.clone())
        .bind(serde_json::to_string(&s.config).unwrap_or_else(|_| "{}".into()))
        .bind(serde_json::to_string(&s.host_limits).unwrap_or_else(|_| "{}".into()))
        .bind(serde_json::to_string(&s.reuse).unwrap_or_else(|_| "null".into()))
}

/// A function of a project, by name, through any executor.
async fn fetch_function<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    project_id: &str,
    name: &str,
) -> Result<Option<FunctionRow>> {
    let sql = format!(
        "SELECT {FUNCTION_COLUMNS} FROM functions WHERE project_id = $1 AND name = $2 AND deleted_ms IS NULL"
    );
    let row = sqlx::query(&sql)
        .bind(project_id)
        .bind(name)
        .fetch_optional(exec)
        .await?;
    row.as_ref().map(function_row).transpose()
}

/// Writes a function's active version and settings.
async fn write_settings<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    function_id: &str,
    project_id: &str,
    active_version: i64,
    settings: &Settings,
    now: i64,
) -> Result<()> {
    let query = sqlx::query(
        "UPDATE functions SET active_version = $1, memory_bytes = $2, timeout_ms = $3, \
         max_request_bytes = $4, max_response_bytes = $5, concurrency = $6, env_json = $7, \
         http_auth = $8, tags_json = $9, role_name = $10, config_json = $11, host_limits_json = $12, \
         reuse_json = $13, updated_ms = $14 WHERE id = $15 AND project_id = $16",
    )
    .bind(active_version);
    bind_settings(query, settings)
        .bind(now)
        .bind(function_id)
        .bind(project_id)
        .execute(exec)
        .await?;
    Ok(())
}

/// The fields of a new version.
#[derive(Debug)]
pub struct NewVersion<'a> {
    /// Hex SHA-256 of the component.
    pub sha256: &'a str,
    /// Size in bytes.
    pub size_bytes: i64,
    /// `http` or `handler`.
    pub world: &'a str,
    /// Whether the component is a composition.
    pub composed: bool,
}

impl ProjectScope {
    /// A function of the project, by name.
    pub async fn function(&self, name: &str) -> Result<Option<FunctionRow>> {
        fetch_function(self.pool(), &self.project_id, name).await
    }

    /// Functions of a project in name order, after `cursor`, at most `limit`.
    pub async fn list_functions(&self, cursor: &str, limit: i64) -> Result<Vec<FunctionRow>> {
        let project_id = self.project_id.as_str();
        let sql = format!(
            "SELECT {FUNCTION_COLUMNS} FROM functions WHERE project_id = $1 AND deleted_ms IS NULL AND name > $2 \
             ORDER BY name LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(project_id)
            .bind(cursor)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(function_row).collect()
    }

    /// One version of a function.
    pub async fn version(&self, function_id: &str, version: i64) -> Result<Option<VersionRow>> {
        let row = sqlx::query(
            "SELECT version, sha256, size_bytes, world, created_ms, composed FROM function_versions \
             WHERE function_id = $1 AND version = $2 AND project_id = $3",
        )
        .bind(function_id)
        .bind(version)
        .bind(&self.project_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(version_row).transpose()
    }

    /// All versions of a function, newest first.
    pub async fn versions(&self, function_id: &str) -> Result<Vec<VersionRow>> {
        let rows = sqlx::query(
            "SELECT version, sha256, size_bytes, world, created_ms, composed FROM function_versions \
             WHERE function_id = $1 AND project_id = $2 ORDER BY version DESC",
        )
        .bind(function_id)
        .bind(&self.project_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(version_row).collect()
    }

    /// Records a deploy: creates the function (if `limit` has room for
    /// it) or a new version of it, or, when the same bytes are already a
    /// version, makes that one active. `settings` replace the function's
    /// settings.
    pub async fn deploy(
        &self,
        name: &str,
        new: NewVersion<'_>,
        settings: &Settings,
        limit: &CountLimit,
    ) -> Result<Result<(FunctionRow, VersionRow, DeployOutcome), CreateRefused>> {
        let project_id = self.project_id.as_str();
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let existing = fetch_function(&mut *tx, project_id, name).await?;
        let (function_id, version, outcome) = match existing {
            None => {
                if let Err(q) = limit.check(&mut tx, project_id).await? {
                    return Ok(Err(q.into()));
                }
                let id = new_id();
                let query = sqlx::query(
                    "INSERT INTO functions (id, project_id, name, active_version, memory_bytes, \
                     timeout_ms, max_request_bytes, max_response_bytes, concurrency, env_json, \
                     http_auth, tags_json, role_name, config_json, host_limits_json, reuse_json, \
                     created_ms, updated_ms) \
                     VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)",
                )
                .bind(&id)
                .bind(project_id)
                .bind(name);
                let inserted = bind_settings(query, settings).bind(now).execute(&mut *tx).await;
                match inserted {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => return Ok(Err(CreateRefused::Conflict)),
                    Err(e) => return Err(e.into()),
                }
                (id, 1, DeployOutcome::Created)
            }
            Some(f) => {
                let same = sqlx::query(
                    "SELECT version FROM function_versions WHERE function_id = $1 AND sha256 = $2 \
                     ORDER BY version DESC LIMIT 1",
                )
                .bind(&f.id)
                .bind(new.sha256)
                .fetch_optional(&mut *tx)
                .await?;
                let (version, outcome) = match same {
                    Some(row) => (row.try_get::<i64, _>("version")?, DeployOutcome::Existing),
                    None => {
                        let row = sqlx::query(
                            "SELECT COALESCE(MAX(version), 0) AS v FROM function_versions \
                             WHERE function_id = $1",
                        )
                        .bind(&f.id)
                        .fetch_one(&mut *tx)
                        .await?;
                        (row.try_get::<i64, _>("v")? + 1, DeployOutcome::Created)
                    }
                };
                write_settings(&mut *tx, &f.id, project_id, version, settings, now).await?;
                (f.id, version, outcome)
            }
        };
        if outcome == DeployOutcome::Created {
            let inserted = sqlx::query(
                "INSERT INTO function_versions (function_id, project_id, version, sha256, \
                 size_bytes, world, created_ms, composed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&function_id)
            .bind(project_id)
            .bind(version)
            .bind(new.sha256)
            .bind(new.size_bytes)
            .bind(new.world)
            .bind(now)
            .bind(i64::from(new.composed))
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Ok(Err(CreateRefused::Conflict)),
                Err(e) => return Err(e.into()),
            }
        }
        tx.commit().await?;
        let function = self
            .function(name)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("function {name} vanished after deploy")))?;
        let version = self
            .version(&function.id, version)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("version {version} of {name} vanished")))?;
        Ok(Ok((function, version, outcome)))
    }

    /// Replaces a function's settings and active version.
    pub async fn update_function(&self, f: &FunctionRow) -> Result<()> {
        write_settings(
            self.pool(),
            &f.id,
            &self.project_id,
            f.active_version,
            &f.settings,
            now_ms(),
        )
        .await
    }

    /// Deletes a function softly: it vanishes from every lookup at once,
    /// its name is free again, and its row, versions and invocation history
    /// stay.
    pub async fn delete_function(&self, function_id: &str) -> Result<bool> {
        let project_id = self.project_id.as_str();
        let done = sqlx::query(
            "UPDATE functions SET deleted_ms = $1, deleted_name = name, name = name || '~' || id \
             WHERE id = $2 AND project_id = $3 AND deleted_ms IS NULL",
        )
        .bind(now_ms())
        .bind(function_id)
        .bind(project_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
