//! Guest stdout and stderr, captured as log lines with a per-invocation cap.
//!
//! A full pipe must never break the guest (a failed write makes Rust's
//! `println!` panic), so the capture accepts every write, keeps lines up to
//! the cap and counts what it drops. The cap is in bytes and in lines
//! ([`MAX_LINES_PER_INVOCATION`]): 64 KiB of empty lines would otherwise
//! be 65,536 rows to store.

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Which guest stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// The guest's standard output.
    Stdout,
    /// The guest's standard error.
    Stderr,
    /// `wasi:logging`, with a level.
    Log,
}

impl LogStream {
    /// The stream's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
            Self::Log => "log",
        }
    }
}

/// One line a guest wrote.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Milliseconds since the Unix epoch when the line was completed.
    pub time_ms: i64,
    /// The stream it was written to.
    pub stream: LogStream,
    /// The level, for `wasi:logging` lines.
    pub level: Option<Level>,
    /// The text, without its newline; invalid UTF-8 is replaced.
    pub text: String,
}

/// Lines one invocation may leave; past them, output is counted and
/// dropped as past the byte cap.
pub const MAX_LINES_PER_INVOCATION: usize = 1000;

#[derive(Debug, Default)]
struct Buffer {
    cap: usize,
    kept: usize,
    dropped: u64,
    dropped_lines: u64,
    lines: Vec<LogLine>,
    partial: [Vec<u8>; 2],
    /// Where `wasi:logging` lines go once this capture's request is
    /// recorded (a reused instance's: its next request's record).
    then: Option<LogCapture>,
    /// A reused instance's capture: the capture of the request whose host
    /// call is running, where what the guest prints goes.
    speaking: Option<LogCapture>,
}

impl Buffer {
    fn write(&mut self, stream: LogStream, mut bytes: &[u8]) {
        let room = self.cap.saturating_sub(self.kept);
        if bytes.len() > room {
            self.dropped += (bytes.len() - room) as u64;
            bytes = &bytes[..room];
        }
        self.kept += bytes.len();
        let idx = stream as usize;
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            if let Some(line) = chunk.strip_suffix(b"\n") {
                let mut whole = std::mem::take(&mut self.partial[idx]);
                whole.extend_from_slice(line);
                self.push(stream, &whole);
            } else {
                self.partial[idx].extend_from_slice(chunk);
            }
        }
    }

    /// Whether another line fits; counts it as dropped when not.
    fn room_for_line(&mut self, bytes: usize) -> bool {
        if self.lines.len() < MAX_LINES_PER_INVOCATION {
            return true;
        }
        self.dropped_lines += 1;
        self.dropped += bytes as u64;
        false
    }

    fn push(&mut self, stream: LogStream, bytes: &[u8]) {
        if !self.room_for_line(bytes.len()) {
            return;
        }
        let text = String::from_utf8_lossy(bytes);
        let text = storable(text.strip_suffix('\r').unwrap_or(&text).to_owned());
        self.lines.push(LogLine {
            time_ms: now_ms(),
            stream,
            level: None,
            text,
        });
    }

    fn finish(&mut self) -> (Vec<LogLine>, u64) {
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            let rest = std::mem::take(&mut self.partial[stream as usize]);
            if !rest.is_empty() {
                self.push(stream, &rest);
            }
        }
        let (dropped, dropped_lines) = (self.dropped, self.dropped_lines);
        if dropped > 0 || dropped_lines > 0 {
            let cap = self.cap;
            let text = if dropped_lines > 0 {
                format!(
                    "[minicloud: log output truncated: {dropped_lines} lines ({dropped} bytes) dropped past the limit of {MAX_LINES_PER_INVOCATION} lines per invocation]"
                )
            } else {
                format!(
                    "[minicloud: log output truncated: {dropped} bytes dropped past the limit of {cap} bytes per invocation]"
                )
            };
            // The marker is the one line past the cap.
            self.lines.push(LogLine {
                time_ms: now_ms(),
                stream: LogStream::Stderr,
                level: None,
                text,
            });
        }
        // A reused instance's capture goes on for its next request, with
        // the cap anew.
        (self.kept, self.dropped, self.dropped_lines) = (0, 0, 0);
        (std::mem::take(&mut self.lines), dropped)
    }
}

