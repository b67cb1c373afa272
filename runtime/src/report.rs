//! What every invocation reports when it ends, and where it reports it.

use crate::error::InvokeError;
use crate::logs::LogLine;
use std::time::Duration;

/// The record of one finished invocation.
#[derive(Debug, Clone)]
pub struct InvocationReport {
    /// The invocation's id, as given by the caller.
    pub invocation_id: String,
    /// The trace id carried from the request.
    pub trace_id: std::sync::Arc<str>,
    /// Milliseconds since the Unix epoch when the invocation started.
    pub started_ms: i64,
    /// Wall time from start to the end of the guest's work.
    pub duration: Duration,
    /// Time spent instantiating the component.
    pub instantiate: Duration,
    /// Largest linear memory the instance reached, in bytes.
    pub peak_memory: u64,
    /// The HTTP status the guest answered with, for HTTP functions.
    pub http_status: Option<u16>,
    /// `None` on success, else why it failed.
    pub error: Option<InvokeError>,
    /// What the guest wrote to stdout and stderr.
    pub logs: Vec<LogLine>,
    /// Bytes of output dropped past the cap.
    pub logs_dropped: u64,
    /// The event delivery the invocation served, if any.
    pub delivery: Option<std::sync::Arc<crate::caps::backend::DeliveryInfo>>,
    /// The workflow task the invocation ran, if any.
    pub task: Option<std::sync::Arc<crate::caps::backend::TaskInfo>>,
}

impl InvocationReport {
    /// `ok` or the error's code.
    pub fn outcome(&self) -> &'static str {
        self.error.as_ref().map_or("ok", InvokeError::code)
    }
}

/// Receives reports. The hot path hands a report over and moves on:
/// implementations must not block (batch, then write elsewhere).
pub trait ReportSink: Send + Sync + std::fmt::Debug {
    /// Takes one report.
    fn report(&self, report: InvocationReport);
}
