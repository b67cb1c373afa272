//! Executions: their rows, and their journals (append-only, numbered from
//! 0) as read.

use crate::store::projects::ProjectScope;
use crate::store::{Result, Store, StoreError, inserted, json_column};
use crate::util::{new_id, now_ms};
use minicloud_asl::machine::ENGINE_VERSION;
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A stored execution.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExecutionRow {
    /// Stable id, unique across the platform.
    pub id: String,
    /// Owning project's id.
    #[serde(skip)]
    pub project_id: String,
    /// The workflow's id.
    #[serde(skip)]
    pub workflow_id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The version it runs.
    pub version: i64,
    /// Unique among the workflow's executions.
    pub name: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
    /// Its input (any JSON value).
    pub input: Value,
    /// Its output (any JSON value), once it succeeded.
    pub output: Option<Value>,
    /// Its error, once it failed.
    pub error: Option<String>,
    /// Its cause, once it failed.
    pub cause: Option<String>,
    /// The execution role's name (empty: none).
    pub role: String,
    /// Start time, epoch ms.
    pub started_ms: i64,
    /// Epoch ms, once it ended.
    pub stopped_ms: Option<i64>,
    /// Events in its journal.
    pub events: i64,
    /// The chain of event deliveries that started it (see
    /// `events::loops`); its status events continue it.
    #[serde(skip)]
    pub hops: i64,
}

pub(super) const EXECUTION_COLUMNS: &str = "id, project_id, workflow_id, workflow_name, version, name, status, input_json, \
     output_json, error, cause, role, started_ms, stopped_ms, events, hops";

pub(super) fn execution_row(r: &AnyRow) -> Result<ExecutionRow> {
    let output: Option<String> = r.try_get("output_json")?;
    Ok(ExecutionRow {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        workflow_id: r.try_get("workflow_id")?,
        workflow: r.try_get("workflow_name")?,
        version: r.try_get("version")?,
        name: r.try_get("name")?,
        status: r.try_get("status")?,
        input: json_column(r, "input_json")?,
        output: output
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("output_json: {e}")))?,
        error: r.try_get("error")?,
        cause: r.try_get("cause")?,
        role: r.try_get("role")?,
        started_ms: r.try_get("started_ms")?,
        stopped_ms: r.try_get("stopped_ms")?,
        events: r.try_get("events")?,
        hops: r.try_get("hops")?,
    })
}

/// A new execution.
#[derive(Debug, Clone)]
pub struct NewExecution<'a> {
    /// The workflow's id.
    pub workflow_id: &'a str,
    /// The workflow's name.
    pub workflow: &'a str,
    /// The version it runs.
    pub version: i64,
    /// Its name (a fresh id when the caller gave none).
    pub name: &'a str,
    /// Its input.
    pub input: &'a Value,
    /// The execution role's name.
    pub role: &'a str,
    /// The chain of deliveries that started it (0 from the API).
    pub hops: i64,
}

/// One journal entry as stored.
#[derive(Debug, Clone, Serialize)]
pub struct JournalRow {
    /// Its number in the journal, from 0.
    pub seq: i64,
    /// The event.
    pub body: Value,
    /// When it happened, epoch ms.
    pub at_ms: i64,
}

/// A task of a running execution that waits for its token to be answered.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OpenTask {
    /// The token to answer it with (`POST /task-tokens/success` or
    /// `/failure`).
    pub token: String,
    /// The execution's id.
    pub execution_id: String,
    /// The execution's name.
    pub execution: String,
    /// The Task state that waits (empty for a task opened before the
    /// platform recorded it).
    pub state: String,
    /// The state's resource.
    pub resource: String,
    /// The task's input (the payload sent with the token).
    pub input: Value,
    /// When it began waiting, epoch ms (0 when not recorded).
    pub opened_ms: i64,
}

