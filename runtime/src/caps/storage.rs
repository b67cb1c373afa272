//! `minicloud:platform/storage` over the project's object storage. Actions:
//! `storage:GetObject` (get, head), `storage:PutObject`,
//! `storage:DeleteObject` on `mrn:storage:<org>:<project>:bucket/<b>/<key>`,
//! and `storage:ListBucket` on `...:bucket/<b>`.

use super::backend::{BackendError, ByteStream, Cause, ListQuery, ObjectMeta, PutOptions};
use super::bindings::{storage, types};
use super::{CapError, check_name};
use crate::names::check_key;
use crate::state::InstanceState;
use bytes::Bytes;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use wasmtime::component::Resource;
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, InputStream, OutputStream, Pollable, StreamError, StreamResult,
};

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

/// Most entries a `list` page returns.
const MAX_LIST: u32 = 1000;

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

impl storage::HostBucket for InstanceState {
    async fn open(&mut self, name: String) -> StorageResult<Resource<StorageBucket>> {
        let run = async {
            self.caps.count_call()?;
            check_name("bucket", &name)?;
            if !self.caps.storage()?.bucket_exists(&name).await? {
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
            Ok::<_, CapError>(self.caps.storage()?.get(&name, &key).await?)
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
            Ok::<_, CapError>(meta(self.caps.storage()?.head(&name, &key).await?))
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
            .and_then(|()| self.caps.storage());
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
            self.caps.storage()?.delete(&name, &key, cause).await?;
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
            let page = self.caps.storage()?.list(&name, query).await?;
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

impl storage::HostObjectWriter for InstanceState {
    async fn body(&mut self, writer: Resource<ObjectWriter>) -> StorageResult<Resource<DynOutputStream>> {
        let w = self.table.get_mut(&writer)?;
        match w.body.take() {
            Some(body) => Ok(Ok(self.table.push_child(body, &writer)?)),
            None => Ok(Err(types::Error::Invalid(
                "the body stream of this writer was already taken".into(),
            ))),
        }
    }

    async fn finish(&mut self, writer: Resource<ObjectWriter>) -> StorageResult<storage::ObjectMeta> {
        let mut w = self.table.delete(writer)?;
        if let Some(close) = w.close.take() {
            let _ = close.send(());
        }
        let result = (&mut w.task).await;
        if let Err(e) = self.caps.count_written(w.written.load(Ordering::Acquire)) {
            return Ok(Err(e.into()));
        }
        Ok(match result {
            Ok(Ok(m)) => Ok(meta(m)),
            Ok(Err(e)) => Err(CapError::Backend(e).into()),
            Err(e) => Err(types::Error::Unavailable(format!("the upload failed: {e}"))),
        })
    }

    async fn drop(&mut self, writer: Resource<ObjectWriter>) -> wasmtime::Result<()> {
        self.table.delete(writer)?;
        Ok(())
    }
}

/// The backend's view of an upload: the chunks the guest wrote, ending
/// only when the guest calls `finish`. A writer dropped without `finish`,
/// or one that passed the write cap, ends the stream with an error, so that
/// the backend never stores a partial object.
fn upload_stream(
    rx: mpsc::Receiver<Bytes>,
    close: oneshot::Receiver<()>,
    poisoned: Arc<AtomicBool>,
) -> ByteStream {
    enum State {
        Open(mpsc::Receiver<Bytes>, oneshot::Receiver<()>),
        Draining(mpsc::Receiver<Bytes>),
        Done,
    }
    let fail = |m: &str| Err(BackendError::Invalid(m.to_owned()));
    futures::stream::unfold(State::Open(rx, close), move |state| {
        let poisoned = poisoned.clone();
        async move {
            let verdict = |poisoned: &AtomicBool| {
                if poisoned.load(Ordering::Acquire) {
                    Some((
                        fail("the upload passed the invocation's write limit"),
                        State::Done,
                    ))
                } else {
                    None
                }
            };
            match state {
                State::Open(mut rx, mut close) => tokio::select! {
                    biased;
                    chunk = rx.recv() => match chunk {
                        Some(c) => Some((Ok(c), State::Open(rx, close))),
                        // The guest dropped its stream: wait for finish.
                        None => match close.await {
                            Ok(()) => verdict(&poisoned),
                            Err(_) => Some((fail("the upload was abandoned before finish"), State::Done)),
                        },
                    },
                    closed = &mut close => match closed {
                        Ok(()) => {
                            rx.close();
                            match rx.recv().await {
                                Some(c) => Some((Ok(c), State::Draining(rx))),
                                None => verdict(&poisoned),
                            }
                        }
                        Err(_) => Some((fail("the upload was abandoned before finish"), State::Done)),
                    },
                },
                State::Draining(mut rx) => match rx.recv().await {
                    Some(c) => Some((Ok(c), State::Draining(rx))),
                    None => verdict(&poisoned),
                },
                State::Done => None,
            }
        }
    })
    .boxed()
}

/// How much a guest may hand over in one write.
const WRITE_CHUNK: usize = 64 * 1024;

/// The guest's end of an upload.
struct BodyWriter {
    tx: mpsc::Sender<Bytes>,
    pending: Option<Bytes>,
    budget: u64,
    written: Arc<AtomicU64>,
    /// Set when the guest passed the write cap: the upload must fail.
    poisoned: Arc<AtomicBool>,
}

impl BodyWriter {
    fn try_flush(&mut self) -> StreamResult<()> {
        if let Some(chunk) = self.pending.take() {
            match self.tx.try_send(chunk) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(chunk)) => self.pending = Some(chunk),
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    return Err(StreamError::LastOperationFailed(wasmtime::format_err!(
                        "the upload was closed"
                    )));
                }
            }
        }
        Ok(())
    }
}

impl OutputStream for BodyWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if self.pending.is_some() {
            return Err(StreamError::Trap(wasmtime::format_err!(
                "write without permission from check-write"
            )));
        }
        let n = bytes.len() as u64;
        if n > self.budget {
            self.poisoned.store(true, Ordering::Release);
            return Err(StreamError::LastOperationFailed(wasmtime::format_err!(
                "this invocation wrote more bytes to the platform than its limit allows"
            )));
        }
        self.budget -= n;
        self.written.fetch_add(n, Ordering::Release);
        self.pending = Some(bytes);
        self.try_flush()
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.try_flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.try_flush()?;
        Ok(if self.pending.is_some() { 0 } else { WRITE_CHUNK })
    }
}

