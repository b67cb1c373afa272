//! Buckets of a project and the metadata of their objects. The content is
//! in the object store under each row's `blob`.

use super::outbox::OutboxRow;
use super::projects::ProjectScope;
use super::quotas::{CountLimit, QuotaExceeded};
use super::{Result, StoreError};
use crate::util::{new_id, now_ms};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

/// A bucket.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct BucketRow {
    /// Stable id.
    #[serde(skip)]
    pub id: String,
    /// Unique in the project.
    pub name: String,
    /// Creation time, epoch ms.
    pub created_ms: i64,
}

/// An object's row.
#[derive(Debug, Clone)]
pub struct ObjectRow {
    /// Its key.
    pub key: String,
    /// Where its content is in the object store.
    pub blob: String,
    /// Bytes.
    pub size: i64,
    /// Quoted content hash.
    pub etag: String,
    /// Content type.
    pub content_type: Option<String>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// Last write, epoch ms.
    pub modified_ms: i64,
}

const OBJECT_COLUMNS: &str = "object_key, blob, size, etag, content_type, metadata_json, modified_ms";

fn object_row(r: &AnyRow) -> Result<ObjectRow> {
    let metadata_json: String = r.try_get("metadata_json")?;
    Ok(ObjectRow {
        key: r.try_get("object_key")?,
        blob: r.try_get("blob")?,
        size: r.try_get("size")?,
        etag: r.try_get("etag")?,
        content_type: r.try_get("content_type")?,
        metadata: serde_json::from_str(&metadata_json)
            .map_err(|e| StoreError::Corrupt(format!("objects.metadata_json: {e}")))?,
        modified_ms: r.try_get("modified_ms")?,
    })
}

fn bucket_row(r: &AnyRow) -> Result<BucketRow> {
    Ok(BucketRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        created_ms: r.try_get("created_ms")?,
    })
}

async fn blob_of(conn: &mut sqlx::AnyConnection, bucket: &BucketRow, key: &str) -> Result<Option<String>> {
    sqlx::query("SELECT blob FROM objects WHERE bucket_id = $1 AND object_key = $2")
        .bind(&bucket.id)
        .bind(key)
        .fetch_optional(conn)
        .await?
        .map(|r| r.try_get("blob"))
        .transpose()
        .map_err(Into::into)
}

async fn size_of(conn: &mut sqlx::AnyConnection, bucket: &BucketRow, key: &str) -> Result<u64> {
    let size: Option<i64> = sqlx::query("SELECT size FROM objects WHERE bucket_id = $1 AND object_key = $2")
        .bind(&bucket.id)
        .bind(key)
        .fetch_optional(conn)
        .await?
        .map(|r| r.try_get("size"))
        .transpose()?;
    Ok(size.unwrap_or(0).max(0) as u64)
}

impl ProjectScope {
    /// Creates a bucket; `None` if one of that name exists.
    pub async fn create_bucket(&self, name: &str) -> Result<Option<BucketRow>> {
        let row = BucketRow {
            id: new_id(),
            name: name.to_owned(),
            created_ms: now_ms(),
        };
        let inserted =
            sqlx::query("INSERT INTO buckets (id, project_id, name, created_ms) VALUES ($1, $2, $3, $4)")
                .bind(&row.id)
                .bind(&self.project_id)
                .bind(&row.name)
                .bind(row.created_ms)
                .execute(self.pool())
                .await;
        Ok(super::inserted(inserted)?.then_some(row))
    }

    /// A bucket by name.
    pub async fn bucket(&self, name: &str) -> Result<Option<BucketRow>> {
        let row = sqlx::query("SELECT id, name, created_ms FROM buckets WHERE project_id = $1 AND name = $2")
            .bind(&self.project_id)
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(bucket_row).transpose()
    }