/// The level of a `wasi:logging` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Finest detail.
    Trace,
    /// Detail for debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected, handled.
    Warn,
    /// An operation failed.
    Error,
    /// The function cannot go on.
    Critical,
}

impl Level {
    /// The level's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
            Self::Critical => "critical",
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The log capture of one invocation; clones share one buffer.
#[derive(Debug, Clone)]
pub struct LogCapture {
    buffer: Arc<Mutex<Buffer>>,
}

impl LogCapture {
    /// A capture that keeps at most `cap` bytes of output.
    pub fn new(cap: usize) -> Self {
        Self {
            buffer: Arc::new(Mutex::new(Buffer {
                cap,
                ..Buffer::default()
            })),
        }
    }

    /// The writer for one of the guest's streams.
    pub fn stream(&self, stream: LogStream) -> LogWriter {
        LogWriter {
            capture: self.clone(),
            stream,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Buffer> {
        // A poisoned buffer only means a writer panicked mid-append; the
        // lines are still worth keeping.
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps one `wasi:logging` line, under the same cap as the streams.
    pub fn leveled(&self, level: Level, context: &str, message: &str) {
        let mut buf = self.lock();
        if let Some(then) = buf.then.clone() {
            drop(buf);
            return then.leveled(level, context, message);
        }
        let text = storable(if context.is_empty() {
            message.to_owned()
        } else {
            format!("{context}: {message}")
        });
        let room = buf.cap.saturating_sub(buf.kept);
        if text.len() > room {
            buf.dropped += text.len() as u64;
            return;
        }
        if !buf.room_for_line(text.len()) {
            return;
        }
        buf.kept += text.len();
        buf.lines.push(LogLine {
            time_ms: now_ms(),
            stream: LogStream::Log,
            level: Some(level),
            text,
        });
    }

    /// Ends a request's own capture of a reused instance ([`Self::finish`]):
    /// `wasi:logging` lines written after it, by work the request's task
    /// goes on with, go to `then`, the instance's capture.
    pub(crate) fn finish_into(&self, then: &LogCapture) -> (Vec<LogLine>, u64) {
        let mut buf = self.lock();
        buf.then = Some(then.clone());
        buf.finish()
    }

    /// What the guest prints through this (a reused instance's) capture
    /// goes to `request`'s capture from now on (`None`: kept here). A
    /// request's capture that is already recorded is passed by: its
    /// request's later output stays here, for the instance's next record.
    pub(crate) fn speak_for(&self, request: Option<&LogCapture>) {
        self.lock().speaking = request.cloned();
    }

    /// Keeps `bytes` of `stream`, in the capture that speaks for this one's
    /// writer now.
    fn write(&self, stream: LogStream, bytes: &[u8]) {
        let mut buf = self.lock();
        if let Some(request) = buf.speaking.clone() {
            drop(buf);
            let mut theirs = request.lock();
            if theirs.then.is_none() {
                return theirs.write(stream, bytes);
            }
            drop(theirs);
            buf = self.lock();
        }
        buf.write(stream, bytes);
    }

    /// The last `max` bytes of stderr seen so far, for error messages.
    pub fn stderr_tail(&self, max: usize) -> String {
        let buf = self.lock();
        let mut tail = String::new();
        for line in buf.lines.iter().rev().filter(|l| l.stream == LogStream::Stderr) {
            if tail.len() + line.text.len() > max {
                break;
            }
            tail = if tail.is_empty() {
                line.text.clone()
            } else {
                format!("{}\n{tail}", line.text)
            };
        }
        let partial = String::from_utf8_lossy(&buf.partial[LogStream::Stderr as usize]);
        if !partial.is_empty() && tail.len() + partial.len() <= max {
            tail.push_str(&partial);
        }
        tail
    }

    /// Ends the capture of one invocation: flushes unterminated lines and
    /// marks truncation. Returns the lines and the number of bytes dropped;
    /// what is written afterwards starts a new capture under the same cap.
    pub fn finish(&self) -> (Vec<LogLine>, u64) {
        self.lock().finish()
    }
}

/// Writes one guest stream into a [`LogCapture`]; never refuses a write.
#[derive(Debug, Clone)]
pub struct LogWriter {
    capture: LogCapture,
    stream: LogStream,
}

impl IsTerminal for LogWriter {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogWriter {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for LogWriter {
    async fn ready(&mut self) {}
}

#[async_trait::async_trait]
impl OutputStream for LogWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.capture.write(self.stream, &bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl AsyncWrite for LogWriter {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.capture.write(self.stream, buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A guest's text as a line the database can store: a NUL, which
/// PostgreSQL's `text` refuses (failing the batch that every tenant's
/// records share), becomes U+FFFD, as bytes that are not UTF-8 do.
fn storable(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_per_stream_and_keeps_partials_apart() {
        let cap = LogCapture::new(1024);
        cap.lock().write(LogStream::Stdout, b"hel");
        cap.lock().write(LogStream::Stderr, b"oops\n");
        cap.lock().write(LogStream::Stdout, b"lo\nworld");
        let (lines, dropped) = cap.finish();
        let got: Vec<_> = lines.iter().map(|l| (l.stream, l.text.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (LogStream::Stderr, "oops"),
                (LogStream::Stdout, "hello"),
                (LogStream::Stdout, "world"),
            ]
        );
        assert_eq!(dropped, 0);
    }

    /// A NUL, which PostgreSQL's `text` refuses, is stored as U+FFFD,
    /// from the streams and from `wasi:logging` alike.
    #[test]
    fn a_nul_becomes_the_replacement_character() {
        let cap = LogCapture::new(1024);
        cap.lock().write(LogStream::Stdout, b"a\0b\n");
        cap.leveled(Level::Info, "c\0x", "d\0");
        let (lines, _) = cap.finish();
        let text: Vec<_> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(text, ["a\u{FFFD}b", "c\u{FFFD}x: d\u{FFFD}"]);
    }

    #[test]
    fn caps_output_and_marks_truncation() {
        let cap = LogCapture::new(10);
        cap.lock().write(LogStream::Stdout, b"0123456789abcdef\n");
        let (lines, dropped) = cap.finish();
        assert_eq!(dropped, 7);
        assert_eq!(lines[0].text, "0123456789");
        assert!(lines[1].text.contains("7 bytes dropped"), "{}", lines[1].text);
    }

    #[test]
    fn caps_lines_as_well_as_bytes() {
        let cap = LogCapture::new(1 << 20);
        let empty = vec![b'\n'; 5000];
        cap.lock().write(LogStream::Stdout, &empty);
        cap.leveled(Level::Info, "", "one more");
        let (lines, dropped) = cap.finish();
        assert_eq!(lines.len(), MAX_LINES_PER_INVOCATION + 1);
        assert_eq!(dropped, 8, "only the text of dropped lines counts as bytes");
        let marker = &lines[MAX_LINES_PER_INVOCATION].text;
        assert!(marker.contains("4001 lines"), "{marker}");
    }

    #[test]
    fn lines_after_a_finished_requests_capture_go_to_the_next() {
        let instance = LogCapture::new(1024);
        let request = LogCapture::new(1024);
        request.leveled(Level::Info, "", "during");
        let (lines, _) = request.finish_into(&instance);
        let text: Vec<_> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(text, ["during"]);
        request.leveled(Level::Warn, "work", "after");
        assert!(request.finish().0.is_empty(), "not kept where nobody reads");
        let (lines, _) = instance.finish();
        let got: Vec<_> = lines.iter().map(|l| (l.level, l.text.as_str())).collect();
        assert_eq!(got, [(Some(Level::Warn), "work: after")]);
    }

    #[test]
    fn printed_lines_go_to_the_request_speaking() {
        let instance = LogCapture::new(1024);
        let (a, b) = (LogCapture::new(1024), LogCapture::new(1024));
        let mut out = instance.stream(LogStream::Stdout);
        let mut print = |text: &str| {
            OutputStream::write(&mut out, Bytes::copy_from_slice(text.as_bytes()))
                .expect("a capture takes every write")
        };
        print("nobody's\n");
        instance.speak_for(Some(&a));
        print("a's ");
        instance.speak_for(Some(&b));
        print("b's\n");
        instance.speak_for(Some(&a));
        print("line\n");
        let text = |c: &LogCapture| c.finish().0.into_iter().map(|l| l.text).collect::<Vec<_>>();
        assert_eq!(text(&b), ["b's"]);
        // a is recorded: what it prints after stays with the instance.
        let (lines, _) = a.finish_into(&instance);
        assert_eq!(
            lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["a's line"]
        );
        print("later\n");
        assert_eq!(text(&instance), ["nobody's", "later"]);
    }
}
