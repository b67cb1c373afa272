//! What the platform deletes once it is old enough: invocation records
//! and log lines (`--records-retention-days`), and ended workflow
//! executions with their histories (`--workflow-history-retention-days`).
//! The audit log is never pruned: each entry chains to the one before.

use crate::store::Store;
use std::time::Duration;

/// Records or log lines a statement deletes at most.
const PRUNE_BATCH: i64 = 1000;
/// Executions a batch deletes at most, with their histories (and at most
/// `EVENTS_A_BATCH` events, in the store).
const HISTORY_BATCH: i64 = 50;
/// How often what is past its retention is deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How long each kind of history is kept; `None` keeps it forever.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    /// Invocation records and log lines.
    pub records: Option<Duration>,
    /// Ended workflow executions and their histories.
    pub workflow_histories: Option<Duration>,
}

impl Retention {
    /// From days, zero meaning forever.
    pub fn from_days(records: u32, workflow_histories: u32) -> Self {
        let days = |n: u32| (n > 0).then(|| Duration::from_secs(86_400 * u64::from(n)));
        Retention {
            records: days(records),
            workflow_histories: days(workflow_histories),
        }
    }
}

/// Deletes what is past its retention: once shortly after the start (after
/// a cold start's first answers), then every hour. Several nodes on one
/// database each prune; their deletes are idempotent.
pub fn spawn(store: Store, retention: Retention) {
    if retention.records.is_none() && retention.workflow_histories.is_none() {
        return;
    }
    tokio::spawn(async move {
        store.until_started().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        loop {
            if let Some(age) = retention.records {
                let pruned = store.prune_records(cutoff(age), PRUNE_BATCH).await;
                report(
                    pruned,
                    "invocation records and log lines",
                    "minicloud_records_pruned_total",
                );
            }
            if let Some(age) = retention.workflow_histories {
                let pruned = store.prune_workflow_histories(cutoff(age), HISTORY_BATCH).await;
                report(
                    pruned,
                    "ended workflow executions and their histories",
                    "minicloud_workflow_executions_pruned_total",
                );
            }
            tokio::time::sleep(PRUNE_EVERY).await;
        }
    });
}

/// The time before which rows `age` old are due.
fn cutoff(age: Duration) -> i64 {
    crate::util::now_ms().saturating_sub(age.as_millis() as i64)
}

fn report(pruned: crate::store::Result<u64>, what: &str, counter: &'static str) {
    match pruned {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(rows = n, "deleted {what} past their retention");
            metrics::counter!(counter).increment(n);
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot delete {what} past their retention; trying again later")
        }
    }
}
