//! The audit log: append-only records, hash-chained per org.
//!
//! A record's hash covers its org, sequence number, every field and the
//! previous record's hash; sequence numbers have no gaps. Changing a record
//! breaks its hash; deleting one leaves a gap and a dangling link.

use super::{Result, Store, StoreError, is_deadlock, is_unique_violation, multi_row_insert};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// The hash before the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, by whom, to what.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// When, epoch ms.
    pub time_ms: i64,
    /// `user` or `api_key`; `anonymous` for a refused login.
    pub actor_type: String,
    /// The user's or key's id (empty for a refused login).
    pub actor_id: String,
    /// The user's name: `<org>/<name>` for a caller of another org, empty
    /// for a refused login.
    pub actor_name: String,
    /// The action, such as `functions:DeleteFunction`.
    pub action: String,
    /// The resource name.
    pub resource: String,
    /// `Allow` or `Deny`.
    pub decision: String,
    /// The HTTP status answered.
    pub outcome: i64,
    /// The client's address (empty when unknown).
    pub source_ip: String,
    /// The client's `User-Agent`.
    pub user_agent: String,
    /// The request's trace id.
    pub trace_id: String,
    /// The request's parameters as JSON text (`method`, `path`, `query`,
    /// and `body` or `body_bytes`), values of secrets replaced by
    /// `[redacted]`.
    pub params: String,
}

impl AuditEntry {
    /// The entry with every NUL character replaced by U+FFFD: PostgreSQL's
    /// text refuses NUL, and a name a guest or client chose must not make
    /// the record (and the records written with it) fail.
    pub fn without_nul(mut self) -> Self {
        for field in [
            &mut self.actor_type,
            &mut self.actor_id,
            &mut self.actor_name,
            &mut self.action,
            &mut self.resource,
            &mut self.decision,
            &mut self.source_ip,
            &mut self.user_agent,
            &mut self.trace_id,
            &mut self.params,
        ] {
            if field.contains('\0') {
                *field = field.replace('\0', "\u{FFFD}");
            }
        }
        self
    }
}

/// A stored record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Position in the org's chain, from 1.
    pub seq: i64,
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// The previous record's hash.
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
}

/// Filters of `GET .../audit`; empty strings and zeros mean "any".
#[derive(Debug, Default)]
pub struct AuditFilter {
    /// An actor id or name.
    pub actor: String,
    /// An exact action.
    pub action: String,
    /// A prefix of the resource name.
    pub resource_prefix: String,
    /// `Allow` or `Deny`.
    pub decision: String,
    /// Records at or after this time (ms).
    pub since_ms: i64,
    /// Records before this time (ms).
    pub until_ms: i64,
    /// Records whose HTTP outcome is at least this (0: any).
    pub outcome_min: i64,
    /// Records whose HTTP outcome is below this (0: any).
    pub outcome_below: i64,
}

/// The result of walking an audit chain.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AuditVerification)]
pub struct Verification {
    /// Whether every link holds.
    pub ok: bool,
    /// Records checked.
    pub records: i64,
    /// The first broken record's sequence number; `null` when every link
    /// holds.
    pub broken_at: Option<i64>,
    /// What is wrong there; `null` when every link holds.
    pub reason: Option<String>,
}

