//! What goes through a worker's pipes: frames of JSON, each its length in
//! four bytes (little-endian) and then the bytes; a request
//! ([`minicloud_asl::jsonata::Request`]) one way, a [`Reply`] the other.

use std::io::{self, Read, Write};

use minicloud_asl::Failure;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The largest frame either side accepts: well above a request's most
/// (10 MiB of variables and three 256 KiB payloads) and a reply's.
pub(super) const MAX_FRAME: usize = 64 * 1024 * 1024;

/// What a worker answers.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Reply {
    /// The template's value.
    Value(Value),
    /// It failed: `States.QueryEvaluationError` and why.
    Failed {
        /// The error name.
        error: String,
        /// What happened.
        cause: String,
    },
}

impl From<Result<Value, Failure>> for Reply {
    fn from(result: Result<Value, Failure>) -> Self {
        match result {
            Ok(value) => Self::Value(value),
            Err(failure) => Self::Failed {
                error: failure.error,
                cause: failure.cause,
            },
        }
    }
}

impl From<Reply> for Result<Value, Failure> {
    fn from(reply: Reply) -> Self {
        match reply {
            Reply::Value(value) => Ok(value),
            Reply::Failed { error, cause } => Err(Failure::new(error, cause)),
        }
    }
}

/// The four bytes that announce a frame of `length` bytes; a frame larger
/// than [`MAX_FRAME`] is refused.
pub(super) fn frame_header(length: usize) -> io::Result<[u8; 4]> {
    u32::try_from(length)
        .ok()
        .filter(|&n| n as usize <= MAX_FRAME)
        .map(u32::to_le_bytes)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a frame of {length} bytes is larger than {MAX_FRAME}"),
            )
        })
}

/// Writes `body` as one frame and flushes it.
pub(super) fn write_frame(to: &mut impl Write, body: &[u8]) -> io::Result<()> {
    to.write_all(&frame_header(body.len())?)?;
    to.write_all(body)?;
    to.flush()
}

/// The length a frame's first four bytes announce, refused when it is
/// larger than [`MAX_FRAME`].
pub(super) fn frame_length(header: [u8; 4]) -> io::Result<usize> {
    let length = u32::from_le_bytes(header) as usize;
    if length > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {length} bytes is larger than {MAX_FRAME}"),
        ));
    }
    Ok(length)
}

/// Reads one frame; `None` at the end of the stream before a frame began.
pub(super) fn read_frame(from: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; 4];
    match from.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut body = vec![0u8; frame_length(header)?];
    from.read_exact(&mut body)?;
    Ok(Some(body))
}
