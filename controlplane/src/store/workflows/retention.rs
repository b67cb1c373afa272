//! Ended executions past their retention, deleted with their histories.

use crate::store::{Result, Store, placeholder_list};

/// Journal events a batch of executions holds at most (but always one
/// execution): a history holds up to 25,000, so a count of executions
/// alone could make a batch of millions.
const EVENTS_A_BATCH: i64 = 20_000;

/// Bytes of journal a transaction deletes at most (but always one event):
/// a journal may hold 100 MiB in a few hundred events of up to 256 KiB, and
/// deleting a row walks its overflow pages under SQLite's write lock.
const JOURNAL_BYTES_A_TRANSACTION: i64 = 8 << 20;

/// Journal events read at a time to plan the next transaction, so at most
/// as many a transaction.
const PLAN_EVENTS: i64 = 1000;

/// What goes with an execution once its journal went
/// (`delete_journals`): any signal or task token an end left (none
/// should), then the execution itself.
const EXECUTION_ROWS: [&str; 3] = [
    "DELETE FROM workflow_signals WHERE execution_id IN",
    "DELETE FROM workflow_task_tokens WHERE execution_id IN",
    "DELETE FROM workflow_executions WHERE status <> 'RUNNING' AND id IN",
];

impl Store {
    /// Deletes the executions that ended before `before_ms`, with their
    /// histories, workflow by workflow through `workflow_executions_list`
    /// (`workflow_id, started_ms, id`): an execution that ended before the
    /// cutoff started before it. At most `batch` executions and
    /// [`EVENTS_A_BATCH`] events (but always one execution) a batch,
    /// their journals deleted in transactions of at most [`PLAN_EVENTS`]
    /// events and [`JOURNAL_BYTES_A_TRANSACTION`] bytes (but always one
    /// event), then the executions in one; so no transaction holds the
    /// database long, however large a tenant made its histories. Returns how
    /// many executions went; their names are free again, as Step Functions
    /// frees a name once its execution's history is gone.
    pub async fn prune_workflow_histories(&self, before_ms: i64, batch: i64) -> Result<u64> {
        let mut pruned = 0;
        let mut after = String::new();
        loop {
            // Each workflow with executions, by seeking past the previous
            // one in the index: one lookup each, not a scan. Executions of
            // a deleted workflow went with it.
            let next: Option<String> = sqlx::query_scalar(
                "SELECT workflow_id FROM workflow_executions WHERE workflow_id > $1 \
                 ORDER BY workflow_id LIMIT 1",
            )
            .bind(&after)
            .fetch_optional(self.pool())
            .await?;
            let Some(workflow) = next else { break };
            loop {
                // An ended execution never runs again, so what this reads
                // is still ended when the transaction deletes it.
                let ended: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT id, events FROM workflow_executions WHERE workflow_id = $1 AND started_ms < $2 \
                     AND status <> 'RUNNING' AND stopped_ms < $2 LIMIT $3",
                )
                .bind(&workflow)
                .bind(before_ms)
                .bind(batch)
                .fetch_all(self.pool())
                .await?;
                if ended.is_empty() {
                    break;
                }
                let keys: Vec<&str> = ended[..fitting(&ended, EVENTS_A_BATCH, |(_, n)| *n)]
                    .iter()
                    .map(|(id, _)| id.as_str())
                    .collect();
                self.delete_journals(&keys).await?;
                let mut tx = self.begin_write().await?;
                for statement in EXECUTION_ROWS {
                    self.delete_in(&mut tx, statement, &keys).await?;
                }
                tx.commit().await?;
                pruned += keys.len() as u64;
                if keys.len() == ended.len() && (ended.len() as i64) < batch {
                    break;
                }
                tokio::time::sleep(crate::store::PRUNE_PAUSE).await;
            }
            after = workflow;
        }
        Ok(pruned)
    }

    /// Deletes the journals of ended executions `keys` (at most a few
    /// dozen), oldest events first, in transactions of at most
    /// [`JOURNAL_BYTES_A_TRANSACTION`] bytes of events (at least one
    /// event each).
    async fn delete_journals(&self, keys: &[&str]) -> Result<()> {
        let list = placeholder_list(self.backend(), keys.len());
        let next = format!(
            "SELECT execution_id, seq, CAST(octet_length(body_json) AS BIGINT) FROM workflow_events \
             WHERE execution_id IN ({list}) ORDER BY execution_id, seq LIMIT {PLAN_EVENTS}"
        );
        loop {
            let mut q = sqlx::query_as::<_, (String, i64, i64)>(&next);
            for key in keys {
                q = q.bind(*key);
            }
            let events = q.fetch_all(self.pool()).await?;
            let taken = fitting(&events, JOURNAL_BYTES_A_TRANSACTION, |(_, _, bytes)| *bytes);
            let upto = prefixes(&events[..taken]);
            if upto.is_empty() {
                return Ok(());
            }
            let mut tx = self.begin_write().await?;
            for (execution, last) in upto {
                sqlx::query("DELETE FROM workflow_events WHERE execution_id = $1 AND seq <= $2")
                    .bind(execution)
                    .bind(last)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            if taken == events.len() && (events.len() as i64) < PLAN_EVENTS {
                return Ok(());
            }
            tokio::task::yield_now().await;
        }
    }
}

