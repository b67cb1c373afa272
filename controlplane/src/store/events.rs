//! The deliveries rules owe (the durable bus) and dead letters.
//!
//! A delivery row exists from the moment its event is accepted until its
//! target succeeded or it became a dead letter; its id is the idempotency
//! key handlers see, so accepting the same event twice stores it once.

use super::projects::ProjectScope;
use super::{Backend, Result, Store, json_column, multi_row_insert, placeholder_list};
use crate::util::{new_id, now_ms};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A delivery owed: one event to one target of one rule.
#[derive(Debug, Clone)]
pub struct DeliveryRow {
    /// `<event id>/<rule id>/<target id>`: the idempotency key.
    pub id: String,
    /// The rule's project.
    pub project_id: String,
    /// The rule.
    pub rule_id: String,
    /// The target, by its id in the rule.
    pub target_id: String,
    /// The event's id.
    pub event_id: String,
    /// The event envelope, JSON.
    pub event_json: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the event was accepted, epoch ms (for the maximum age).
    pub accepted_ms: i64,
    /// When the next attempt is due, epoch ms.
    pub due_ms: i64,
    /// Why the last attempt failed.
    pub last_error: String,
    /// How many deliveries led to the event (see `events::loops`).
    pub hops: i64,
}

const DELIVERY_COLUMNS: &str = "id, project_id, rule_id, target_id, event_id, event_json, attempts, accepted_ms, due_ms, last_error, hops";

fn delivery_row(r: &AnyRow) -> Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        rule_id: r.try_get("rule_id")?,
        target_id: r.try_get("target_id")?,
        event_id: r.try_get("event_id")?,
        event_json: r.try_get("event_json")?,
        attempts: r.try_get("attempts")?,
        accepted_ms: r.try_get("accepted_ms")?,
        due_ms: r.try_get("due_ms")?,
        last_error: r.try_get("last_error")?,
        hops: r.try_get("hops")?,
    })
}

/// Rows per multi-row statement: 13 parameters each, well inside both
/// databases' limits.
const CHUNK: usize = 64;

/// A stored dead letter.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetterRow {
    /// Stable id.
    pub id: String,
    /// The rule it was owed by (it may be gone since).
    pub rule_id: String,
    /// The rule's name when it was dead-lettered.
    pub rule: String,
    /// The target, by its id in the rule.
    pub target_id: String,
    /// The event's id.
    pub event_id: String,
    /// The event envelope, as targets receive it: `version`, `id`,
    /// `detail-type`, `source`, `account` (the project), `time`, `region`,
    /// `resources`, `detail`, and `nats` for events from NATS.
    #[schema(value_type = Object)]
    pub event: Value,
    /// Why the last attempt failed.
    pub error: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the event was accepted, epoch ms.
    pub accepted_ms: i64,
    /// When it became a dead letter, epoch ms.
    pub created_ms: i64,
    /// How many deliveries led to the event; a replay keeps it.
    pub hops: i64,
}

fn dead_letter_row(r: &AnyRow) -> Result<DeadLetterRow> {
    Ok(DeadLetterRow {
        id: r.try_get("id")?,
        rule_id: r.try_get("rule_id")?,
        rule: r.try_get("rule_name")?,
        target_id: r.try_get("target_id")?,
        event_id: r.try_get("event_id")?,
        event: json_column(r, "event_json")?,
        error: r.try_get("error")?,
        attempts: r.try_get("attempts")?,
        accepted_ms: r.try_get("accepted_ms")?,
        created_ms: r.try_get("created_ms")?,
        hops: r.try_get("hops")?,
    })
}

const DEAD_LETTER_COLUMNS: &str =
    "id, rule_id, rule_name, target_id, event_id, event_json, error, attempts, accepted_ms, created_ms, hops";

