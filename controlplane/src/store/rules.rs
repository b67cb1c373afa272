//! Event rules. Every change bumps the rules' generation row in the same
//! transaction, so every node notices any node's change.

use super::projects::ProjectScope;
use super::quotas::{CountLimit, CreateRefused};
use super::{Result, Store, inserted, json_column};
use crate::util::{new_id, now_ms};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A stored rule; its JSON parts were validated before they were written.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RuleRow {
    /// Stable id.
    pub id: String,
    /// Owning project's id.
    #[serde(skip)]
    pub project_id: String,
    /// Unique in the project.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Disabled rules match nothing.
    pub enabled: bool,
    /// Where its events come from.
    #[schema(value_type = crate::events::rules::Sources)]
    pub sources: Value,
    /// The event pattern; `null`: every event of the sources.
    #[schema(value_type = Option<Object>)]
    pub pattern: Value,
    /// Where matching events go, each with its id.
    #[schema(value_type = Vec<crate::events::rules::TargetSpec>)]
    pub targets: Value,
    /// Attempts, age and backoff, every field set.
    #[schema(value_type = crate::events::rules::RetryPolicy)]
    pub retry: Value,
    /// Where deliveries go that run out of attempts.
    #[schema(value_type = crate::events::rules::DeadLetter)]
    pub dead_letter: Value,
    /// Epoch ms.
    pub created_ms: i64,
    /// Epoch ms.
    pub updated_ms: i64,
}

impl RuleRow {
    /// A new rule of the project, enabled, with nothing set yet.
    pub fn new(project_id: &str, name: &str) -> Self {
        Self {
            id: String::new(),
            project_id: project_id.to_owned(),
            name: name.to_owned(),
            description: String::new(),
            enabled: true,
            sources: Value::Object(Default::default()),
            pattern: Value::Null,
            targets: Value::Array(Vec::new()),
            retry: Value::Object(Default::default()),
            dead_letter: Value::Object(Default::default()),
            created_ms: 0,
            updated_ms: 0,
        }
    }
}

fn rule_row(r: &AnyRow) -> Result<RuleRow> {
    Ok(RuleRow {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        sources: json_column(r, "sources_json")?,
        pattern: json_column(r, "pattern_json")?,
        targets: json_column(r, "targets_json")?,
        retry: json_column(r, "retry_json")?,
        dead_letter: json_column(r, "dead_letter_json")?,
        created_ms: r.try_get("created_ms")?,
        updated_ms: r.try_get("updated_ms")?,
    })
}

const RULE_COLUMNS: &str = "id, project_id, name, description, enabled, sources_json, pattern_json, \
     targets_json, retry_json, dead_letter_json, created_ms, updated_ms";

async fn bump_generation(tx: &mut sqlx::Transaction<'static, sqlx::Any>) -> Result<()> {
    sqlx::query("UPDATE event_rules_generation SET generation = generation + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl ProjectScope {
    /// Stores a new rule (id and times assigned here) if `limit` has room
    /// for it.
    pub async fn insert_rule(
        &self,
        mut row: RuleRow,
        limit: &CountLimit,
    ) -> Result<std::result::Result<RuleRow, CreateRefused>> {
        row.id = new_id();
        row.project_id = self.project_id.clone();
        row.created_ms = now_ms();
        row.updated_ms = row.created_ms;
        let mut tx = self.begin_write().await?;
        if let Err(q) = limit.check(&mut tx, &self.project_id).await? {
            return Ok(Err(q.into()));
        }
        let sql = format!(
            "INSERT INTO event_rules ({RULE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        let query = sqlx::query(&sql)
            .bind(&row.id)
            .bind(&row.project_id)
            .bind(&row.name);
        let done = bind_content(query, &row)
            .bind(row.created_ms)
            .bind(row.updated_ms)
            .execute(&mut *tx)
            .await;
        if !inserted(done)? {
            return Ok(Err(CreateRefused::Conflict));
        }
        bump_generation(&mut tx).await?;
        tx.commit().await?;
        Ok(Ok(row))
    }

    /// Writes a changed rule over the stored one (matched by id), and sets
    /// its update time.
    pub async fn update_rule(&self, row: &mut RuleRow) -> Result<bool> {
        row.updated_ms = now_ms();
        let mut tx = self.begin_write().await?;
        let query = sqlx::query(
            "UPDATE event_rules SET description = $1, enabled = $2, sources_json = $3, pattern_json = $4, \
             targets_json = $5, retry_json = $6, dead_letter_json = $7, updated_ms = $8 \
             WHERE id = $9 AND project_id = $10",
        );
        let done = bind_content(query, row)
            .bind(row.updated_ms)
            .bind(&row.id)
            .bind(&self.project_id)
            .execute(&mut *tx)
            .await?;
        bump_generation(&mut tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// A rule by name.
    pub async fn rule(&self, name: &str) -> Result<Option<RuleRow>> {
        let row = sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM event_rules WHERE project_id = $1 AND name = $2"
        ))
        .bind(&self.project_id)
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(rule_row).transpose()
    }

    /// Rules by name after `after`, at most `limit`.
    pub async fn rules(&self, after: Option<&str>, limit: i64) -> Result<Vec<RuleRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM event_rules WHERE project_id = $1 AND name > $2 ORDER BY name LIMIT $3"
        ))
        .bind(&self.project_id)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(rule_row).collect()
    }

    /// Deletes a rule; deliveries it still owes are dropped with it.
    pub async fn delete_rule(&self, id: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM event_rules WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(&self.project_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM event_deliveries WHERE rule_id = $1 AND project_id = $2")
            .bind(id)
            .bind(&self.project_id)
            .execute(&mut *tx)
            .await?;
        bump_generation(&mut tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }
}

impl Store {
    /// Every rule of every live project, and the rules' generation.
    pub async fn all_rules(&self) -> Result<(i64, Vec<RuleRow>)> {
        let generation = self.rules_generation().await?;
        let rows = sqlx::query(&format!(
            "SELECT {} FROM event_rules r JOIN projects p ON p.id = r.project_id \
             WHERE p.deleted_ms IS NULL",
            RULE_COLUMNS
                .split(", ")
                .map(|c| format!("r.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .fetch_all(self.pool())
        .await?;
        Ok((generation, rows.iter().map(rule_row).collect::<Result<_>>()?))
    }

    /// Grows with every change to any rule.
    pub async fn rules_generation(&self) -> Result<i64> {
        let row = sqlx::query("SELECT generation FROM event_rules_generation WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("generation")?)
    }
}

/// Binds what a rule says, in the order both the INSERT and the UPDATE
/// list it: description, enabled, sources, pattern, targets, retry, dead
/// letter.
fn bind_content<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    row: &'q RuleRow,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(&row.description)
        .bind(i64::from(row.enabled))
        .bind(row.sources.to_string())
        .bind(row.pattern.to_string())
        .bind(row.targets.to_string())
        .bind(row.retry.to_string())
        .bind(row.dead_letter.to_string())
}