impl ProjectScope {
    /// Tasks of `workflow_id`'s running executions that wait for their
    /// tokens (not answered yet), oldest first, after `after`
    /// (`(opened_ms, token)` of the previous page's last).
    pub async fn open_tasks(
        &self,
        workflow_id: &str,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<OpenTask>> {
        let (after_ms, after_token) = after.unwrap_or((i64::MIN, ""));
        let rows = sqlx::query(
            "SELECT t.token, t.execution_id, e.name, t.state, t.resource, t.input_json, t.opened_ms \
             FROM workflow_task_tokens t JOIN workflow_executions e ON e.id = t.execution_id \
             WHERE e.project_id = $1 AND e.workflow_id = $2 AND e.status = 'RUNNING' AND t.answered_ms = 0 \
               AND (t.opened_ms > $3 OR (t.opened_ms = $3 AND t.token > $4)) \
             ORDER BY t.opened_ms, t.token LIMIT $5",
        )
        .bind(&self.project_id)
        .bind(workflow_id)
        .bind(after_ms)
        .bind(after_token)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OpenTask {
                    token: r.try_get("token")?,
                    execution_id: r.try_get("execution_id")?,
                    execution: r.try_get("name")?,
                    state: r.try_get("state")?,
                    resource: r.try_get("resource")?,
                    input: json_column(r, "input_json")?,
                    opened_ms: r.try_get("opened_ms")?,
                })
            })
            .collect()
    }

    /// Stores a new execution, leased to `owner` until `lease_ms`, for
    /// the newer of this node's engine and the one that wrote its
    /// definition (see migration 0018). When the workflow already has one
    /// of that name, answers that one and `false`.
    pub async fn insert_execution(
        &self,
        new: NewExecution<'_>,
        owner: &str,
        lease_ms: i64,
    ) -> Result<(ExecutionRow, bool)> {
        let id = new_id();
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO workflow_executions (id, project_id, workflow_id, workflow_name, version, name, status, \
             input_json, role, started_ms, events, lease_owner, lease_ms, hops, engine_version) \
             VALUES ($1, $2, $3, $4, $5, $6, 'RUNNING', $7, $8, $9, 0, $10, $11, $12, \
             COALESCE((SELECT engine_version FROM workflow_versions \
                       WHERE workflow_id = $3 AND version = $5 AND engine_version > $13), $13))",
        )
        .bind(&id)
        .bind(&self.project_id)
        .bind(new.workflow_id)
        .bind(new.workflow)
        .bind(new.version)
        .bind(new.name)
        .bind(new.input.to_string())
        .bind(new.role)
        .bind(now)
        .bind(owner)
        .bind(lease_ms)
        .bind(new.hops)
        .bind(ENGINE_VERSION)
        .execute(self.pool())
        .await;
        if inserted(done)? {
            let row = ExecutionRow {
                id,
                project_id: self.project_id.clone(),
                workflow_id: new.workflow_id.to_owned(),
                workflow: new.workflow.to_owned(),
                version: new.version,
                name: new.name.to_owned(),
                status: "RUNNING".to_owned(),
                input: new.input.clone(),
                output: None,
                error: None,
                cause: None,
                role: new.role.to_owned(),
                started_ms: now,
                stopped_ms: None,
                events: 0,
                hops: new.hops,
            };
            return Ok((row, true));
        }
        let row = self
            .execution_named(new.workflow_id, new.name)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("execution {} vanished", new.name)))?;
        Ok((row, false))
    }

    /// An execution of the workflow by name.
    pub async fn execution_named(&self, workflow_id: &str, name: &str) -> Result<Option<ExecutionRow>> {
        let row = sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM workflow_executions WHERE project_id = $1 AND workflow_id = $2 AND name = $3"
        ))
        .bind(&self.project_id)
        .bind(workflow_id)
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(execution_row).transpose()
    }

    /// An execution of this project by id.
    pub async fn execution(&self, id: &str) -> Result<Option<ExecutionRow>> {
        let row = sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM workflow_executions WHERE project_id = $1 AND id = $2"
        ))
        .bind(&self.project_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(execution_row).transpose()
    }

    /// A workflow's executions, newest first, optionally of one status,
    /// before the `(started_ms, id)` cursor; at most `limit`.
    pub async fn executions(
        &self,
        workflow_id: &str,
        status: Option<&str>,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<ExecutionRow>> {
        let (before_ms, before_id) = before.unwrap_or((i64::MAX, ""));
        let rows = sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM workflow_executions WHERE project_id = $1 AND workflow_id = $2 \
             AND ($3 = '' OR status = $3) AND (started_ms < $4 OR (started_ms = $4 AND ($5 = '' OR id < $5))) \
             ORDER BY started_ms DESC, id DESC LIMIT $6"
        ))
        .bind(&self.project_id)
        .bind(workflow_id)
        .bind(status.unwrap_or(""))
        .bind(before_ms)
        .bind(before_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(execution_row).collect()
    }

    /// Executions of the project still running.
    pub async fn running_executions(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM workflow_executions WHERE project_id = $1 AND status = 'RUNNING'",
        )
        .bind(&self.project_id)
        .fetch_one(self.pool())
        .await?)
    }

    /// An execution's journal after entry `after` (-1: from the start), at
    /// most `limit` entries.
    pub async fn history(&self, execution_id: &str, after: i64, limit: i64) -> Result<Vec<JournalRow>> {
        let rows = sqlx::query(
            "SELECT j.seq AS seq, j.body_json AS body_json, j.at_ms AS at_ms FROM workflow_events j \
             JOIN workflow_executions e ON e.id = j.execution_id \
             WHERE e.project_id = $1 AND j.execution_id = $2 AND j.seq > $3 ORDER BY j.seq LIMIT $4",
        )
        .bind(&self.project_id)
        .bind(execution_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(JournalRow {
                    seq: r.try_get("seq")?,
                    body: json_column(r, "body_json")?,
                    at_ms: r.try_get("at_ms")?,
                })
            })
            .collect()
    }

    /// Queues `signal` (JSON) for a running execution of this project;
    /// `false` when it is not running.
    pub async fn signal_execution(&self, execution_id: &str, signal: &str) -> Result<bool> {
        self.queue_signal(self.pool(), execution_id, signal).await
    }

    /// The signal's row, through `db` (the pool, or the transaction that
    /// writes with it); `false` when the execution is not running.
    async fn queue_signal<'c>(
        &self,
        db: impl sqlx::Executor<'c, Database = sqlx::Any>,
        execution_id: &str,
        signal: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO workflow_signals (id, execution_id, signal_json, created_ms) \
             SELECT $1, id, $2, $3 FROM workflow_executions WHERE id = $4 AND project_id = $5 AND status = 'RUNNING'",
        )
        .bind(new_id())
        .bind(signal)
        .bind(now_ms())
        .bind(execution_id)
        .bind(&self.project_id)
        .execute(db)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Queues `signal` (JSON), the answer to task token `token` of running
    /// execution `execution_id`, and marks the token answered, together:
    /// `false` when the execution is not running, or the token is not
    /// open or was answered already. A token is answered once, and leaves
    /// [`Self::open_tasks`] when its answer is accepted, not when the
    /// engine takes the answer up.
    pub async fn answer_task(&self, execution_id: &str, token: &str, signal: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let marked = sqlx::query(
            "UPDATE workflow_task_tokens SET answered_ms = $1 \
             WHERE token = $2 AND execution_id = $3 AND answered_ms = 0",
        )
        .bind(now_ms())
        .bind(token)
        .bind(execution_id)
        .execute(&mut *tx)
        .await?;
        // Neither marked nor queued (the transaction rolls back) unless
        // both.
        if marked.rows_affected() == 0 || !self.queue_signal(&mut *tx, execution_id, signal).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// The engine's queries: across projects, by execution id, for the node
/// that holds the lease.
impl Store {
    /// An execution by id, whatever its project (the engine's lookups by
    /// the ids it journals).
    pub async fn execution_by_id(&self, id: &str) -> Result<Option<ExecutionRow>> {
        let row = sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM workflow_executions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(execution_row).transpose()
    }

    /// An execution's whole journal, in order.
    pub async fn journal(&self, execution_id: &str) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT body_json FROM workflow_events WHERE execution_id = $1 ORDER BY seq")
                .bind(execution_id)
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// A version's definition text, whatever the project, and the engine
    /// version that wrote it.
    pub async fn definition_of(&self, workflow_id: &str, version: i64) -> Result<Option<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT definition_json, engine_version FROM workflow_versions WHERE workflow_id = $1 AND version = $2",
        )
        .bind(workflow_id)
        .bind(version)
        .fetch_optional(self.pool())
        .await?)
    }
}
