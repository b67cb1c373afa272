//! The leases of the nodes that drive executions (claimed, renewed,
//! parked, given back), and the signals sent to executions from outside.

use super::executions::{EXECUTION_COLUMNS, ExecutionRow, execution_row};
use crate::store::{Result, Store};
use crate::util::now_ms;
use minicloud_asl::machine::ENGINE_VERSION;
use sqlx::Row;

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

impl Store {
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

    /// Stamps execution `id` (held by `owner`) as needing engine
    /// `version` and gives its lease back: from now on only nodes of that
    /// engine or newer claim it.
    pub async fn leave_to_engine(&self, id: &str, owner: &str, version: i64) -> Result<()> {
        sqlx::query(
            "UPDATE workflow_executions SET engine_version = $1, lease_owner = '', lease_ms = 0 \
             WHERE id = $2 AND lease_owner = $3",
        )
        .bind(version)
        .bind(id)
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
    ///
    /// The statement may meet what a killed predecessor's transactions
    /// still hold on PostgreSQL (until its backend notices the closed
    /// connection) and be chosen to end a deadlock: it is idempotent, so it
    /// goes again after a pause.
    pub async fn release_node_execution_leases(&self, node: &str) -> Result<()> {
        let prefix = format!("{node}/");
        crate::store::again_on_deadlock(|| {
            sqlx::query(
                "UPDATE workflow_executions SET lease_owner = '', lease_ms = 0 \
                 WHERE lease_owner <> '' AND substr(lease_owner, 1, $1) = $2",
            )
            .bind(i32::try_from(prefix.len()).unwrap_or(i32::MAX))
            .bind(&prefix)
            .execute(self.pool())
        })
        .await?;
        Ok(())
    }

    /// Whether execution `execution_id` waits for task token `token` (open
    /// and not answered yet).
    pub async fn awaits_token(&self, execution_id: &str, token: &str) -> Result<bool> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT token FROM workflow_task_tokens WHERE token = $1 AND execution_id = $2 AND answered_ms = 0",
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