fn record_hash(org_id: &str, seq: i64, prev_hash: &str, e: &AuditEntry) -> String {
    // A JSON array is an unambiguous encoding of the fields.
    let canonical = serde_json::json!([
        org_id,
        seq,
        e.time_ms,
        e.actor_type,
        e.actor_id,
        e.actor_name,
        e.action,
        e.resource,
        e.decision,
        e.outcome,
        e.source_ip,
        e.user_agent,
        e.trace_id,
        e.params,
        prev_hash
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

fn record(r: &AnyRow) -> AuditRecord {
    AuditRecord {
        seq: r.get("seq"),
        entry: AuditEntry {
            time_ms: r.get("time_ms"),
            actor_type: r.get("actor_type"),
            actor_id: r.get("actor_id"),
            actor_name: r.get("actor_name"),
            action: r.get("action"),
            resource: r.get("resource"),
            decision: r.get("decision"),
            outcome: r.get("outcome"),
            source_ip: r.get("source_ip"),
            user_agent: r.get("user_agent"),
            trace_id: r.get("trace_id"),
            params: r.get("params"),
        },
        prev_hash: r.get("prev_hash"),
        hash: r.get("hash"),
    }
}

const COLUMNS: &str = "seq, time_ms, actor_type, actor_id, actor_name, action, resource, decision, outcome, \
                       source_ip, user_agent, trace_id, params, prev_hash, hash";

impl Store {
    /// Appends records to their orgs' chains in one transaction; returns
    /// their sequence numbers, in `batch` order. Records of one org are
    /// chained in the order given. Concurrent writers (other nodes)
    /// collide on a sequence number; the batch is then written again on
    /// the new heads.
    ///
    /// A batch costs a head read per org and one insert per hundred
    /// records, whatever its size.
    pub async fn append_audits(&self, batch: &[(&str, &AuditEntry)]) -> Result<Vec<i64>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_append_audits(batch).await {
                Err(StoreError::Query(e)) if is_unique_violation(&e) && attempt < 20 => continue,
                // Two nodes' batches waited on each other (PostgreSQL):
                // one was chosen to fail; it goes again after a pause.
                Err(StoreError::Query(e)) if is_deadlock(&e) && attempt < 20 => {
                    tokio::time::sleep(std::time::Duration::from_millis(
                        1 + rand::random::<u64>() % (10 * attempt),
                    ))
                    .await;
                }
                other => return other,
            }
        }
    }

    async fn try_append_audits(&self, batch: &[(&str, &AuditEntry)]) -> Result<Vec<i64>> {
        /// Records per multi-row insert (16 parameters each).
        const CHUNK: usize = 100;
        let mut tx = self.begin_write().await?;
        let mut heads: HashMap<&str, (i64, String)> = HashMap::new();
        let mut rows = Vec::with_capacity(batch.len());
        for &(org_id, entry) in batch {
            let head = match heads.entry(org_id) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(first) => {
                    let head = sqlx::query(
                        "SELECT seq, hash FROM audit_records WHERE org_id = $1 ORDER BY seq DESC LIMIT 1",
                    )
                    .bind(org_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    first.insert(head.map_or((0, GENESIS.to_owned()), |r| {
                        (r.get::<i64, _>("seq"), r.get::<String, _>("hash"))
                    }))
                }
            };
            let seq = head.0 + 1;
            let hash = record_hash(org_id, seq, &head.1, entry);
            let prev = std::mem::replace(head, (seq, hash.clone())).1;
            rows.push((org_id, seq, entry, prev, hash));
        }
        let seqs = rows.iter().map(|r| r.1).collect();
        // Inserted in one order on every node (org, then sequence), so
        // that two batches that collide wait on one another in the same
        // order rather than each on the other.
        rows.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for chunk in rows.chunks(CHUNK) {
            let sql = multi_row_insert(
                self.backend(),
                "INSERT INTO audit_records (org_id, seq, time_ms, actor_type, actor_id, actor_name, action, \
                 resource, decision, outcome, source_ip, user_agent, trace_id, params, prev_hash, hash) VALUES ",
                16,
                chunk.len(),
            );
            let mut q = sqlx::query(&sql);
            for (org_id, seq, e, prev, hash) in chunk {
                q = q
                    .bind(*org_id)
                    .bind(*seq)
                    .bind(e.time_ms)
                    .bind(&e.actor_type)
                    .bind(&e.actor_id)
                    .bind(&e.actor_name)
                    .bind(&e.action)
                    .bind(&e.resource)
                    .bind(&e.decision)
                    .bind(e.outcome)
                    .bind(&e.source_ip)
                    .bind(&e.user_agent)
                    .bind(&e.trace_id)
                    .bind(&e.params)
                    .bind(prev)
                    .bind(hash);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(seqs)
    }

    /// Records newest first, filtered, before sequence `before` (0: from
    /// the newest).
    pub async fn audit_page(
        &self,
        org_id: &str,
        f: &AuditFilter,
        before: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM audit_records WHERE org_id = $1 \
             AND ($2 = '' OR actor_id = $2 OR actor_name = $2) \
             AND ($3 = '' OR action = $3) \
             AND ($4 = '' OR substr(resource, 1, length($4)) = $4) \
             AND ($5 = '' OR decision = $5) \
             AND ($6 = 0 OR time_ms >= $6) \
             AND ($7 = 0 OR time_ms < $7) \
             AND ($8 = 0 OR seq < $8) \
             AND ($9 = 0 OR outcome >= $9) \
             AND ($10 = 0 OR outcome < $10) \
             ORDER BY seq DESC LIMIT $11"
        ))
        .bind(org_id)
        .bind(&f.actor)
        .bind(&f.action)
        .bind(&f.resource_prefix)
        .bind(&f.decision)
        .bind(f.since_ms)
        .bind(f.until_ms)
        .bind(before)
        .bind(f.outcome_min)
        .bind(f.outcome_below)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(record).collect())
    }

    /// Walks the org's chain from the start and reports the first broken
    /// link: a gap in the sequence, a previous-hash mismatch, or a record
    /// whose content no longer matches its hash.
    pub async fn verify_audit(&self, org_id: &str) -> Result<Verification> {
        const PAGE: i64 = 1000;
        let mut expected_seq = 1;
        let mut prev = GENESIS.to_owned();
        loop {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM audit_records WHERE org_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3"
            ))
            .bind(org_id)
            .bind(expected_seq)
            .bind(PAGE)
            .fetch_all(self.pool())
            .await?;
            let n = rows.len() as i64;
            for r in rows.iter().map(record) {
                let broken = |reason: String| Verification {
                    ok: false,
                    records: expected_seq - 1,
                    broken_at: Some(r.seq),
                    reason: Some(reason),
                };
                if r.seq != expected_seq {
                    return Ok(broken(format!(
                        "record {expected_seq} is missing (the chain jumps to {})",
                        r.seq
                    )));
                }
                if r.prev_hash != prev {
                    return Ok(broken("its link to the previous record does not match".into()));
                }
                if record_hash(org_id, r.seq, &r.prev_hash, &r.entry) != r.hash {
                    return Ok(broken("its content was changed after it was written".into()));
                }
                prev = r.hash;
                expected_seq += 1;
            }
            if n < PAGE {
                return Ok(Verification {
                    ok: true,
                    records: expected_seq - 1,
                    broken_at: None,
                    reason: None,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str) -> AuditEntry {
        AuditEntry {
            time_ms: 1,
            actor_type: "user".into(),
            actor_id: "u".into(),
            actor_name: "ada".into(),
            action: action.into(),
            resource: "mrn:iam:o::role/r".into(),
            decision: "Allow".into(),
            outcome: 201,
            source_ip: String::new(),
            user_agent: String::new(),
            trace_id: "t".into(),
            params: "{}".into(),
        }
    }

    /// One batch interleaving two orgs, then another on the heads it
    /// left: each org's chain numbers its records from 1 without a gap,
    /// in the order given, and verifies.
    #[tokio::test]
    async fn batches_chain_each_org_in_order() {
        let (store, _dir) = crate::store::tests::temporary_sqlite().await;
        let entries: Vec<AuditEntry> = (0..250).map(|i| entry(&format!("a{i}"))).collect();
        let batch: Vec<(&str, &AuditEntry)> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (if i % 3 == 0 { "org-x" } else { "org-y" }, e))
            .collect();
        let seqs = store.append_audits(&batch).await.expect("a batch");
        assert_eq!(&seqs[..4], [1, 1, 2, 2]);
        assert_eq!(seqs[249], 84, "the 84th record of org-x");
        let more = [entry("last")];
        let seqs = store
            .append_audits(&[("org-y", &more[0])])
            .await
            .expect("a record");
        assert_eq!(seqs, [167]);
        for (org, records) in [("org-x", 84), ("org-y", 167)] {
            let v = store.verify_audit(org).await.expect("a verification");
            assert!(v.ok, "{org}: {v:?}");
            assert_eq!(v.records, records);
        }
        let newest = store
            .audit_page("org-y", &AuditFilter::default(), 0, 2)
            .await
            .expect("a page");
        assert_eq!(newest[0].entry.action, "last");
        assert_eq!(newest[1].entry.action, "a248");
    }
}
