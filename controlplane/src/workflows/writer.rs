//! The one writer of journals: the appends of every execution on this node
//! that arrive together go in one transaction, so SQLite sees one writer
//! and a busy node pays one commit for many steps.

use crate::store::Store;
use crate::store::workflows::journal::Append;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Appends in one transaction, at most.
const MAX_BATCH: usize = 1_000;

enum Request {
    Append(Box<Append>, oneshot::Sender<Result<bool, String>>),
    Flush(oneshot::Sender<()>),
}

/// A handle on the writer; cheap to clone.
#[derive(Clone)]
pub(super) struct JournalWriter {
    requests: mpsc::UnboundedSender<Request>,
}

impl JournalWriter {
    /// Starts the writer of lease owner `owner`.
    pub(super) fn spawn(store: Store, owner: String) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(store, owner.into(), rx));
        Self { requests: tx }
    }

    /// Journals `append`: `Ok(true)` once stored, `Ok(false)` when this
    /// node no longer holds the execution (another took it over),
    /// `Err` when the database failed.
    pub(super) async fn append(&self, append: Append) -> Result<bool, String> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::Append(Box::new(append), tx))
            .map_err(|_| "the journal writer stopped".to_owned())?;
        rx.await.map_err(|_| "the journal writer stopped".to_owned())?
    }

    /// Waits until everything sent before is written.
    pub(super) async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.requests.send(Request::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

async fn write_loop(store: Store, owner: Arc<str>, mut rx: mpsc::UnboundedReceiver<Request>) {
    while let Some(first) = rx.recv().await {
        let mut appends = Vec::new();
        let mut replies = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Append(a, reply) => {
                    appends.push(*a);
                    replies.push(reply);
                }
                Request::Flush(done) => flushes.push(done),
            }
            if appends.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !appends.is_empty() {
            let started = std::time::Instant::now();
            match store.append_journals(&appends, &owner).await {
                Ok(written) => {
                    for (reply, ok) in replies.into_iter().zip(written) {
                        let _ = reply.send(Ok(ok));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot write workflow journals");
                    for reply in replies {
                        let _ = reply.send(Err(e.to_string()));
                    }
                }
            }
            metrics::histogram!("minicloud_workflow_journal_write_seconds")
                .record(started.elapsed().as_secs_f64());
            metrics::histogram!("minicloud_workflow_journal_batch").record(appends.len() as f64);
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}
