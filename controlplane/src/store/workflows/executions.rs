//! Executions: their rows, their journals (append-only, numbered from 0),
//! the leases of the nodes that drive them, and the signals sent to them
//! from outside.
//!
//! An append names the number of events the execution had: a node whose
//! lease was taken over (it paused past its lease) finds the count changed
//! and writes nothing, so two nodes never interleave one journal.

use crate::store::projects::ProjectScope;
use crate::store::{Result, Store, StoreError, inserted, json_column, multi_row_insert};
use crate::util::{new_id, now_ms};
use minicloud_asl::machine::ENGINE_VERSION;
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A stored execution.
#[derive(Debug, Clone, Serialize)]
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
    /// Its input.
    pub input: Value,
    /// Its output, once it succeeded.
    pub output: Option<Value>,
    /// Its error, once it failed.
    pub error: Option<String>,
    /// Its cause, once it failed.
    pub cause: Option<String>,
    /// The execution role's name (empty: none).
    pub role: String,
    /// Epoch ms.
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

const EXECUTION_COLUMNS: &str = "id, project_id, workflow_id, workflow_name, version, name, status, input_json, \
     output_json, error, cause, role, started_ms, stopped_ms, events, hops";

fn execution_row(r: &AnyRow) -> Result<ExecutionRow> {
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

/// Events to append to one execution's journal, and what they ended with.
#[derive(Debug, Clone)]
pub struct Append {
    /// The execution.
    pub execution_id: String,
    /// How many events it had before these.
    pub from: i64,
    /// The events, JSON, with their times.
    pub events: Vec<(String, i64)>,
    /// Set when the execution ended.
    pub end: Option<Ending>,
    /// Signals these events answered, removed with them.
    pub signals: Vec<String>,
    /// Platform events announcing what these events did (a status
    /// change), stored with them.
    pub outbox: Vec<crate::store::outbox::OutboxRow>,
    /// Task tokens the execution began waiting for.
    pub tokens_opened: Vec<String>,
    /// Task tokens it no longer waits for.
    pub tokens_closed: Vec<String>,
}

/// How an execution ended.
#[derive(Debug, Clone)]
pub struct Ending {
    /// Its status.
    pub status: &'static str,
    /// Its output, JSON.
    pub output: Option<String>,
    /// Its error.
    pub error: Option<String>,
    /// Its cause.
    pub cause: Option<String>,
    /// When, epoch ms.
    pub at_ms: i64,
}

/// A signal waiting for the node that drives its execution.
#[derive(Debug, Clone)]
pub struct SignalRow {
    /// Its id.
    pub id: String,
    /// The execution.
    pub execution_id: String,
    /// The signal, JSON.
    pub signal: String,
}

/// Rows per multi-row statement of journal entries (4 parameters each).
const CHUNK: usize = 200;

impl ProjectScope {
    /// Stores a new execution, leased to `owner` until `lease_ms`. When
    /// the workflow already has one of that name, answers that one and
    /// `false`.
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
             VALUES ($1, $2, $3, $4, $5, $6, 'RUNNING', $7, $8, $9, 0, $10, $11, $12, $13)",
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
        let created = inserted(done)?;
        let row = self
            .execution_named(new.workflow_id, new.name)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("execution {} vanished", new.name)))?;
        Ok((row, created))
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
        let done = sqlx::query(
            "INSERT INTO workflow_signals (id, execution_id, signal_json, created_ms) \
             SELECT $1, id, $2, $3 FROM workflow_executions WHERE id = $4 AND project_id = $5 AND status = 'RUNNING'",
        )
        .bind(new_id())
        .bind(signal)
        .bind(now_ms())
        .bind(execution_id)
        .bind(&self.project_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
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

    /// A version's definition text, whatever the project.
    pub async fn definition_of(&self, workflow_id: &str, version: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT definition_json FROM workflow_versions WHERE workflow_id = $1 AND version = $2",
        )
        .bind(workflow_id)
        .bind(version)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Appends journals in one transaction. Each append is written only if
    /// `owner` still holds the execution and its journal has `from`
    /// events; the answer says, per append, whether it was.
    pub async fn append_journals(&self, appends: &[Append], owner: &str) -> Result<Vec<bool>> {
        let mut tx = self.begin_write().await?;
        let mut written = Vec::with_capacity(appends.len());
        let mut rows: Vec<(&str, i64, &str, i64)> = Vec::new();
        for a in appends {
            let n = a.events.len() as i64;
            let done =
                match &a.end {
                    None => {
                        sqlx::query(
                            "UPDATE workflow_executions SET events = events + $1, \
                         engine_version = CASE WHEN engine_version < $5 THEN $5 ELSE engine_version END \
                         WHERE id = $2 AND lease_owner = $3 AND events = $4",
                        )
                        .bind(n)
                        .bind(&a.execution_id)
                        .bind(owner)
                        .bind(a.from)
                        .bind(ENGINE_VERSION)
                        .execute(&mut *tx)
                        .await?
                    }
                    Some(end) => sqlx::query(
                        "UPDATE workflow_executions SET events = events + $1, status = $2, output_json = $3, \
                         error = $4, cause = $5, stopped_ms = $6, lease_owner = '', lease_ms = 0 \
                         WHERE id = $7 AND lease_owner = $8 AND events = $9",
                    )
                    .bind(n)
                    .bind(end.status)
                    .bind(end.output.as_deref())
                    .bind(end.error.as_deref())
                    .bind(end.cause.as_deref())
                    .bind(end.at_ms)
                    .bind(&a.execution_id)
                    .bind(owner)
                    .bind(a.from)
                    .execute(&mut *tx)
                    .await?,
                };
            let ok = done.rows_affected() == 1;
            written.push(ok);
            if !ok {
                continue;
            }
            for (i, (body, at)) in a.events.iter().enumerate() {
                rows.push((&a.execution_id, a.from + i as i64, body, *at));
            }
            for signal in &a.signals {
                sqlx::query("DELETE FROM workflow_signals WHERE id = $1")
                    .bind(signal)
                    .execute(&mut *tx)
                    .await?;
            }
            for row in &a.outbox {
                crate::store::outbox::put(&mut tx, row).await?;
            }
            for token in &a.tokens_opened {
                sqlx::query(
                    "INSERT INTO workflow_task_tokens (token, execution_id) VALUES ($1, $2) \
                     ON CONFLICT (token) DO NOTHING",
                )
                .bind(token)
                .bind(&a.execution_id)
                .execute(&mut *tx)
                .await?;
            }
            for token in &a.tokens_closed {
                sqlx::query("DELETE FROM workflow_task_tokens WHERE token = $1")
                    .bind(token)
                    .execute(&mut *tx)
                    .await?;
            }
            if a.end.is_some() {
                sqlx::query("DELETE FROM workflow_task_tokens WHERE execution_id = $1")
                    .bind(&a.execution_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for chunk in rows.chunks(CHUNK) {
            let sql = multi_row_insert(
                self.backend(),
                "INSERT INTO workflow_events (execution_id, seq, body_json, at_ms) VALUES ",
                4,
                chunk.len(),
            );
            let mut q = sqlx::query(&sql);
            for (id, seq, body, at) in chunk {
                q = q.bind(*id).bind(*seq).bind(*body).bind(*at);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(written)
    }

    /// Takes running executions whose lease ran out (their node died,
    /// gave them back, or parked them until now) or that are parked with a
    /// signal waiting, at most `limit` of each, for `owner` until
    /// `lease_ms`; only those whose journal this node's engine can read
    /// (written by [`ENGINE_VERSION`] or older: a newer node's are left
    /// to the newer nodes during a rolling upgrade).
    pub async fn claim_executions(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<ExecutionRow>> {
        let now = now_ms();
        // One statement: on PostgreSQL a row another node took since the
        // subquery read it fails the outer condition and is skipped.
        let rows = sqlx::query(&format!(
            "UPDATE workflow_executions SET lease_owner = $1, lease_ms = $2 \
             WHERE (id IN (SELECT id FROM workflow_executions WHERE status = 'RUNNING' AND lease_ms < $3 \
                           AND engine_version <= $5 ORDER BY lease_ms LIMIT $4) \
                    OR id IN (SELECT s.execution_id FROM workflow_signals s \
                              JOIN workflow_executions e ON e.id = s.execution_id \
                              WHERE e.lease_owner = '' AND e.status = 'RUNNING' AND e.engine_version <= $5 \
                              LIMIT $4)) \
             AND status = 'RUNNING' AND (lease_ms < $3 OR lease_owner = '') AND engine_version <= $5 \
             RETURNING {EXECUTION_COLUMNS}"
        ))
        .bind(owner)
        .bind(lease_ms)
        .bind(now)
        .bind(limit)
        .bind(ENGINE_VERSION)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(execution_row).collect()
    }

    /// Parks `owner`'s execution `id` until `wake_ms`: no node holds it,
    /// and a claim takes it at `wake_ms` or when a signal is stored for it.
    /// Refused (`false`) when a signal waits for it already or its journal
    /// is not at `events`.
    pub async fn park_execution(&self, id: &str, owner: &str, events: i64, wake_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE workflow_executions SET lease_owner = '', lease_ms = $1 \
             WHERE id = $2 AND lease_owner = $3 AND events = $4 AND status = 'RUNNING' \
             AND NOT EXISTS (SELECT 1 FROM workflow_signals s WHERE s.execution_id = $2)",
        )
        .bind(wake_ms)
        .bind(id)
        .bind(owner)
        .bind(events)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Extends `owner`'s leases to `lease_ms`.
    pub async fn renew_execution_leases(&self, owner: &str, lease_ms: i64) -> Result<()> {
        sqlx::query(
            "UPDATE workflow_executions SET lease_ms = $1 WHERE lease_owner = $2 AND status = 'RUNNING'",
        )
        .bind(lease_ms)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Gives back `owner`'s leases: another node (or the next life of this
    /// one) takes the executions at once.
    pub async fn release_execution_leases(&self, owner: &str) -> Result<()> {
        sqlx::query("UPDATE workflow_executions SET lease_owner = '', lease_ms = 0 WHERE lease_owner = $1")
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Gives back `owner`'s lease of one execution.
    pub async fn release_execution(&self, id: &str, owner: &str) -> Result<()> {
        sqlx::query("UPDATE workflow_executions SET lease_owner = '', lease_ms = 0 WHERE id = $1 AND lease_owner = $2")
            .bind(id)
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Gives back the leases every earlier life of node `node` held (its
    /// owners are `<node>/<life>`): on a cold start nothing of them runs.
    pub async fn release_node_execution_leases(&self, node: &str) -> Result<()> {
        let prefix = format!("{node}/");
        sqlx::query(
            "UPDATE workflow_executions SET lease_owner = '', lease_ms = 0 \
             WHERE lease_owner <> '' AND substr(lease_owner, 1, $1) = $2",
        )
        .bind(i32::try_from(prefix.len()).unwrap_or(i32::MAX))
        .bind(&prefix)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Whether execution `execution_id` waits for task token `token`.
    pub async fn awaits_token(&self, execution_id: &str, token: &str) -> Result<bool> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT token FROM workflow_task_tokens WHERE token = $1 AND execution_id = $2",
        )
        .bind(token)
        .bind(execution_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(found.is_some())
    }

    /// Signals waiting for executions `owner` drives.
    pub async fn signals_for(&self, owner: &str) -> Result<Vec<SignalRow>> {
        let rows = sqlx::query(
            "SELECT s.id AS id, s.execution_id AS execution_id, s.signal_json AS signal_json \
             FROM workflow_signals s JOIN workflow_executions e ON e.id = s.execution_id \
             WHERE e.lease_owner = $1 ORDER BY s.created_ms, s.id LIMIT 1000",
        )
        .bind(owner)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SignalRow {
                    id: r.try_get("id")?,
                    execution_id: r.try_get("execution_id")?,
                    signal: r.try_get("signal_json")?,
                })
            })
            .collect()
    }
}