impl ProjectScope {
    /// Dead letters, oldest first, optionally of one rule (by name), after
    /// the `(created_ms, id)` cursor; at most `limit`.
    pub async fn dead_letters(
        &self,
        rule: Option<&str>,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<DeadLetterRow>> {
        let (after_ms, after_id) = after.unwrap_or((-1, ""));
        let rows = sqlx::query(&format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE project_id = $1 \
             AND ($2 = '' OR rule_name = $2) AND (created_ms > $3 OR (created_ms = $3 AND id > $4)) \
             ORDER BY created_ms, id LIMIT $5"
        ))
        .bind(&self.project_id)
        .bind(rule.unwrap_or(""))
        .bind(after_ms)
        .bind(after_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(dead_letter_row).collect()
    }

    /// A dead letter by id.
    pub async fn dead_letter(&self, id: &str) -> Result<Option<DeadLetterRow>> {
        let row = sqlx::query(&format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE id = $1 AND project_id = $2"
        ))
        .bind(id)
        .bind(&self.project_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(dead_letter_row).transpose()
    }

    /// Removes a dead letter.
    pub async fn delete_dead_letter(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM dead_letters WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(&self.project_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Moves a dead letter back onto the bus as a fresh delivery (its
    /// attempts start again, its age from now, its hops stay: a replay
    /// does not reset a loop's depth), leased to `owner`. `None`
    /// when there is no such dead letter, or its rule is gone.
    pub async fn replay_dead_letter(
        &self,
        id: &str,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Option<DeliveryRow>> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE id = $1 AND project_id = $2"
        ))
        .bind(id)
        .bind(&self.project_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(dead) = row.as_ref().map(dead_letter_row).transpose()? else {
            return Ok(None);
        };
        let now = now_ms();
        let delivery = DeliveryRow {
            id: format!("{}/{}/{}", dead.event_id, dead.rule_id, dead.target_id),
            project_id: self.project_id.clone(),
            rule_id: dead.rule_id,
            target_id: dead.target_id,
            event_id: dead.event_id,
            event_json: dead.event.to_string(),
            attempts: 0,
            accepted_ms: now,
            due_ms: now,
            last_error: String::new(),
            hops: dead.hops,
        };
        insert_deliveries(
            self.backend(),
            &mut tx,
            std::slice::from_ref(&delivery),
            owner,
            lease_ms,
        )
        .await?;
        sqlx::query("DELETE FROM dead_letters WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(delivery))
    }
}

/// Inserts deliveries, skipping ids already owed (the same event accepted
/// twice).
async fn insert_deliveries(
    backend: Backend,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    rows: &[DeliveryRow],
    owner: &str,
    lease_ms: i64,
) -> Result<()> {
    for chunk in rows.chunks(CHUNK) {
        let prefix =
            format!("INSERT INTO event_deliveries ({DELIVERY_COLUMNS}, lease_owner, lease_ms) VALUES ");
        let sql = multi_row_insert(backend, &prefix, 13, chunk.len()) + " ON CONFLICT (id) DO NOTHING";
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
                .bind(&r.id)
                .bind(&r.project_id)
                .bind(&r.rule_id)
                .bind(&r.target_id)
                .bind(&r.event_id)
                .bind(&r.event_json)
                .bind(r.attempts)
                .bind(r.accepted_ms)
                .bind(r.due_ms)
                .bind(&r.last_error)
                .bind(r.hops)
                .bind(owner)
                .bind(lease_ms);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// What the bus's writer applies in one transaction.
#[derive(Debug, Default)]
pub struct Batch {
    /// New deliveries, leased to the writer's node.
    pub insert: Vec<DeliveryRow>,
    /// New deliveries left unleased, for any node to claim (more than this
    /// node keeps in memory).
    pub insert_unleased: Vec<DeliveryRow>,
    /// Deliveries done (the target succeeded).
    pub delete: Vec<String>,
    /// Failed attempts to try again: id, attempts, due, error.
    pub retry: Vec<(String, i64, i64, String)>,
    /// Deliveries to move to the dead letters: the row, the rule's name,
    /// the error.
    pub dead: Vec<(DeliveryRow, String, String)>,
}

impl Batch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.insert.is_empty()
            && self.insert_unleased.is_empty()
            && self.delete.is_empty()
            && self.retry.is_empty()
            && self.dead.is_empty()
    }
}

impl Store {
    /// Applies a batch of the bus's changes in one transaction.
    pub async fn apply_deliveries(&self, batch: &Batch, owner: &str, lease_ms: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert_deliveries(self.backend(), &mut tx, &batch.insert, owner, lease_ms).await?;
        insert_deliveries(self.backend(), &mut tx, &batch.insert_unleased, "", 0).await?;
        for chunk in batch.delete.chunks(CHUNK * 8) {
            let sql = format!(
                "DELETE FROM event_deliveries WHERE id IN ({})",
                placeholder_list(self.backend(), chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            q.execute(&mut *tx).await?;
        }
        for (id, attempts, due_ms, error) in &batch.retry {
            sqlx::query(
                "UPDATE event_deliveries SET attempts = $1, due_ms = $2, last_error = $3 WHERE id = $4",
            )
            .bind(attempts)
            .bind(due_ms)
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        let now = now_ms();
        for (row, rule_name, error) in &batch.dead {
            sqlx::query(&format!(
                "INSERT INTO dead_letters ({DEAD_LETTER_COLUMNS}, project_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ))
            .bind(new_id())
            .bind(&row.rule_id)
            .bind(rule_name)
            .bind(&row.target_id)
            .bind(&row.event_id)
            .bind(&row.event_json)
            .bind(error)
            .bind(row.attempts)
            .bind(row.accepted_ms)
            .bind(now)
            .bind(row.hops)
            .bind(&row.project_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM event_deliveries WHERE id = $1")
                .bind(&row.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claims up to `limit` deliveries whose lease ran out (their node died,
    /// or never had one), for `owner` until `lease_ms`, soonest due first.
    pub async fn claim_deliveries(&self, owner: &str, lease_ms: i64, limit: i64) -> Result<Vec<DeliveryRow>> {
        let claim = new_id();
        let now = now_ms();
        // The outer `lease_ms < $3` is checked again against a row another
        // node updated meanwhile (PostgreSQL re-evaluates it), so two nodes
        // never claim the same row.
        sqlx::query(
            "UPDATE event_deliveries SET lease_owner = $1, lease_ms = $2, claim = $4 \
             WHERE lease_ms < $3 AND id IN \
             (SELECT id FROM event_deliveries WHERE lease_ms < $3 ORDER BY due_ms LIMIT $5)",
        )
        .bind(owner)
        .bind(lease_ms)
        .bind(now)
        .bind(&claim)
        .bind(limit)
        .execute(self.pool())
        .await?;
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM event_deliveries WHERE lease_owner = $1 AND claim = $2"
        ))
        .bind(owner)
        .bind(&claim)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(delivery_row).collect()
    }

    /// Extends the leases `owner` holds until `lease_ms`.
    pub async fn renew_leases(&self, owner: &str, lease_ms: i64) -> Result<()> {
        sqlx::query("UPDATE event_deliveries SET lease_ms = $1 WHERE lease_owner = $2")
            .bind(lease_ms)
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Gives up the leases every life of `node` held (at a cold start: no
    /// other process of the node runs), so any node claims them at once.
    /// Owners are `<node>/<life>`; a bare `<node>` is an owner from before
    /// lives.
    pub async fn release_node_leases(&self, node: &str) -> Result<()> {
        let prefix = format!("{node}/");
        // What a killed predecessor's transactions still hold may make it
        // the victim of a deadlock: it is idempotent, so it goes again.
        crate::store::again_on_deadlock(|| {
            sqlx::query(
                "UPDATE event_deliveries SET lease_owner = '', lease_ms = 0 \
                 WHERE lease_owner = $1 OR substr(lease_owner, 1, $2) = $3",
            )
            .bind(node)
            .bind(i32::try_from(prefix.len()).unwrap_or(i32::MAX))
            .bind(&prefix)
            .execute(self.pool())
        })
        .await?;
        Ok(())
    }

    /// Gives up the leases `owner` holds (at shutdown), so any node claims
    /// them at once.
    pub async fn release_leases(&self, owner: &str) -> Result<()> {
        sqlx::query("UPDATE event_deliveries SET lease_owner = '', lease_ms = 0 WHERE lease_owner = $1")
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cold start gives back what every life of its node held, and
    /// nothing of another node whose id merely starts the same way.
    #[tokio::test]
    async fn a_cold_start_releases_every_life_of_its_node_only() {
        let (store, _dir) = crate::store::tests::temporary_sqlite().await;
        let project = store.ensure_project("p").await.expect("a project");
        let far = now_ms() + 3_600_000;
        let owners = [
            "node-a",
            "node-a/1",
            "node-a/2",
            "node-ab/1",
            "node-b/1",
            "xnode-a/1",
        ];
        for owner in owners {
            let row = test_row(&format!("e/{owner}/t"), &project.id, 0);
            let batch = Batch {
                insert: vec![row],
                ..Batch::default()
            };
            store.apply_deliveries(&batch, owner, far).await.expect("stored");
        }
        store.release_node_leases("node-a").await.expect("released");
        let mut claimed: Vec<String> = store
            .claim_deliveries("claimer", far, 100)
            .await
            .expect("claims")
            .into_iter()
            .map(|r| r.id)
            .collect();
        claimed.sort();
        assert_eq!(claimed, ["e/node-a/1/t", "e/node-a/2/t", "e/node-a/t"]);
    }

    /// A fresh delivery of event `e` to target `t` of rule `r`.
    fn test_row(id: &str, project_id: &str, hops: i64) -> DeliveryRow {
        DeliveryRow {
            id: id.into(),
            project_id: project_id.into(),
            rule_id: "r".into(),
            target_id: "t".into(),
            event_id: "e".into(),
            event_json: "{}".into(),
            attempts: 0,
            accepted_ms: 0,
            due_ms: 0,
            last_error: String::new(),
            hops,
        }
    }

    /// A loop's depth is not reset by the durable path: a claimed row, its
    /// dead letter and the replay of that all keep the hops.
    #[tokio::test]
    async fn hops_survive_claims_dead_letters_and_replays() {
        let (store, _dir) = crate::store::tests::temporary_sqlite().await;
        let project = store.ensure_project("p").await.expect("a project");
        let far = now_ms() + 3_600_000;
        let row = test_row("e/r/t", &project.id, 7);
        let unleased = Batch {
            insert_unleased: vec![row],
            ..Batch::default()
        };
        store.apply_deliveries(&unleased, "", 0).await.expect("stored");
        let claimed = store.claim_deliveries("n/1", far, 10).await.expect("claims");
        assert_eq!(claimed.iter().map(|r| r.hops).collect::<Vec<_>>(), [7]);
        let dead = Batch {
            dead: claimed
                .into_iter()
                .map(|r| (r, "rule".to_owned(), "failed".to_owned()))
                .collect(),
            ..Batch::default()
        };
        store
            .apply_deliveries(&dead, "n/1", far)
            .await
            .expect("dead-lettered");
        let scope = store.in_project(&project);
        let letters = scope.dead_letters(None, None, 10).await.expect("listed");
        assert_eq!(letters.iter().map(|d| d.hops).collect::<Vec<_>>(), [7]);
        let replayed = scope
            .replay_dead_letter(&letters[0].id, "n/1", far)
            .await
            .expect("replayed")
            .expect("the dead letter exists");
        assert_eq!(replayed.hops, 7);
    }
}