#[async_trait::async_trait]
impl Pollable for BodyWriter {
    async fn ready(&mut self) {
        if let Some(chunk) = self.pending.take() {
            // A closed channel surfaces on the next write or flush.
            let _ = self.tx.send(chunk).await;
        }
    }
}

/// The guest's end of a download.
struct BodyReader {
    body: ByteStream,
    buffered: Bytes,
    state: ReadState,
}

enum ReadState {
    Open,
    Done,
    Failed(String),
}

impl BodyReader {
    fn new(body: ByteStream) -> Self {
        Self {
            body,
            buffered: Bytes::new(),
            state: ReadState::Open,
        }
    }
}

#[async_trait::async_trait]
impl Pollable for BodyReader {
    async fn ready(&mut self) {
        if !self.buffered.is_empty() || !matches!(self.state, ReadState::Open) {
            return;
        }
        match self.body.next().await {
            Some(Ok(chunk)) => self.buffered = chunk,
            Some(Err(e)) => self.state = ReadState::Failed(e.to_string()),
            None => self.state = ReadState::Done,
        }
    }
}

impl InputStream for BodyReader {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        if !self.buffered.is_empty() {
            let n = size.min(self.buffered.len());
            return Ok(self.buffered.split_to(n));
        }
        match &self.state {
            ReadState::Open => Ok(Bytes::new()),
            ReadState::Done => Err(StreamError::Closed),
            ReadState::Failed(m) => Err(StreamError::LastOperationFailed(wasmtime::format_err!(
                "reading the object failed: {m}"
            ))),
        }
    }
}
