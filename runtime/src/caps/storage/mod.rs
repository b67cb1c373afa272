//! `minicloud:platform/storage` over the project's object storage. Actions:
//! `storage:GetObject` (get, head), `storage:PutObject`,
//! `storage:DeleteObject` on `mrn:storage:<org>:<project>:bucket/<b>/<key>`,
//! and `storage:ListBucket` on `...:bucket/<b>`.
//!
//! - `bucket`: the bucket resource's calls: open, and get, head, put,
//!   delete and list of objects.
//! - `writer`: uploads: the object-writer resource, the guest's body
//!   stream and the backend's view of it.
//! - `reader`: downloads: the guest's body stream over the backend's.

mod bucket;
mod reader;
mod writer;

use super::CapError;
use super::backend::{BackendError, ObjectMeta};
use super::bindings::{storage, types};
use crate::names::check_key;
use crate::state::InstanceState;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wasmtime::component::Resource;
use wasmtime_wasi::p2::DynOutputStream;

/// An open bucket.
#[derive(Debug)]
pub struct StorageBucket {
    name: String,
}

/// An upload in progress: the guest writes into a channel that a task
/// streams into the backend.
pub struct ObjectWriter {
    body: Option<DynOutputStream>,
    close: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<ObjectMeta, BackendError>>,
    /// Bytes the guest wrote into the body stream so far.
    written: Arc<AtomicU64>,
}

impl std::fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWriter").finish_non_exhaustive()
    }
}

impl Drop for ObjectWriter {
    /// An upload never finished is abandoned: nothing becomes visible.
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn meta(m: ObjectMeta) -> storage::ObjectMeta {
    storage::ObjectMeta {
        key: m.key,
        size: m.size,
        etag: m.etag,
        content_type: m.content_type,
        last_modified: m.last_modified_ms,
        metadata: m.metadata.into_iter().collect(),
    }
}

type StorageResult<T> = wasmtime::Result<Result<T, types::Error>>;

impl InstanceState {
    fn storage_bucket(&self, bucket: &Resource<StorageBucket>) -> wasmtime::Result<String> {
        Ok(self.table.get(bucket)?.name.clone())
    }

    fn storage_check(&mut self, action: &str, bucket: &str, key: &str) -> Result<(), CapError> {
        check_key(key)?;
        self.caps
            .check("storage", action, &format!("bucket/{bucket}/{key}"))
    }
}

impl storage::Host for InstanceState {}

impl types::Host for InstanceState {}
