//! The object storage service: metadata in the database, content in the
//! object store (a local folder by default, S3 by URL). Both the REST API
//! and functions (through [`ProjectObjects`]) go through it, so keys are
//! validated, uploads become visible only when complete and within the
//! stored-bytes quotas of their project and org, and every change emits a
//! platform event.
//!
//! - `backend`: [`ProjectObjects`] as the functions' storage backend.

mod backend;

use crate::events::platform::{OutboxSignal, PlatformEvent};
use crate::store::Store;
use crate::store::objects::{BucketRow, ObjectRow};
use crate::store::outbox::OutboxRow;
use crate::store::projects::{Project, ProjectScope};
use crate::store::quotas::{Kind, QuotaBook, QuotaError, QuotaExceeded, Room};
use crate::util::{new_id, now_ms};
use futures::{Stream, StreamExt};
use minicloud_runtime::caps::backend::{BackendError, ByteStream, Cause, ObjectMeta, PutOptions};
use minicloud_runtime::names::check_key;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, WriteMultipart};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Largest object accepted, bytes.
pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// User metadata per object, bytes of keys and values together.
const MAX_METADATA_BYTES: usize = 2048;
/// Upload parts are this large.
const PART_BYTES: usize = 8 * 1024 * 1024;

/// Why an upload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// Refused by the service or its backing stores.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// It would pass the stored-bytes quota of its project or org.
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
}

impl From<QuotaError> for PutError {
    fn from(e: QuotaError) -> Self {
        match e {
            QuotaError::Exceeded(q) => q.into(),
            QuotaError::Store(e) => unavailable(e).into(),
        }
    }
}

/// Functions see a quota refusal as a `limit-exceeded` error with its message.
impl From<PutError> for BackendError {
    fn from(e: PutError) -> Self {
        match e {
            PutError::Backend(b) => b,
            PutError::Quota(q) => BackendError::QuotaExceeded(q.to_string()),
        }
    }
}

/// Why a bucket was not created or deleted.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    /// A bucket of that name exists in the project.
    #[error("bucket {0:?} already exists in project {1:?}")]
    Exists(String, String),
    /// The bucket still holds objects.
    #[error("bucket {0:?} still holds objects; delete them first")]
    NotEmpty(String),
    /// Refused by the service or its backing stores.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// The service shared by every project.
#[derive(Clone)]
pub struct ObjectService {
    store: Store,
    objects: Arc<dyn ObjectStore>,
    /// Wakes the pump that moves the outbox onto the bus.
    outbox: OutboxSignal,
    quotas: Arc<QuotaBook>,
}

impl std::fmt::Debug for ObjectService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectService")
            .field("objects", &self.objects.to_string())
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(format!("object storage failed: {e}"))
}

fn meta(row: &ObjectRow) -> ObjectMeta {
    ObjectMeta {
        key: row.key.clone(),
        size: row.size as u64,
        etag: row.etag.clone(),
        content_type: row.content_type.clone(),
        last_modified_ms: row.modified_ms,
        metadata: row.metadata.clone(),
    }
}

impl ObjectService {
    /// A service over the database and an object store, holding uploads
    /// to the quotas of `quotas`.
    pub fn new(
        store: Store,
        objects: Arc<dyn ObjectStore>,
        outbox: OutboxSignal,
        quotas: Arc<QuotaBook>,
    ) -> Self {
        Self {
            store,
            objects,
            outbox,
            quotas,
        }
    }

    /// One project's view.
    pub fn project(&self, project: &Project) -> ProjectObjects {
        ProjectObjects {
            service: self.clone(),
            project: project.clone(),
            scope: self.store.in_project(project),
        }
    }
}

/// The object storage of one project.
#[derive(Clone)]
pub struct ProjectObjects {
    service: ObjectService,
    project: Project,
    scope: ProjectScope,
}

impl std::fmt::Debug for ProjectObjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectObjects")
            .field("project", &self.project.name)
            .finish_non_exhaustive()
    }
}