/// Events in order of execution and sequence number, as the prefixes of
/// their journals they are: each execution with the last number.
fn prefixes(events: &[(String, i64, i64)]) -> Vec<(&str, i64)> {
    let mut upto: Vec<(&str, i64)> = Vec::new();
    for (execution, seq, _) in events {
        match upto.last_mut() {
            Some((e, last)) if *e == execution.as_str() => *last = *seq,
            _ => upto.push((execution, *seq)),
        }
    }
    upto
}

/// How many of `items`, from the first, fit in `cap` by their `weight`
/// (each at least 1); at least one when there is one.
fn fitting<T>(items: &[T], cap: i64, weight: impl Fn(&T) -> i64) -> usize {
    let mut total = 0;
    items
        .iter()
        .take_while(|item| {
            let first = total == 0;
            total += weight(item).max(1);
            first || total <= cap
        })
        .count()
}

#[cfg(test)]
mod tests {
    /// A transaction takes the oldest events up to the byte cap (always
    /// one, however large), as prefixes of each execution's journal.
    #[test]
    fn journals_go_by_bytes() {
        let mib = 1 << 20;
        let events: Vec<(String, i64, i64)> = [
            ("a", 0, 3 * mib),
            ("a", 1, 3 * mib),
            ("b", 0, 1),
            ("b", 1, 3 * mib),
        ]
        .into_iter()
        .map(|(e, s, b)| (e.to_owned(), s, b))
        .collect();
        let cap = super::JOURNAL_BYTES_A_TRANSACTION;
        assert_eq!(
            super::fitting(&events, cap, |e| e.2),
            3,
            "6 MiB and a byte fit in 8; 3 more do not"
        );
        assert_eq!(super::prefixes(&events[..3]), [("a", 1), ("b", 0)]);
        let huge = [("c".to_owned(), 0, 100 * mib)];
        assert_eq!(super::fitting(&huge, cap, |e| e.2), 1, "one event always goes");
        assert_eq!(super::fitting(&[] as &[(String, i64, i64)], cap, |e| e.2), 0);
    }

    /// More ended executions than a batch, in two workflows: each that
    /// ended before the cutoff goes with its journal; one that ended after
    /// it, and a running one however old, stay.
    #[tokio::test]
    async fn ended_executions_go_in_batches() {
        let (store, _dir) = crate::store::tests::temporary_sqlite().await;
        let project = store.ensure_project("p").await.expect("a project");
        let execution = |id: String, workflow: &str, status: &str, started: i64, stopped: Option<i64>| {
            let (store, project) = (store.clone(), project.id.clone());
            let workflow = workflow.to_owned();
            let status = status.to_owned();
            async move {
                sqlx::query(
                    "INSERT INTO workflow_executions (id, project_id, workflow_id, workflow_name, version, \
                     name, status, input_json, started_ms, stopped_ms, events) \
                     VALUES ($1, $2, $3, $3, 1, $1, $4, '{}', $5, $6, 3)",
                )
                .bind(&id)
                .bind(&project)
                .bind(&workflow)
                .bind(&status)
                .bind(started)
                .bind(stopped)
                .execute(store.pool())
                .await
                .expect("an execution");
                for seq in 0..3_i64 {
                    sqlx::query(
                        "INSERT INTO workflow_events (execution_id, seq, body_json, at_ms) VALUES ($1, $2, '{}', $3)",
                    )
                    .bind(&id)
                    .bind(seq)
                    .bind(started)
                    .execute(store.pool())
                    .await
                    .expect("an event");
                }
            }
        };
        for n in 0..70 {
            execution(format!("a-{n}"), "wa", "SUCCEEDED", 10, Some(20)).await;
            execution(format!("b-{n}"), "wb", "FAILED", 10, Some(30)).await;
        }
        execution("late".into(), "wa", "SUCCEEDED", 10, Some(600)).await;
        execution("young".into(), "wb", "SUCCEEDED", 550, Some(560)).await;
        execution("running".into(), "wb", "RUNNING", 5, None).await;
        // Two long histories (by their count): the event cap cuts a batch
        // short, and what it left goes in the next.
        sqlx::query("UPDATE workflow_executions SET events = 15000 WHERE id IN ('a-0', 'a-1')")
            .execute(store.pool())
            .await
            .expect("updated");

        let pruned = store.prune_workflow_histories(500, 50).await.expect("pruned");
        assert_eq!(pruned, 140, "every execution that ended before 500");
        let left: Vec<String> = sqlx::query_scalar("SELECT id FROM workflow_executions ORDER BY id")
            .fetch_all(store.pool())
            .await
            .expect("read");
        assert_eq!(left, ["late", "running", "young"]);
        let journals: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT execution_id FROM workflow_events ORDER BY execution_id")
                .fetch_all(store.pool())
                .await
                .expect("read");
        assert_eq!(journals, left, "the journals of those kept, only");
        assert_eq!(store.prune_workflow_histories(500, 50).await.expect("pruned"), 0);
    }
}
