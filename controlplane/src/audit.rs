//! The one writer of the audit log on this node: the records of requests,
//! logins and refused host calls that arrive together are chained and
//! stored in one transaction, so a busy node pays one commit (and one read
//! of each org's head) for many records, and no lock serializes requests.

use crate::store::Store;
use crate::store::audit::AuditEntry;
use tokio::sync::{mpsc, oneshot};

/// Records in one transaction, at most.
const MAX_BATCH: usize = 500;

struct Request {
    org_id: String,
    entry: AuditEntry,
    stored: Option<oneshot::Sender<bool>>,
}

/// A handle on the writer; cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditLog {
    requests: mpsc::UnboundedSender<Request>,
}

impl AuditLog {
    /// Starts the writer.
    pub fn spawn(store: Store) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(store, rx));
        Self { requests: tx }
    }

    /// Appends `entry` to the chain of org `org_id` and waits until it is
    /// stored: `false` when it could not be (the failure is logged and
    /// counted in `minicloud_audit_write_failures_total`).
    pub async fn append(&self, org_id: &str, entry: AuditEntry) -> bool {
        let (tx, rx) = oneshot::channel();
        self.send(org_id, entry, Some(tx));
        rx.await.unwrap_or(false)
    }

    /// Appends `entry` without waiting for it.
    pub fn append_later(&self, org_id: &str, entry: AuditEntry) {
        self.send(org_id, entry, None);
    }

    fn send(&self, org_id: &str, entry: AuditEntry, stored: Option<oneshot::Sender<bool>>) {
        let request = Request {
            org_id: org_id.to_owned(),
            entry,
            stored,
        };
        if let Err(lost) = self.requests.send(request) {
            failed(&lost.0.entry, "the audit writer stopped");
        }
    }
}

fn failed(entry: &AuditEntry, error: &str) {
    metrics::counter!("minicloud_audit_write_failures_total").increment(1);
    tracing::error!(error, action = %entry.action, "cannot write an audit record");
}

async fn write_loop(store: Store, mut rx: mpsc::UnboundedReceiver<Request>) {
    while let Some(first) = rx.recv().await {
        let mut requests = vec![first];
        while requests.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => requests.push(r),
                Err(_) => break,
            }
        }
        let batch: Vec<(&str, &AuditEntry)> =
            requests.iter().map(|r| (r.org_id.as_str(), &r.entry)).collect();
        let stored = match store.append_audits(&batch).await {
            Ok(_) => true,
            Err(e) => {
                for r in &requests {
                    failed(&r.entry, &e.to_string());
                }
                false
            }
        };
        metrics::histogram!("minicloud_audit_batch").record(requests.len() as f64);
        for r in requests {
            if let Some(reply) = r.stored {
                let _ = reply.send(stored);
            }
        }
    }
}
