//! Invocation records, log lines and usage metrics, off the hot path.
//!
//! An invocation's report is turned into metrics at once (atomic counters)
//! and queued for the database; one writer task stores the queue in batches,
//! one transaction per batch, on a connection it keeps (see
//! [`RecordsConnection`]). A failed invocation's `minicloud.functions`
//! event is written in the same transaction as its record, into the
//! outbox, so the record and its event are stored or lost together.

use crate::events::platform::{OutboxSignal, PlatformEvent};
use crate::iam::limits::RateLimiter;
use crate::store::Store;
use crate::store::outbox::OutboxRow;
use crate::store::records::{InvocationRecord, LogRecord, RecordsConnection};
use minicloud_runtime::{InvocationReport, ReportSink};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Reports waiting for the writer before new ones are dropped (and counted).
const QUEUE: usize = 65_536;
/// Bytes of log text waiting for the writer at most: past it, a report is
/// queued without its lines (counted as dropped), so a burst of chatty
/// invocations cannot hold the queue's 65,536 reports times 64 KiB.
const QUEUED_LOG_BYTES: usize = 64 << 20;
/// Reports per transaction at most.
const BATCH: usize = 2048;
/// How long the writer lets a small batch grow before writing it: fewer,
/// larger transactions cost far less than one per invocation.
const LINGER: Duration = Duration::from_millis(20);

/// An invocation's record, its lines, and its failure event if any.
type Report = (InvocationRecord, Vec<LogRecord>, Option<OutboxRow>);

enum Entry {
    Record(Box<Report>),
    Flush(oneshot::Sender<()>),
}

/// The queue into the writer task; cheap to clone.
#[derive(Clone)]
pub struct RecordWriter {
    tx: mpsc::Sender<Entry>,
    /// Log text queued and not yet written, bytes.
    log_bytes: Arc<AtomicUsize>,
    /// Log lines each project may store a second.
    log_lines: Arc<RateLimiter>,
}

impl std::fmt::Debug for RecordWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordWriter").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Entry")
    }
}

impl RecordWriter {
    /// Starts the writer task; `outbox` is woken after failed invocations'
    /// events are written. Each project stores `lines_per_second` log
    /// lines a second on average, bursts of ten times as many (zero: no
    /// limit).
    pub fn spawn(
        store: Store,
        outbox: OutboxSignal,
        lines_per_second: u32,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let log_bytes = Arc::new(AtomicUsize::new(0));
        let rate = f64::from(lines_per_second);
        let log_lines = Arc::new(RateLimiter::new(rate, rate * 10.0));
        let task = tokio::spawn(run(store, rx, log_bytes.clone(), outbox));
        (
            Self {
                tx,
                log_bytes,
                log_lines,
            },
            task,
        )
    }

