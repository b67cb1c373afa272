//! The one writer of the audit log on this node: the records of requests,
//! logins and refused host calls that arrive together are chained and
//! stored in one transaction, so a busy node pays one commit (and one read
//! of each org's head) for many records, and no lock serializes requests.

use crate::store::Store;
use crate::store::audit::AuditEntry;
use tokio::sync::{mpsc, oneshot};

/// Records in one transaction, at most.
const MAX_BATCH: usize = 500;
/// Records waiting for the writer, at most: past it a request waits for
/// room, and a record nobody waits for is dropped and counted as a failed
/// write (its producers are bounded per invocation and per login, so only
/// a database that stopped answering fills it).
const QUEUE: usize = 100_000;

enum Message {
    Append(Box<Request>),
    /// Answered once every record sent before it is written.
    Flush(oneshot::Sender<()>),
}

struct Request {
    org_id: String,
    entry: AuditEntry,
    stored: Option<oneshot::Sender<bool>>,
}

/// A handle on the writer; cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditLog {
    requests: mpsc::Sender<Message>,
}

impl AuditLog {
    /// Starts the writer.
    pub fn spawn(store: Store) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(store, rx));
        Self { requests: tx }
    }

    /// Appends `entry` to the chain of org `org_id` and waits until it is
    /// stored: `false` when it could not be (the failure is logged and
    /// counted in `minicloud_audit_write_failures_total`).
    pub async fn append(&self, org_id: &str, entry: AuditEntry) -> bool {
        let (tx, rx) = oneshot::channel();
        let message = Message::Append(Box::new(Request {
            org_id: org_id.to_owned(),
            entry: entry.without_nul(),
            stored: Some(tx),
        }));
        if let Err(lost) = self.requests.send(message).await {
            lost_message(lost.0, "the audit writer stopped");
            return false;
        }
        rx.await.unwrap_or(false)
    }

    /// Appends `entry` without waiting for it.
    pub fn append_later(&self, org_id: &str, entry: AuditEntry) {
        let message = Message::Append(Box::new(Request {
            org_id: org_id.to_owned(),
            entry: entry.without_nul(),
            stored: None,
        }));
        match self.requests.try_send(message) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(lost)) => lost_message(lost, "the audit queue is full"),
            Err(mpsc::error::TrySendError::Closed(lost)) => lost_message(lost, "the audit writer stopped"),
        }
    }

    /// Waits until every record appended before this call is written (or
    /// has failed): the drain at shutdown calls it before the database
    /// closes.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.requests.send(Message::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

fn lost_message(message: Message, error: &str) {
    if let Message::Append(r) = message {
        failed(&r.entry, error);
    }
}

fn failed(entry: &AuditEntry, error: &str) {
    metrics::counter!("minicloud_audit_write_failures_total").increment(1);
    tracing::error!(error, action = %entry.action, "cannot write an audit record");
}

async fn write_loop(store: Store, mut rx: mpsc::Receiver<Message>) {
    let mut flushes = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut requests = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Append(r) => requests.push(*r),
                Message::Flush(done) => flushes.push(done),
            }
            if requests.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !requests.is_empty() {
            write(&store, requests).await;
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Stores a batch; when it fails as a whole (a record the database
/// refuses, say), each record is tried on its own so that one bad record
/// costs only itself.
async fn write(store: &Store, requests: Vec<Request>) {
    metrics::histogram!("minicloud_audit_batch").record(requests.len() as f64);
    let batch: Vec<(&str, &AuditEntry)> = requests.iter().map(|r| (r.org_id.as_str(), &r.entry)).collect();
    let outcome = store.append_audits(&batch).await;
    drop(batch);
    let results: Vec<bool> = match outcome {
        Ok(_) => vec![true; requests.len()],
        Err(e) if requests.len() == 1 => {
            failed(&requests[0].entry, &e.to_string());
            vec![false]
        }
        Err(e) => {
            tracing::warn!(error = %e, records = requests.len(), "an audit batch failed; writing its records one by one");
            let mut results = Vec::with_capacity(requests.len());
            for r in &requests {
                let stored = match store.append_audits(&[(r.org_id.as_str(), &r.entry)]).await {
                    Ok(_) => true,
                    Err(e) => {
                        failed(&r.entry, &e.to_string());
                        false
                    }
                };
                results.push(stored);
            }
            results
        }
    };
    for (r, stored) in requests.into_iter().zip(results) {
        if let Some(reply) = r.stored {
            let _ = reply.send(stored);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::AuditFilter;

    /// A record naming a resource with a NUL (a guest's key, say) is
    /// stored with U+FFFD in its place, and `flush` returns once the
    /// records appended before it are stored.
    #[tokio::test]
    async fn stores_what_postgres_would_refuse_and_flushes() {
        let (store, _dir) = crate::store::tests::temporary_sqlite().await;
        let log = AuditLog::spawn(store.clone());
        let entry = |resource: &str| AuditEntry {
            time_ms: 1,
            actor_type: "function".into(),
            actor_id: "f".into(),
            actor_name: "p/f".into(),
            action: "kv:Get".into(),
            resource: resource.into(),
            decision: "Deny".into(),
            outcome: 403,
            source_ip: String::new(),
            user_agent: String::new(),
            trace_id: "t".into(),
            params: "{}".into(),
        };
        for i in 0..20 {
            log.append_later("org-x", entry(&format!("mrn:kv:o:p:bucket/b/k{i}")));
        }
        log.append_later("org-x", entry("mrn:kv:o:p:bucket/b/a\0b"));
        log.flush().await;
        let page = store
            .audit_page("org-x", &AuditFilter::default(), 0, 100)
            .await
            .expect("a page");
        assert_eq!(page.len(), 21, "every record appended before the flush is stored");
        assert_eq!(page[0].entry.resource, "mrn:kv:o:p:bucket/b/a\u{FFFD}b");
        assert!(store.verify_audit("org-x").await.expect("a verification").ok);
    }
}
