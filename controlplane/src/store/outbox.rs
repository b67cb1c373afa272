//! The outbox of platform events: written in the transaction of the change
//! they announce, claimed by one node's pump with a lease, removed once
//! they are on the bus.

use super::{Backend, Result, Store, multi_row_insert};
use sqlx::Row;
use sqlx::any::AnyRow;

/// One platform event waiting for the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// The event's id, kept on the bus (so a second publish is a no-op).
    pub id: String,
    /// The project it belongs to.
    pub project_id: String,
    /// The chain of deliveries it continues (`events::loops`).
    pub hops: i64,
    /// The `PlatformEvent`, as JSON.
    pub event_json: String,
    /// When the change was written, epoch ms.
    pub created_ms: i64,
}

fn outbox_row(r: &AnyRow) -> Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        hops: r.try_get("hops")?,
        event_json: r.try_get("event_json")?,
        created_ms: r.try_get("created_ms")?,
    })
}

/// Adds `rows` to the outbox inside `tx`, the transaction of the change
/// they announce, in as few statements as the rows allow. A row whose id
/// is there already is left as it is: the id names the event (the bus
/// keeps it too, so a second publish is a no-op), and a transaction
/// retried after a commit whose answer was lost writes its events again.
pub(crate) async fn put_all(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    rows: &[impl std::borrow::Borrow<OutboxRow>],
) -> Result<()> {
    /// Rows per statement (5 parameters each).
    const CHUNK: usize = 200;
    for chunk in rows.chunks(CHUNK) {
        let sql = multi_row_insert(
            backend,
            "INSERT INTO event_outbox (id, project_id, hops, event_json, created_ms) VALUES ",
            5,
            chunk.len(),
        ) + " ON CONFLICT (id) DO NOTHING";
        let mut q = sqlx::query(&sql);
        for row in chunk {
            let row = row.borrow();
            q = q
                .bind(&row.id)
                .bind(&row.project_id)
                .bind(row.hops)
                .bind(&row.event_json)
                .bind(row.created_ms);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

impl Store {
    /// Adds `row` to the outbox on its own, for an event that announces no
    /// stored change.
    pub async fn put_outbox(&self, row: &OutboxRow) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        put_all(&mut tx, self.backend(), std::slice::from_ref(row)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claims up to `limit` rows, oldest first, that nobody holds (or whose
    /// holder's lease ran out at `now`), for `owner` until `until`.
    pub async fn claim_outbox(
        &self,
        owner: &str,
        now: i64,
        until: i64,
        limit: i64,
    ) -> Result<Vec<OutboxRow>> {
        // The lease is tested again on the row itself: two nodes whose
        // subqueries picked the same rows cannot both take them.
        sqlx::query(
            "UPDATE event_outbox SET claimed_by = $1, claimed_until = $2 \
             WHERE claimed_until < $3 AND id IN \
             (SELECT id FROM event_outbox WHERE claimed_until < $3 ORDER BY created_ms, id LIMIT $4)",
        )
        .bind(owner)
        .bind(until)
        .bind(now)
        .bind(limit)
        .execute(self.pool())
        .await?;
        let rows = sqlx::query(
            "SELECT id, project_id, hops, event_json, created_ms FROM event_outbox \
             WHERE claimed_by = $1 AND claimed_until = $2 ORDER BY created_ms, id",
        )
        .bind(owner)
        .bind(until)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(outbox_row).collect()
    }

    /// Removes rows that are on the bus, one statement for a pump's batch.
    pub async fn remove_outbox(&self, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "DELETE FROM event_outbox WHERE id IN ({})",
            super::placeholder_list(self.backend(), ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(id);
        }
        query.execute(self.pool()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, project_id: &str, created_ms: i64) -> OutboxRow {
        OutboxRow {
            id: id.into(),
            project_id: project_id.into(),
            hops: 2,
            event_json: "{}".into(),
            created_ms,
        }
    }

    #[tokio::test]
    async fn rows_are_claimed_once_until_their_lease_ends() {
        let (store, _dir) = crate::store::tests::temporary_sqlite().await;
        let project = store.ensure_project("p").await.expect("a project");
        let mut tx = store.begin_write().await.expect("a transaction");
        let rows = [("b", 2), ("a", 1), ("c", 3)].map(|(id, at)| row(id, &project.id, at));
        put_all(&mut tx, store.backend(), &rows).await.expect("stored");
        tx.commit().await.expect("committed");

        let first = store.claim_outbox("n1", 100, 200, 2).await.expect("claims");
        assert_eq!(first, [row("a", &project.id, 1), row("b", &project.id, 2)]);
        let second = store.claim_outbox("n2", 100, 200, 10).await.expect("claims");
        assert_eq!(
            second,
            [row("c", &project.id, 3)],
            "held rows are not claimed again"
        );
        // n1 died: its lease runs out, and n2 takes its rows.
        let later = store.claim_outbox("n2", 300, 400, 10).await.expect("claims");
        assert_eq!(later.len(), 3);
        store
            .remove_outbox(&["a".into(), "b".into(), "c".into()])
            .await
            .expect("removed");
        assert!(
            store
                .claim_outbox("n3", 1000, 2000, 10)
                .await
                .expect("claims")
                .is_empty()
        );
    }
}