    /// Buckets after `after`, by name, at most `limit`.
    pub async fn buckets(&self, after: &str, limit: i64) -> Result<Vec<BucketRow>> {
        let rows = sqlx::query(
            "SELECT id, name, created_ms FROM buckets WHERE project_id = $1 AND name > $2 \
             ORDER BY name LIMIT $3",
        )
        .bind(&self.project_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(bucket_row).collect()
    }

    /// Deletes an empty bucket: false when it still holds objects.
    pub async fn delete_bucket(&self, bucket: &BucketRow) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM objects WHERE bucket_id = $1")
            .bind(&bucket.id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if n > 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM buckets WHERE id = $1 AND project_id = $2")
            .bind(&bucket.id)
            .bind(&self.project_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// An object's row.
    pub async fn object(&self, bucket: &BucketRow, key: &str) -> Result<Option<ObjectRow>> {
        let row = sqlx::query(&format!(
            "SELECT {OBJECT_COLUMNS} FROM objects o JOIN buckets b ON b.id = o.bucket_id \
             WHERE b.project_id = $1 AND o.bucket_id = $2 AND o.object_key = $3"
        ))
        .bind(&self.project_id)
        .bind(&bucket.id)
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(object_row).transpose()
    }

    /// Makes `object` the bucket's object at its key if `limit` (of stored
    /// bytes) has room for it; returns the blob it replaced, which the
    /// caller removes.
    pub async fn put_object(
        &self,
        bucket: &BucketRow,
        object: &ObjectRow,
        event: Option<&OutboxRow>,
        limit: &CountLimit,
    ) -> Result<std::result::Result<Option<String>, QuotaExceeded>> {
        let mut tx = self.begin_write().await?;
        let old = blob_of(&mut tx, bucket, &object.key).await?;
        let freeing = match &old {
            Some(_) => size_of(&mut tx, bucket, &object.key).await?,
            None => 0,
        };
        let adding = object.size.max(0) as u64;
        if let Err(q) = limit
            .check_change(&mut tx, &self.project_id, adding, freeing)
            .await?
        {
            return Ok(Err(q));
        }
        let metadata = serde_json::to_string(&object.metadata).unwrap_or_else(|_| "{}".into());
        sqlx::query(
            "INSERT INTO objects (bucket_id, object_key, blob, size, etag, content_type, metadata_json, \
             modified_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (bucket_id, object_key) DO UPDATE SET blob = excluded.blob, size = excluded.size, \
             etag = excluded.etag, content_type = excluded.content_type, \
             metadata_json = excluded.metadata_json, modified_ms = excluded.modified_ms",
        )
        .bind(&bucket.id)
        .bind(&object.key)
        .bind(&object.blob)
        .bind(object.size)
        .bind(&object.etag)
        .bind(&object.content_type)
        .bind(metadata)
        .bind(object.modified_ms)
        .execute(&mut *tx)
        .await?;
        if let Some(event) = event {
            super::outbox::put_all(&mut tx, self.backend(), std::slice::from_ref(event)).await?;
        }
        tx.commit().await?;
        Ok(Ok(old))
    }

    /// Removes an object's row, and adds `event` to the outbox if there was
    /// one; returns its blob.
    pub async fn delete_object(
        &self,
        bucket: &BucketRow,
        key: &str,
        event: Option<&OutboxRow>,
    ) -> Result<Option<String>> {
        let mut tx = self.begin_write().await?;
        let old = blob_of(&mut tx, bucket, key).await?;
        sqlx::query("DELETE FROM objects WHERE bucket_id = $1 AND object_key = $2")
            .bind(&bucket.id)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        if let (Some(event), Some(_)) = (event, &old) {
            super::outbox::put_all(&mut tx, self.backend(), std::slice::from_ref(event)).await?;
        }
        tx.commit().await?;
        Ok(old)
    }

    /// Objects with keys starting with `prefix` and after `after`, in key
    /// order, at most `limit`.
    pub async fn objects(
        &self,
        bucket: &BucketRow,
        prefix: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<ObjectRow>> {
        // A prefix test rather than a range, so that it holds whatever the
        // database's collation; order and cursor use that collation alike.
        let rows = sqlx::query(&format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket_id = $1 \
             AND substr(object_key, 1, length($2)) = $2 AND object_key > $3 \
             ORDER BY object_key LIMIT $4"
        ))
        .bind(&bucket.id)
        .bind(prefix)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(object_row).collect()
    }
}