    /// Waits until everything queued before this call is stored.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Entry::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// The sink for one loaded function version. Its metric handles are
    /// registered here, once, not on every invocation.
    pub fn sink(&self, function: FunctionIdentity) -> FunctionSink {
        let labels = [
            ("project", function.project.clone()),
            ("function", function.function.clone()),
        ];
        let mut ok_labels = labels.to_vec();
        ok_labels.push(("outcome", "ok".to_owned()));
        FunctionSink {
            writer: self.clone(),
            ok: metrics::counter!("minicloud_invocations_total", &ok_labels),
            lines_dropped: metrics::counter!("minicloud_log_lines_dropped_total"),
            duration: metrics::histogram!("minicloud_invocation_duration_seconds", &labels),
            instantiate: metrics::histogram!("minicloud_instantiate_seconds"),
            quick: None,
            id: function,
        }
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Entry>, log_bytes: Arc<AtomicUsize>, outbox: OutboxSignal) {
    let mut entries = Vec::with_capacity(BATCH);
    // Kept from batch to batch: grown afresh each time, a batch of a few
    // hundred records reallocated each of them about ten times, large
    // blocks whose every reallocation also sorted glibc's fast bins
    // (`malloc_consolidate`) on the core that serves the requests.
    let mut invocations = Vec::new();
    let mut logs = Vec::new();
    let mut events = Vec::new();
    let mut flushes = Vec::new();
    let mut conn = RecordsConnection::default();
    while rx.recv_many(&mut entries, BATCH).await > 0 {
        if entries.len() < BATCH && !entries.iter().any(|e| matches!(e, Entry::Flush(_))) {
            tokio::time::sleep(LINGER).await;
            while entries.len() < BATCH {
                match rx.try_recv() {
                    Ok(entry) => entries.push(entry),
                    Err(_) => break,
                }
            }
        }
        for entry in entries.drain(..) {
            match entry {
                Entry::Record(record) => {
                    let (r, l, e) = *record;
                    invocations.push(r);
                    logs.extend(l);
                    events.extend(e);
                }
                Entry::Flush(done) => flushes.push(done),
            }
        }
        if !invocations.is_empty() {
            let written = write_with_retry(&store, &mut conn, &invocations, &logs, &events).await;
            log_bytes.fetch_sub(text_bytes(&logs), Ordering::Relaxed);
            if written && !events.is_empty() {
                outbox.written();
            }
        }
        invocations.clear();
        logs.clear();
        events.clear();
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Writes a batch, retrying a few times; whether it was written.
async fn write_with_retry(
    store: &Store,
    conn: &mut RecordsConnection,
    invocations: &[InvocationRecord],
    logs: &[LogRecord],
    events: &[OutboxRow],
) -> bool {
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=6 {
        match store.write_records(conn, invocations, logs, events).await {
            Ok(()) => return true,
            Err(e) if attempt < 6 => {
                tracing::warn!(error = %e, attempt, "writing invocation records failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => {
                tracing::error!(error = %e, records = invocations.len(), events = events.len(),
                    "dropping invocation records and their events");
                metrics::counter!("minicloud_records_dropped_total").increment(invocations.len() as u64);
            }
        }
    }
    false
}

/// Bytes of an invocation's error kept in its record, its failure event
/// and its log line: a guest chooses its error's text (a trap names its
/// functions, a guest error is its own message, up to its memory), and
/// records are clustered rows every org's invocations write beside,
/// which long rows would spread over more pages.
const ERROR_BYTES: usize = 4096;

/// `error` cut to [`ERROR_BYTES`] at a character boundary, marked `…`
/// when cut.
fn stored_error(mut error: String) -> String {
    if error.len() > ERROR_BYTES {
        let mut end = ERROR_BYTES - '…'.len_utf8();
        while !error.is_char_boundary(end) {
            end -= 1;
        }
        error.truncate(end);
        error.push('…');
    }
    error
}

fn text_bytes(logs: &[LogRecord]) -> usize {
    logs.iter().map(|l| l.line.len()).sum()
}

/// Which function version a sink reports for.
#[derive(Debug, Clone)]
pub struct FunctionIdentity {
    /// Project id.
    pub project_id: String,
    /// Project name, for metric labels.
    pub project: String,
    /// Function id.
    pub function_id: String,
    /// Function name.
    pub function: String,
    /// Version number.
    pub version: i64,
    /// The function's resource name.
    pub mrn: String,
}

/// The source of invocation failure events.
pub const FAILURE_SOURCE: &str = "minicloud.functions";

/// The [`ReportSink`] of one loaded function version.
pub struct FunctionSink {
    writer: RecordWriter,
    id: FunctionIdentity,
    ok: metrics::Counter,
    /// Log lines dropped past the project's rate or the queue's bytes
    /// (each call of `counter!` looks its name up in the registry: under a
    /// flood of lines that was every invocation).
    lines_dropped: metrics::Counter,
    duration: metrics::Histogram,
    instantiate: metrics::Histogram,
    /// Counts its invocations when it runs Winch's code (the quick tier).
    quick: Option<metrics::Counter>,
}

impl FunctionSink {
    /// The same sink for a function that runs Winch's code (the quick
    /// tier, until Cranelift's is swapped in): its invocations are also
    /// counted in `minicloud_quick_invocations_total`.
    pub fn quick(mut self) -> Self {
        self.quick = Some(metrics::counter!("minicloud_quick_invocations_total"));
        self
    }
}

impl std::fmt::Debug for FunctionSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionSink")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ReportSink for FunctionSink {
    fn report(&self, r: InvocationReport) {
        let id = &self.id;
        let outcome = r.outcome();
        // Formatted and cut once, for the log line, the event and the
        // record alike.
        let error = r.error.as_ref().map(|e| stored_error(e.to_string()));
        let mut event = None;
        if let Some(quick) = &self.quick {
            quick.increment(1);
        }
        match &error {
            None => self.ok.increment(1),
            Some(error) => {
                metrics::counter!("minicloud_invocations_total",
                    "project" => id.project.clone(), "function" => id.function.clone(), "outcome" => outcome)
                .increment(1);
                tracing::info!(invocation_id = %r.invocation_id, trace_id = %r.trace_id,
                    function = %id.function, outcome, %error, "invocation failed");
                // A failure while handling a failure event is not announced:
                // a failing handler of failures would feed on itself.
                let of_failure = r.delivery.as_ref().is_some_and(|d| d.source == FAILURE_SOURCE);
                if !of_failure {
                    event = Some(
                        PlatformEvent {
                            source: FAILURE_SOURCE.into(),
                            detail_type: "Invocation Failed".into(),
                            project_id: id.project_id.clone(),
                            resources: vec![id.mrn.clone()],
                            detail: serde_json::json!({
                                "function": id.function,
                                "version": id.version,
                                "invocation_id": r.invocation_id,
                                "trace_id": r.trace_id,
                                "outcome": outcome,
                                "error": error,
                                "duration_ms": r.duration.as_millis() as u64,
                                "event_id": r.delivery.as_ref().map(|d| d.event_id.clone()),
                            }),
                        }
                        .into_outbox(0),
                    );
                }
            }
        }
        self.duration.record(r.duration.as_secs_f64());
        self.instantiate.record(r.instantiate.as_secs_f64());
        // Lines past the project's rate, then past the queue's bytes, are
        // dropped (counted in the record's `logs_dropped`, in bytes).
        let all_bytes: usize = r.logs.iter().map(|l| l.text.len()).sum();
        let rated = self
            .writer
            .log_lines
            .take_up_to(&id.project_id, r.logs.len() as u64) as usize;
        let lines = &r.logs[..rated.min(r.logs.len())];
        let queued = &self.writer.log_bytes;
        let bytes: usize = lines.iter().map(|l| l.text.len()).sum();
        let keep_logs = queued.fetch_add(bytes, Ordering::Relaxed) + bytes <= QUEUED_LOG_BYTES;
        if !keep_logs {
            queued.fetch_sub(bytes, Ordering::Relaxed);
        }
        let kept = if keep_logs { lines.len() } else { 0 };
        if kept < r.logs.len() {
            self.lines_dropped.increment((r.logs.len() - kept) as u64);
        }
        let dropped_bytes = all_bytes - if keep_logs { bytes } else { 0 };
        let logs: Vec<LogRecord> = lines
            .iter()
            .filter(|_| keep_logs)
            .enumerate()
            .map(|(seq, l)| LogRecord {
                invocation_id: r.invocation_id.clone(),
                seq: seq as i64,
                project_id: id.project_id.clone(),
                function: id.function.clone(),
                trace_id: String::from(&*r.trace_id),
                time_ms: l.time_ms,
                stream: l.stream.as_str().to_owned(),
                level: l.level.map(|l| l.as_str().to_owned()),
                line: l.text.clone(),
            })
            .collect();
        let record = InvocationRecord {
            id: r.invocation_id,
            project_id: id.project_id.clone(),
            function_id: id.function_id.clone(),
            function: id.function.clone(),
            version: id.version,
            trace_id: String::from(&*r.trace_id),
            started_ms: r.started_ms,
            duration_us: r.duration.as_micros() as i64,
            instantiate_us: r.instantiate.as_micros() as i64,
            peak_memory: r.peak_memory as i64,
            outcome: outcome.to_owned(),
            http_status: r.http_status.map(i64::from),
            error,
            logs_dropped: r.logs_dropped as i64 + dropped_bytes as i64,
        };
        let kept_bytes = text_bytes(&logs);
        if self
            .writer
            .tx
            .try_send(Entry::Record(Box::new((record, logs, event))))
            .is_err()
        {
            queued.fetch_sub(kept_bytes, Ordering::Relaxed);
            metrics::counter!("minicloud_records_dropped_total").increment(1);
        }
    }
}

/// Audits the host calls a function's role refused: each is a record in
/// the org's audit chain with the function as the actor.
#[derive(Clone)]
pub struct FunctionDenials {
    audit: crate::audit::AuditLog,
    org_id: String,
    function_id: String,
    actor_name: String,
}

impl FunctionDenials {
    /// Denials of the function `row` of `project`.
    pub fn new(
        audit: crate::audit::AuditLog,
        project: &crate::store::projects::Project,
        row: &crate::store::functions::FunctionRow,
    ) -> Self {
        Self {
            audit,
            org_id: project.org_id.clone(),
            function_id: row.id.clone(),
            actor_name: format!("{}/{}", project.name, row.name),
        }
    }
}

impl minicloud_runtime::caps::backend::DenialSink for FunctionDenials {
    fn denied(&self, action: &str, resource: &str, trace_id: &str) {
        let entry = crate::store::audit::AuditEntry {
            time_ms: crate::util::now_ms(),
            actor_type: "function".into(),
            actor_id: self.function_id.clone(),
            actor_name: self.actor_name.clone(),
            action: action.to_owned(),
            resource: resource.to_owned(),
            decision: "Deny".into(),
            outcome: 403,
            source_ip: String::new(),
            user_agent: String::new(),
            trace_id: trace_id.to_owned(),
            params: "{}".into(),
        };
        self.audit.append_later(&self.org_id, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minicloud_runtime::InvokeError;
    use sqlx::Row;

    /// A guest's long error is kept to 4 KiB, cut between characters.
    #[test]
    fn long_errors_are_cut_between_characters() {
        assert_eq!(stored_error("short".into()), "short");
        let long = "é".repeat(3000);
        let kept = stored_error(long);
        assert!(kept.len() <= ERROR_BYTES, "{}", kept.len());
        assert!(kept.len() > ERROR_BYTES - 4, "{}", kept.len());
        assert!(kept.ends_with("é…"), "cut at a boundary and marked");
    }

    fn report(id: &str, error: Option<InvokeError>) -> InvocationReport {
        InvocationReport {
            invocation_id: id.into(),
            trace_id: "t".into(),
            started_ms: 1,
            duration: Duration::from_millis(2),
            instantiate: Duration::ZERO,
            peak_memory: 0,
            http_status: None,
            error,
            logs: Vec::new(),
            logs_dropped: 0,
            delivery: None,
            task: None,
        }
    }

    /// A project's lines past its rate are dropped and counted, in bytes,
    /// in the invocation's record.
    #[tokio::test]
    async fn lines_past_the_projects_rate_are_dropped_and_counted() {
        let (store, _dir) = crate::store::tests::temporary_sqlite().await;
        let project = store.ensure_project("p").await.expect("a project");
        // 10 lines a second, bursts of 100.
        let (writer, _task) = RecordWriter::spawn(store.clone(), OutboxSignal::default(), 10);
        let sink = writer.sink(FunctionIdentity {
            project_id: project.id.clone(),
            project: "p".into(),
            function_id: "f1".into(),
            function: "f".into(),
            version: 1,
            mrn: "mrn:functions:default:p:function/f".into(),
        });
        let mut chatty = report("chatty", None);
        chatty.logs = (0..150)
            .map(|i| minicloud_runtime::logs::LogLine {
                time_ms: 1,
                stream: minicloud_runtime::logs::LogStream::Stdout,
                level: None,
                text: format!("line {i:03}"),
            })
            .collect();
        sink.report(chatty);
        writer.flush().await;
        let row = sqlx::query("SELECT COUNT(*) AS n FROM log_lines")
            .fetch_one(store.pool())
            .await
            .expect("counted");
        assert_eq!(row.get::<i64, _>("n"), 100);
        let records = store
            .in_project(&project)
            .invocations("f", (i64::MAX, ""), 10)
            .await
            .expect("read");
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0].id, "chatty");
        assert_eq!(records[0].logs_dropped, 50 * "line 000".len() as i64);
    }

    /// A failed invocation's event is stored with its record, in the
    /// outbox, and wakes the pump; a successful one announces nothing.
    #[tokio::test]
    async fn a_failure_event_is_written_with_its_record() {
        let (store, _dir, project, outbox, writer, sink) = failing_function().await;
        sink.report(report("ok-1", None));
        sink.report(report("bad-1", Some(InvokeError::Guest("boom".into()))));
        let woken = outbox.wait(Duration::from_secs(5));
        writer.flush().await;
        tokio::time::timeout(Duration::from_secs(1), woken)
            .await
            .expect("the pump was woken");
        let records = store
            .in_project(&project)
            .invocations("f", (i64::MAX, ""), 10)
            .await
            .expect("read");
        assert_eq!(records.len(), 2, "{records:?}");
        let rows = store.claim_outbox("test", 10, 20, 10).await.expect("claimed");
        assert_eq!(rows.len(), 1, "{rows:?}");
        let event: serde_json::Value = serde_json::from_str(&rows[0].event_json).expect("JSON");
        assert_eq!(event["source"], FAILURE_SOURCE);
        assert_eq!(event["detail_type"], "Invocation Failed");
        assert_eq!(event["detail"]["invocation_id"], "bad-1");
        assert_eq!(event["detail"]["version"], 3);
        assert_eq!(rows[0].project_id, project.id);
    }

    /// A guest's error of a megabyte is cut once: the record and the
    /// failure event carry the same 4 KiB.
    #[tokio::test]
    async fn a_long_error_is_cut_in_the_record_and_the_event() {
        let (store, _dir, project, _outbox, writer, sink) = failing_function().await;
        let long = "x".repeat(1 << 20);
        sink.report(report("bad-1", Some(InvokeError::Guest(long))));
        writer.flush().await;
        let records = store
            .in_project(&project)
            .invocations("f", (i64::MAX, ""), 10)
            .await
            .expect("read");
        let stored = records[0].error.clone().expect("the record's error");
        assert!(
            stored.len() <= ERROR_BYTES && stored.ends_with('…'),
            "{}",
            stored.len()
        );
        let rows = store.claim_outbox("test", 10, 20, 10).await.expect("claimed");
        let event: serde_json::Value = serde_json::from_str(&rows[0].event_json).expect("JSON");
        assert_eq!(event["detail"]["error"], stored.as_str());
    }

    /// A store, a project `p`, and the sink of its function `f` (version
    /// 3) writing through a running writer.
    async fn failing_function() -> (
        crate::store::Store,
        tempfile::TempDir,
        crate::store::projects::Project,
        OutboxSignal,
        RecordWriter,
        FunctionSink,
    ) {
        let (store, dir) = crate::store::tests::temporary_sqlite().await;
        let project = store.ensure_project("p").await.expect("a project");
        let outbox = OutboxSignal::default();
        let (writer, _task) = RecordWriter::spawn(store.clone(), outbox.clone(), 0);
        let sink = writer.sink(FunctionIdentity {
            project_id: project.id.clone(),
            project: "p".into(),
            function_id: "f1".into(),
            function: "f".into(),
            version: 3,
            mrn: "mrn:functions:default:p:function/f".into(),
        });
        (store, dir, project, outbox, writer, sink)
    }
}