impl ProjectObjects {
    /// Creates bucket `name` (a name the caller checked with
    /// [`minicloud_runtime::names::valid_name`]).
    pub async fn create_bucket(&self, name: &str) -> Result<BucketRow, BucketError> {
        self.scope
            .create_bucket(name)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| BucketError::Exists(name.to_owned(), self.project.name.clone()))
    }

    /// Up to `limit` buckets, by name, after `after`.
    pub async fn buckets(&self, after: &str, limit: i64) -> Result<Vec<BucketRow>, BackendError> {
        self.scope.buckets(after, limit).await.map_err(unavailable)
    }

    /// Deletes bucket `name`, which must be empty.
    pub async fn delete_bucket(&self, name: &str) -> Result<(), BucketError> {
        let row = self.bucket(name).await?;
        if self.scope.delete_bucket(&row).await.map_err(unavailable)? {
            Ok(())
        } else {
            Err(BucketError::NotEmpty(name.to_owned()))
        }
    }

    /// The bucket named `name`, or `NotFound`.
    pub async fn bucket(&self, name: &str) -> Result<BucketRow, BackendError> {
        self.scope
            .bucket(name)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                BackendError::NotFound(format!("no bucket {name:?} in project {:?}", self.project.name))
            })
    }

    fn path(bucket: &BucketRow, blob: &str) -> ObjectPath {
        ObjectPath::from(format!("buckets/{}/{blob}", bucket.id))
    }

    /// The outbox row announcing a change of an object, written with the
    /// change. One caused by a chain of event deliveries deeper than
    /// `events::loops::MAX_HOPS` is not announced (a function that writes
    /// the object whose event runs it would loop), but counted and logged;
    /// the write itself stands.
    fn announcement(
        &self,
        detail_type: &str,
        bucket: &str,
        key: &str,
        extra: serde_json::Value,
        cause: Cause,
    ) -> Option<OutboxRow> {
        if crate::events::loops::too_deep(cause.hops) {
            crate::events::loops::count(&self.project, "");
            tracing::warn!(project = %self.project.name, bucket, key, hops = cause.hops,
                "an object event was not announced: the chain of deliveries that wrote it is too deep");
            return None;
        }
        let mut detail = serde_json::json!({ "bucket": { "name": bucket }, "object": { "key": key } });
        if let (Some(obj), serde_json::Value::Object(more)) = (detail["object"].as_object_mut(), extra) {
            obj.extend(more);
        }
        let event = PlatformEvent {
            source: "minicloud.storage".into(),
            detail_type: detail_type.into(),
            project_id: self.project.id.clone(),
            resources: vec![format!(
                "mrn:storage:{}:{}:bucket/{bucket}/{key}",
                self.project.org_name, self.project.name
            )],
            detail,
        };
        Some(event.into_outbox(cause.hops))
    }

    /// Streams `body` to `path`, stopping as soon as it passes the largest
    /// object or the quota's `room`.
    async fn write(
        &self,
        path: &ObjectPath,
        mut body: ByteStream,
        room: &Room,
    ) -> Result<(u64, String), PutError> {
        let upload = self
            .service
            .objects
            .put_multipart(path)
            .await
            .map_err(unavailable)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let result = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                size += chunk.len() as u64;
                if size > MAX_OBJECT_BYTES {
                    return Err(BackendError::Invalid(format!(
                        "an object may hold at most {MAX_OBJECT_BYTES} bytes"
                    ))
                    .into());
                }
                room.admit(size)?;
                hasher.update(&chunk);
                writer.wait_for_capacity(4).await.map_err(unavailable)?;
                writer.put(chunk);
            }
            Ok::<(), PutError>(())
        }
        .await;
        match result {
            Ok(()) => {
                writer.finish().await.map_err(unavailable)?;
                Ok((size, format!("\"{}\"", hex::encode(&hasher.finalize()[..16]))))
            }
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    async fn remove_blob(&self, bucket: &BucketRow, blob: &str) {
        if let Err(e) = self.service.objects.delete(&Self::path(bucket, blob)).await {
            tracing::warn!(error = %e, blob, "cannot remove a replaced object's content");
        }
    }

    /// Stores an object. This inherent method shadows
    /// [`StorageBackend::put`] (which functions reach, and which calls it):
    /// the REST API calls it to tell quota refusals apart.
    ///
    /// The upload is held to the stored-bytes quotas of the project and its
    /// org (an object it replaces gives its bytes back): a body that
    /// declares a larger length (the lower bound of its size, such as an
    /// HTTP upload's `Content-Length`) is refused before a byte is stored,
    /// one that grows past the room is cut off, and the room is checked
    /// again before the row is written, as other uploads may have finished
    /// meanwhile.
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        options: PutOptions,
        body: ByteStream,
    ) -> Result<ObjectMeta, PutError> {
        check_key(key)?;
        let size: usize = options.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > MAX_METADATA_BYTES {
            return Err(BackendError::Invalid(format!(
                "user metadata may hold at most {MAX_METADATA_BYTES} bytes"
            ))
            .into());
        }
        let cause = options.cause;
        let b = self.bucket(bucket).await?;
        let room = self.room(&b, key).await?;
        room.admit(body.size_hint().0 as u64)?;
        let blob = new_id();
        let path = Self::path(&b, &blob);
        let (size, etag) = self.write(&path, body, &room).await?;
        let row = ObjectRow {
            key: key.to_owned(),
            blob,
            size: size as i64,
            etag,
            content_type: options.content_type,
            metadata: options.metadata,
            modified_ms: now_ms(),
        };
        let event = self.announcement(
            "Object Created",
            bucket,
            key,
            serde_json::json!({ "size": size, "etag": row.etag }),
            cause,
        );
        let replaced = match self.commit(&b, &row, event.as_ref()).await {
            Ok(old) => old,
            Err(e) => {
                let _ = self.service.objects.delete(&path).await;
                return Err(e);
            }
        };
        self.service.outbox.written();
        if let Some(old) = replaced {
            self.remove_blob(&b, &old).await;
        }
        Ok(meta(&row))
    }

    /// The bytes an upload to `key` may hold under the quotas: what is
    /// left, plus the size of the object it would replace.
    async fn room(&self, b: &BucketRow, key: &str) -> Result<Room, PutError> {
        let room = self.service.quotas.bytes_room(&self.project).await?;
        let replaced = self.scope.object(b, key).await.map_err(unavailable)?;
        Ok(room.freeing(replaced.map_or(0, |o| o.size.max(0) as u64)))
    }

    /// Writes the row of a completed upload if the quotas still have room
    /// for it; returns the blob of the object it replaced. The room is
    /// checked in the transaction that writes the row, with the org's row
    /// locked, so uploads completing at once (on any node) cannot pass a
    /// quota together.
    async fn commit(
        &self,
        b: &BucketRow,
        row: &ObjectRow,
        event: Option<&OutboxRow>,
    ) -> Result<Option<String>, PutError> {
        let limit = self.service.quotas.count_limit(&self.project, Kind::StoredBytes);
        Ok(self
            .scope
            .put_object(b, row, event, &limit)
            .await
            .map_err(unavailable)??)
    }
}
