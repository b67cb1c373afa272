//! A project's objects as the `storage` interface of its functions sees
//! them.

use super::{ProjectObjects, meta, unavailable};
use futures::{StreamExt, TryStreamExt};
use minicloud_runtime::caps::backend::{
    BackendError, ByteStream, Cause, ListQuery, ObjectMeta, ObjectPage, PutOptions, StorageBackend,
};
use minicloud_runtime::names::check_key;

#[async_trait::async_trait]
impl StorageBackend for ProjectObjects {
    async fn bucket_exists(&self, bucket: &str) -> Result<bool, BackendError> {
        Ok(self.scope.bucket(bucket).await.map_err(unavailable)?.is_some())
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectMeta, BackendError> {
        check_key(key)?;
        let b = self.bucket(bucket).await?;
        let row = self.scope.object(&b, key).await.map_err(unavailable)?;
        row.as_ref()
            .map(meta)
            .ok_or_else(|| BackendError::NotFound(format!("no object {key:?} in bucket {bucket:?}")))
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<(ObjectMeta, ByteStream), BackendError> {
        check_key(key)?;
        let b = self.bucket(bucket).await?;
        let row = self
            .scope
            .object(&b, key)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| BackendError::NotFound(format!("no object {key:?} in bucket {bucket:?}")))?;
        let got = self
            .service
            .objects
            .get(&Self::path(&b, &row.blob))
            .await
            .map_err(unavailable)?;
        let stream = got.into_stream().map_err(unavailable).boxed();
        Ok((meta(&row), stream))
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        options: PutOptions,
        body: ByteStream,
    ) -> Result<ObjectMeta, BackendError> {
        // The inherent `put` (named by its type: it would shadow this one).
        Ok(ProjectObjects::put(self, bucket, key, options, body).await?)
    }

    async fn delete(&self, bucket: &str, key: &str, cause: Cause) -> Result<bool, BackendError> {
        check_key(key)?;
        let b = self.bucket(bucket).await?;
        let event = self.announcement("Object Deleted", bucket, key, serde_json::json!({}), cause);
        let Some(old) = self
            .scope
            .delete_object(&b, key, event.as_ref())
            .await
            .map_err(unavailable)?
        else {
            return Ok(false);
        };
        self.service.outbox.written();
        self.remove_blob(&b, &old).await;
        Ok(true)
    }

    async fn list(&self, bucket: &str, query: ListQuery) -> Result<ObjectPage, BackendError> {
        let b = self.bucket(bucket).await?;
        let limit = query.limit.clamp(1, 1000) as usize;
        let delimiter = query.delimiter.filter(|d| !d.is_empty());
        let mut page = ObjectPage::default();
        let mut after = query.cursor.unwrap_or_default();
        loop {
            let rows = self
                .scope
                .objects(&b, &query.prefix, &after, (limit + 1) as i64)
                .await
                .map_err(unavailable)?;
            let exhausted = rows.len() <= limit;
            for row in rows {
                let rolled = delimiter.as_deref().and_then(|d| {
                    row.key[query.prefix.len()..]
                        .find(d)
                        .map(|i| row.key[..query.prefix.len() + i + d.len()].to_owned())
                });
                let repeat = rolled.is_some() && page.common_prefixes.last() == rolled.as_ref();
                if !repeat && page.objects.len() + page.common_prefixes.len() == limit {
                    page.cursor = Some(after);
                    return Ok(page);
                }
                after = row.key.clone();
                match rolled {
                    Some(_) if repeat => {}
                    Some(p) => page.common_prefixes.push(p),
                    None => page.objects.push(meta(&row)),
                }
            }
            if exhausted {
                return Ok(page);
            }
        }
    }
}
