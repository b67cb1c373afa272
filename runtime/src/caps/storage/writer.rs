use super::{ObjectWriter, StorageResult, meta};
use crate::caps::CapError;
use crate::caps::backend::{BackendError, ByteStream};
use crate::caps::bindings::{storage, types};
use crate::state::InstanceState;
use bytes::Bytes;
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};
use wasmtime::component::Resource;
use wasmtime_wasi::p2::{DynOutputStream, OutputStream, Pollable, StreamError, StreamResult};

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
pub(super) fn upload_stream(
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
pub(super) struct BodyWriter {
    pub(super) tx: mpsc::Sender<Bytes>,
    pub(super) pending: Option<Bytes>,
    pub(super) budget: u64,
    pub(super) written: Arc<AtomicU64>,
    /// Set when the guest passed the write cap: the upload must fail.
    pub(super) poisoned: Arc<AtomicBool>,
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
