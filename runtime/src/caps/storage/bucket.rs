use super::reader::BodyReader;
use super::writer::{BodyWriter, upload_stream};
use super::{ObjectWriter, StorageBucket, StorageResult, meta};
use crate::caps::backend::{BackendError, Cause, ListQuery, PutOptions, StorageBackend};
use crate::caps::bindings::storage;
use crate::caps::{CapError, check_name};
use crate::state::InstanceState;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use tokio::sync::{mpsc, oneshot};
use wasmtime::component::Resource;
use wasmtime_wasi::p2::DynInputStream;

/// Most entries a `list` page returns.
const MAX_LIST: u32 = 1000;

impl storage::HostBucket for InstanceState {
    async fn open(&mut self, name: String) -> StorageResult<Resource<StorageBucket>> {
        let run = async {
            self.caps.count_call()?;
            check_name("bucket", &name)?;
            if !self
                .caps
                .backend::<dyn StorageBackend>()?
                .bucket_exists(&name)
                .await?
            {
                return Err(CapError::Backend(BackendError::NotFound(format!(
                    "no bucket {name:?} in this project"
                ))));
            }
            Ok(())
        };
        match run.await {
            Ok(()) => Ok(Ok(self.table.push(StorageBucket { name })?)),
            Err(e) => Ok(Err(e.into())),
        }
    }

    async fn name(&mut self, bucket: Resource<StorageBucket>) -> wasmtime::Result<String> {
        self.storage_bucket(&bucket)
    }

    async fn get(
        &mut self,
        bucket: Resource<StorageBucket>,
        key: String,
    ) -> StorageResult<(storage::ObjectMeta, Resource<DynInputStream>)> {
        let name = self.storage_bucket(&bucket)?;
        let run = async {
            self.storage_check("storage:GetObject", &name, &key)?;
            Ok::<_, CapError>(
                self.caps
                    .backend::<dyn StorageBackend>()?
                    .get(&name, &key)
                    .await?,
            )
        };
        match run.await {
            Ok((m, body)) => {
                // The whole object counts against the read cap up front, so
                // the cap holds however the guest reads the stream.
                if let Err(e) = self.caps.count_read(m.size) {
                    return Ok(Err(e.into()));
                }
                let stream: DynInputStream = Box::new(BodyReader::new(body));
                Ok(Ok((meta(m), self.table.push(stream)?)))
            }
            Err(e) => Ok(Err(e.into())),
        }
    }

    async fn head(
        &mut self,
        bucket: Resource<StorageBucket>,
        key: String,
    ) -> StorageResult<storage::ObjectMeta> {
        let name = self.storage_bucket(&bucket)?;
        let run = async {
            self.storage_check("storage:GetObject", &name, &key)?;
            Ok::<_, CapError>(meta(
                self.caps
                    .backend::<dyn StorageBackend>()?
                    .head(&name, &key)
                    .await?,
            ))
        };
        Ok(run.await.map_err(Into::into))
    }

    async fn put(
        &mut self,
        bucket: Resource<StorageBucket>,
        key: String,
        options: storage::PutOptions,
    ) -> StorageResult<Resource<ObjectWriter>> {
        let name = self.storage_bucket(&bucket)?;
        let checked = self
            .storage_check("storage:PutObject", &name, &key)
            .and_then(|()| self.caps.backend::<dyn StorageBackend>());
        let backend = match checked {
            Ok(b) => b,
            Err(e) => return Ok(Err(e.into())),
        };
        let budget = self.caps.write_budget();
        let (tx, rx) = mpsc::channel::<Bytes>(8);
        let (close_tx, close_rx) = oneshot::channel();
        let written = Arc::new(AtomicU64::new(0));
        let options = PutOptions {
            content_type: options.content_type,
            metadata: options.metadata.into_iter().collect::<BTreeMap<_, _>>(),
            cause: Cause::of(self.caps.delivery.as_deref()),
        };
        let poisoned = Arc::new(AtomicBool::new(false));
        let body = upload_stream(rx, close_rx, poisoned.clone());
        let task = tokio::spawn(async move { backend.put(&name, &key, options, body).await });
        let writer = ObjectWriter {
            body: Some(Box::new(BodyWriter {
                tx,
                pending: None,
                budget,
                written: written.clone(),
                poisoned,
            })),
            close: Some(close_tx),
            task,
            written,
        };
        Ok(Ok(self.table.push(writer)?))
    }

    async fn delete(&mut self, bucket: Resource<StorageBucket>, key: String) -> StorageResult<()> {
        let name = self.storage_bucket(&bucket)?;
        let run = async {
            self.storage_check("storage:DeleteObject", &name, &key)?;
            let cause = Cause::of(self.caps.delivery.as_deref());
            self.caps
                .backend::<dyn StorageBackend>()?
                .delete(&name, &key, cause)
                .await?;
            Ok::<_, CapError>(())
        };
        Ok(run.await.map_err(Into::into))
    }

    async fn list(
        &mut self,
        bucket: Resource<StorageBucket>,
        prefix: Option<String>,
        delimiter: Option<String>,
        cursor: Option<String>,
        limit: u32,
    ) -> StorageResult<storage::ObjectPage> {
        let name = self.storage_bucket(&bucket)?;
        let run = async {
            self.caps
                .check("storage", "storage:ListBucket", &format!("bucket/{name}"))?;
            let query = ListQuery {
                prefix: prefix.unwrap_or_default(),
                delimiter,
                cursor,
                limit: limit.clamp(1, MAX_LIST),
            };
            let page = self
                .caps
                .backend::<dyn StorageBackend>()?
                .list(&name, query)
                .await?;
            Ok::<_, CapError>(storage::ObjectPage {
                objects: page.objects.into_iter().map(meta).collect(),
                common_prefixes: page.common_prefixes,
                cursor: page.cursor,
            })
        };
        Ok(run.await.map_err(Into::into))
    }

    async fn drop(&mut self, bucket: Resource<StorageBucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}
