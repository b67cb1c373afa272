//! The key-value store of functions, on the platform's database: one
//! namespace per project and bucket.

use crate::store::projects::ProjectScope;
use minicloud_runtime::caps::backend::{BackendError, KeyPage, KvBackend, Versioned};

/// Largest value, bytes.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// One project's key-value store.
#[derive(Debug, Clone)]
pub struct ProjectKv {
    scope: ProjectScope,
}

impl ProjectKv {
    /// The store of the project `scope` names.
    pub fn new(scope: ProjectScope) -> Self {
        Self { scope }
    }
}

fn unavailable(e: crate::store::StoreError) -> BackendError {
    BackendError::Unavailable(format!("the key-value store failed: {e}"))
}

fn too_large(value: &[u8]) -> Result<(), BackendError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(BackendError::Invalid(format!(
            "a value may hold at most {MAX_VALUE_BYTES} bytes, not {}",
            value.len()
        )));
    }
    Ok(())
}

#[async_trait::async_trait]
impl KvBackend for ProjectKv {
    async fn get(&self, bucket: &str, key: &str) -> Result<Versioned, BackendError> {
        let (value, version) = self.scope.kv_get(bucket, key).await.map_err(unavailable)?;
        Ok(Versioned { value, version })
    }

    async fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<(), BackendError> {
        too_large(value)?;
        self.scope.kv_set(bucket, key, value).await.map_err(unavailable)
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), BackendError> {
        self.scope.kv_delete(bucket, key).await.map_err(unavailable)
    }

    async fn list_keys(
        &self,
        bucket: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, BackendError> {
        let limit = limit.max(1);
        let mut keys = self
            .scope
            .kv_keys(bucket, cursor, i64::from(limit) + 1)
            .await
            .map_err(unavailable)?;
        let cursor = if keys.len() > limit as usize {
            keys.truncate(limit as usize);
            keys.last().cloned()
        } else {
            None
        };
        Ok(KeyPage { keys, cursor })
    }

    async fn increment(&self, bucket: &str, key: &str, delta: i64) -> Result<i64, BackendError> {
        // Optimistic: read, add, swap at the version read; retry on a race.
        for _ in 0..64 {
            let (value, version) = self.scope.kv_get(bucket, key).await.map_err(unavailable)?;
            let current = match value {
                None => 0,
                Some(bytes) => std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|s| s.trim().parse::<i64>().ok())
                    .ok_or_else(|| {
                        BackendError::Invalid(format!("the value at {key:?} is not a decimal integer"))
                    })?,
            };
            let next = current
                .checked_add(delta)
                .ok_or_else(|| BackendError::Invalid(format!("incrementing {key:?} overflows")))?;
            if self
                .scope
                .kv_swap(bucket, key, version, next.to_string().as_bytes())
                .await
                .map_err(unavailable)?
            {
                return Ok(next);
            }
        }
        Err(BackendError::Unavailable(format!(
            "too many concurrent writers on {key:?}; retry"
        )))
    }

    async fn swap(&self, bucket: &str, key: &str, version: i64, value: &[u8]) -> Result<bool, BackendError> {
        too_large(value)?;
        self.scope
            .kv_swap(bucket, key, version, value)
            .await
            .map_err(unavailable)
    }
}
