//! Executions' journals: events appended in one transaction with what
//! they decide (the execution's end, answered signals, platform events,
//! task tokens).
//!
//! An append names the number of events the execution had: a node whose
//! lease was taken over (it paused past its lease) finds the count changed
//! and writes nothing, so two nodes never interleave one journal.

use crate::store::outbox::OutboxRow;
use crate::store::{Backend, Result, Store, multi_row_insert, placeholder_list};
use crate::util::now_ms;
use minicloud_asl::machine::{AwaitedTask, ENGINE_VERSION};
use sqlx::Row;
use std::collections::HashSet;

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
    /// Tasks whose tokens the execution began waiting for (stored with
    /// the append's time, for an inbox).
    pub tokens_opened: Vec<AwaitedTask>,
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
    /// Whether it may have task tokens: they go with its end.
    pub tokens: bool,
}

/// Rows per multi-row statement of journal entries (4 parameters each).
const CHUNK: usize = 200;

/// Executions per statement that advances them (8 parameters each).
const ADVANCE_CHUNK: usize = 100;

impl Store {
    /// Appends journals in one transaction. Each append is written only if
    /// `owner` still holds the execution and its journal has `from`
    /// events; the answer says, per append, whether it was.
    ///
    /// A batch costs a handful of statements whatever its size (on
    /// SQLite each is a round trip to the connection's thread): one
    /// advances every execution, one inserts every event, and the outbox
    /// rows, answered signals and task tokens go in one statement each.
    pub async fn append_journals(&self, appends: &[Append], owner: &str) -> Result<Vec<bool>> {
        let mut tx = self.begin_write().await?;
        let mut written = vec![false; appends.len()];
        // One statement changes a row once: an execution appended twice in
        // a batch is advanced in a second round.
        let mut left: Vec<usize> = (0..appends.len()).collect();
        while !left.is_empty() {
            let mut seen = HashSet::new();
            let (round, later): (Vec<usize>, Vec<usize>) = left
                .into_iter()
                .partition(|&i| seen.insert(appends[i].execution_id.as_str()));
            for chunk in round.chunks(ADVANCE_CHUNK) {
                let advanced = self.advance(&mut tx, appends, chunk, owner).await?;
                for &i in chunk {
                    written[i] = advanced.contains(&appends[i].execution_id);
                }
            }
            left = later;
        }
        let kept: Vec<&Append> = appends
            .iter()
            .zip(&written)
            .filter_map(|(a, ok)| ok.then_some(a))
            .collect();
        let mut rows: Vec<(&str, i64, &str, i64)> = Vec::new();
        for a in &kept {
            for (i, (body, at)) in a.events.iter().enumerate() {
                rows.push((&a.execution_id, a.from + i as i64, body, *at));
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
        let outbox: Vec<&OutboxRow> = kept.iter().flat_map(|a| &a.outbox).collect();
        crate::store::outbox::put_all(&mut tx, self.backend(), &outbox).await?;
        let signals: Vec<&str> = kept
            .iter()
            .flat_map(|a| a.signals.iter().map(String::as_str))
            .collect();
        self.delete_in(&mut tx, "DELETE FROM workflow_signals WHERE id IN", &signals)
            .await?;
        let opened_ms = now_ms();
        let opened: Vec<(&AwaitedTask, String, &str)> = kept
            .iter()
            .flat_map(|a| {
                a.tokens_opened.iter().map(|t| {
                    let input = serde_json::to_string(&t.input).unwrap_or_default();
                    (t, input, a.execution_id.as_str())
                })
            })
            .collect();
        for chunk in opened.chunks(CHUNK) {
            let sql = multi_row_insert(
                self.backend(),
                "INSERT INTO workflow_task_tokens (token, execution_id, state, resource, input_json, opened_ms) VALUES ",
                6,
                chunk.len(),
            ) + " ON CONFLICT (token) DO NOTHING";
            let mut q = sqlx::query(&sql);
            for (t, input, execution) in chunk {
                q = q
                    .bind(&t.token)
                    .bind(*execution)
                    .bind(&t.state)
                    .bind(&t.resource)
                    .bind(input)
                    .bind(opened_ms);
            }
            q.execute(&mut *tx).await?;
        }
        let closed: Vec<&str> = kept
            .iter()
            .flat_map(|a| a.tokens_closed.iter().map(String::as_str))
            .collect();
        self.delete_in(
            &mut tx,
            "DELETE FROM workflow_task_tokens WHERE token IN",
            &closed,
        )
        .await?;
        // An execution's tokens go with its end.
        let ended: Vec<&str> = kept
            .iter()
            .filter(|a| a.end.as_ref().is_some_and(|e| e.tokens))
            .map(|a| a.execution_id.as_str())
            .collect();
        self.delete_in(
            &mut tx,
            "DELETE FROM workflow_task_tokens WHERE execution_id IN",
            &ended,
        )
        .await?;
        tx.commit().await?;
        Ok(written)
    }

    /// Advances the executions of `appends[chunk]` that `owner` holds and
    /// whose journals have the events their appends expect (and ends
    /// those that end), in one statement: the ids of those advanced.
    async fn advance(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        appends: &[Append],
        chunk: &[usize],
        owner: &str,
    ) -> Result<HashSet<String>> {
        const COLUMNS: usize = 8;
        let values = multi_row_insert(self.backend(), "", COLUMNS, chunk.len());
        let owner_at = match self.backend() {
            Backend::Postgres => format!("${}", chunk.len() * COLUMNS + 1),
            Backend::Sqlite => "?".to_owned(),
        };
        // v: id, events added, events before, then the end's status,
        // output, error, cause and time (NULL while it runs on).
        let ended = "v.column4 IS NULL";
        let sql = format!(
            "UPDATE workflow_executions SET events = events + v.column2, \
             engine_version = CASE WHEN engine_version < {ENGINE_VERSION} THEN {ENGINE_VERSION} ELSE engine_version END, \
             status = COALESCE(v.column4, status), \
             output_json = CASE WHEN {ended} THEN output_json ELSE v.column5 END, \
             error = CASE WHEN {ended} THEN error ELSE v.column6 END, \
             cause = CASE WHEN {ended} THEN cause ELSE v.column7 END, \
             stopped_ms = CASE WHEN {ended} THEN stopped_ms ELSE v.column8 END, \
             lease_owner = CASE WHEN {ended} THEN lease_owner ELSE '' END, \
             lease_ms = CASE WHEN {ended} THEN lease_ms ELSE 0 END \
             FROM (VALUES {values}) AS v \
             WHERE workflow_executions.id = v.column1 AND workflow_executions.lease_owner = {owner_at} \
             AND workflow_executions.events = v.column3 \
             RETURNING workflow_executions.id"
        );
        let mut q = sqlx::query(&sql);
        for &i in chunk {
            let a = &appends[i];
            let end = a.end.as_ref();
            q = q
                .bind(&a.execution_id)
                .bind(a.events.len() as i64)
                .bind(a.from)
                .bind(end.map(|e| e.status))
                .bind(end.and_then(|e| e.output.as_deref()))
                .bind(end.and_then(|e| e.error.as_deref()))
                .bind(end.and_then(|e| e.cause.as_deref()))
                .bind(end.map(|e| e.at_ms));
        }
        let rows = q.bind(owner).fetch_all(&mut **tx).await?;
        rows.iter().map(|r| Ok(r.try_get::<String, _>(0)?)).collect()
    }

    /// Runs `statement` (`... IN`) over `keys`, in chunks; nothing when
    /// there are none.
    pub(super) async fn delete_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        statement: &str,
        keys: &[&str],
    ) -> Result<()> {
        for chunk in keys.chunks(CHUNK) {
            let sql = format!("{statement} ({})", placeholder_list(self.backend(), chunk.len()));
            let mut q = sqlx::query(&sql);
            for key in chunk {
                q = q.bind(*key);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }
}
