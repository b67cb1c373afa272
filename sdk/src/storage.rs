//! Object storage: buckets of the function's project. Objects stream both
//! ways; the helpers read and write whole values.
//!
//! ```no_run
//! use minicloud_sdk::storage::Bucket;
//!
//! # fn f() -> minicloud_sdk::Result<()> {
//! let raw = Bucket::open("raw")?;
//! let bytes = raw.get("photos/cat.jpg")?;
//! Bucket::open("thumbs")?.put("photos/cat.jpg", &bytes, Some("image/jpeg"))?;
//! # Ok(()) }
//! ```

use crate::Result;
use crate::bindings::minicloud::platform::storage;
use crate::error::Error;
use crate::wasi::io::streams::{InputStream, StreamError};

pub use storage::{ObjectMeta, ObjectPage};

/// An open bucket.
#[derive(Debug)]
pub struct Bucket {
    bucket: storage::Bucket,
}

/// Writes happen in pieces of this size (WASI's blocking-write limit).
const CHUNK: usize = 4096;

impl Bucket {
    /// Opens the bucket `name` (`NotFound` if it does not exist).
    pub fn open(name: &str) -> Result<Self> {
        Ok(Self {
            bucket: storage::Bucket::open(name)?,
        })
    }

    /// The bucket's name.
    pub fn name(&self) -> String {
        self.bucket.name()
    }

    /// An object's content, read whole.
    pub fn get(&self, key: &str) -> Result<Vec<u8>> {
        let (meta, mut reader) = self.open_object(key)?;
        let mut out = Vec::with_capacity(meta.size.min(64 << 20) as usize);
        std::io::Read::read_to_end(&mut reader, &mut out)?;
        Ok(out)
    }

    /// An object's metadata and a reader of its content, for streaming.
    pub fn open_object(&self, key: &str) -> Result<(ObjectMeta, ObjectReader)> {
        let (meta, stream) = self.bucket.get(key)?;
        Ok((meta, ObjectReader { stream }))
    }

    /// An object's metadata.
    pub fn head(&self, key: &str) -> Result<ObjectMeta> {
        Ok(self.bucket.head(key)?)
    }

    /// Stores `content` at `key`, replacing any object there.
    pub fn put(&self, key: &str, content: &[u8], content_type: Option<&str>) -> Result<ObjectMeta> {
        self.put_with(key, content, content_type, &[])
    }

    /// As [`Bucket::put`], with user metadata.
    pub fn put_with(
        &self,
        key: &str,
        content: &[u8],
        content_type: Option<&str>,
        metadata: &[(&str, &str)],
    ) -> Result<ObjectMeta> {
        let options = storage::PutOptions {
            content_type: content_type.map(str::to_owned),
            metadata: metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        let writer = self.bucket.put(key, &options)?;
        {
            let body = writer.body()?;
            for chunk in content.chunks(CHUNK) {
                body.blocking_write_and_flush(chunk)
                    .map_err(|e| Error::Io(stream_error(e)))?;
            }
        }
        Ok(storage::ObjectWriter::finish(writer)?)
    }

    /// Removes an object; a missing one is not an error.
    pub fn delete(&self, key: &str) -> Result<()> {
        Ok(self.bucket.delete(key)?)
    }

    /// One page of the objects whose keys start with `prefix`; with a
    /// delimiter, keys are rolled up into common prefixes at it.
    pub fn list(&self, prefix: &str, delimiter: Option<&str>, cursor: Option<&str>) -> Result<ObjectPage> {
        Ok(self.bucket.list(Some(prefix), delimiter, cursor, 1000)?)
    }
}

fn stream_error(e: StreamError) -> String {
    match e {
        StreamError::Closed => "the stream was closed".into(),
        StreamError::LastOperationFailed(err) => err.to_debug_string(),
    }
}

/// Reads an object's content as it arrives.
#[derive(Debug)]
pub struct ObjectReader {
    stream: InputStream,
}

impl std::io::Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.stream.blocking_read(buf.len() as u64) {
            Ok(bytes) => {
                buf[..bytes.len()].copy_from_slice(&bytes);
                Ok(bytes.len())
            }
            Err(StreamError::Closed) => Ok(0),
            Err(e) => Err(std::io::Error::other(stream_error(e))),
        }
    }
}
