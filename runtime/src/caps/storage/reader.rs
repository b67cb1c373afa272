use crate::caps::backend::ByteStream;
use bytes::Bytes;
use futures::StreamExt;
use wasmtime_wasi::p2::{InputStream, Pollable, StreamError, StreamResult};

/// The guest's end of a download.
pub(super) struct BodyReader {
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
    pub(super) fn new(body: ByteStream) -> Self {
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
