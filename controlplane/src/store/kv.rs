//! Key-value entries: one namespace per project and bucket. Values carry a
//! version that grows on every write, for compare-and-swap.

use super::Result;
use super::projects::ProjectScope;
use crate::util::now_ms;
use sqlx::Row;

/// A value and its version (0: absent).
pub type Entry = (Option<Vec<u8>>, i64);

impl ProjectScope {
    /// The value and version of a key.
    pub async fn kv_get(&self, bucket: &str, key: &str) -> Result<Entry> {
        let row = sqlx::query(
            "SELECT value, version FROM kv_entries WHERE project_id = $1 AND bucket = $2 AND entry_key = $3",
        )
        .bind(&self.project_id)
        .bind(bucket)
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(r) => (Some(r.try_get("value")?), r.try_get("version")?),
            None => (None, 0),
        })
    }

    /// Sets a key.
    pub async fn kv_set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO kv_entries (project_id, bucket, entry_key, value, version, updated_ms) \
             VALUES ($1, $2, $3, $4, 1, $5) \
             ON CONFLICT (project_id, bucket, entry_key) DO UPDATE \
             SET value = excluded.value, version = kv_entries.version + 1, updated_ms = excluded.updated_ms",
        )
        .bind(&self.project_id)
        .bind(bucket)
        .bind(key)
        .bind(value.to_vec())
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Removes a key.
    pub async fn kv_delete(&self, bucket: &str, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM kv_entries WHERE project_id = $1 AND bucket = $2 AND entry_key = $3")
            .bind(&self.project_id)
            .bind(bucket)
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Keys after `after`, in order, at most `limit`.
    pub async fn kv_keys(&self, bucket: &str, after: Option<&str>, limit: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT entry_key FROM kv_entries WHERE project_id = $1 AND bucket = $2 AND entry_key > $3 \
             ORDER BY entry_key LIMIT $4",
        )
        .bind(&self.project_id)
        .bind(bucket)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| r.try_get("entry_key").map_err(Into::into))
            .collect()
    }

    /// Writes `value` if the key is at `version` (0: absent); false when it
    /// moved on.
    pub async fn kv_swap(&self, bucket: &str, key: &str, version: i64, value: &[u8]) -> Result<bool> {
        if version == 0 {
            let inserted = sqlx::query(
                "INSERT INTO kv_entries (project_id, bucket, entry_key, value, version, updated_ms) \
                 VALUES ($1, $2, $3, $4, 1, $5)",
            )
            .bind(&self.project_id)
            .bind(bucket)
            .bind(key)
            .bind(value.to_vec())
            .bind(now_ms())
            .execute(self.pool())
            .await;
            return super::inserted(inserted);
        }
        let done = sqlx::query(
            "UPDATE kv_entries SET value = $1, version = version + 1, updated_ms = $2 \
             WHERE project_id = $3 AND bucket = $4 AND entry_key = $5 AND version = $6",
        )
        .bind(value.to_vec())
        .bind(now_ms())
        .bind(&self.project_id)
        .bind(bucket)
        .bind(key)
        .bind(version)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
