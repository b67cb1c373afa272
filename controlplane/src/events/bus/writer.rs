//! The bus's background work: the one writer that applies every change in
//! batched transactions, the claimer that takes unleased deliveries, and
//! the lease keeper.

use super::BusError;
use super::{Deliverer, EventBus, LEASE, MAX_IN_MEMORY, Pending, Write};
use crate::store::events::Batch;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How often the table is polled for unleased deliveries.
const CLAIM_EVERY: Duration = Duration::from_millis(500);
/// Writes the writer applies in one transaction, at most.
const MAX_BATCH: usize = 4_096;

impl Deliverer {
    /// The one writer: each batch of changes in one transaction, then the
    /// publishers told and the new deliveries started.
    pub(super) async fn write_loop(self, mut rx: mpsc::UnboundedReceiver<Write>) {
        let bus = &self.bus;
        let mut carried: Option<Batch> = None;
        loop {
            let mut batch = carried.take().unwrap_or_default();
            let mut acks = Vec::new();
            let mut flushes = Vec::new();
            let mut fresh: Vec<Pending> = Vec::new();
            let mut n = 0;
            if batch.is_empty() {
                let Some(first) = rx.recv().await else { return };
                bus.absorb(first, &mut batch, &mut acks, &mut flushes, &mut fresh);
                n += 1;
            }
            while n < MAX_BATCH {
                let Ok(more) = rx.try_recv() else { break };
                bus.absorb(more, &mut batch, &mut acks, &mut flushes, &mut fresh);
                n += 1;
            }
            let result = if batch.is_empty() {
                Ok(())
            } else {
                bus.inner
                    .store
                    .apply_deliveries(&batch, &bus.inner.node, bus.lease_until())
                    .await
            };
            match result {
                Ok(()) => {
                    for ack in acks {
                        let _ = ack.send(Ok(()));
                    }
                    for p in fresh {
                        self.spawn(p);
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot store event deliveries; retrying");
                    let message = e.to_string();
                    for ack in acks {
                        let _ = ack.send(Err(BusError::Batch(message.clone())));
                    }
                    // What publishers were told failed is not kept; the
                    // outcomes of deliveries are, and go again.
                    batch.insert.clear();
                    batch.insert_unleased.clear();
                    carried = Some(batch);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            for f in flushes {
                let _ = f.send(());
            }
        }
    }
}

impl EventBus {
    fn absorb(
        &self,
        w: Write,
        batch: &mut Batch,
        acks: &mut Vec<oneshot::Sender<Result<(), BusError>>>,
        flushes: &mut Vec<oneshot::Sender<()>>,
        fresh: &mut Vec<Pending>,
    ) {
        match w {
            Write::Insert(pending, ack) => {
                let room = !self.closing()
                    && self.inner.in_memory.load(Ordering::Acquire) + fresh.len() < MAX_IN_MEMORY;
                for p in pending {
                    if room {
                        batch.insert.push(p.row.clone());
                        fresh.push(p);
                    } else {
                        batch.insert_unleased.push(p.row);
                    }
                }
                acks.push(ack);
            }
            Write::Done(id) => batch.delete.push(id),
            Write::Retry(id, attempts, due, error) => batch.retry.push((id, attempts, due, error)),
            Write::Dead(row, rule, error) => batch.dead.push((row, rule, error)),
            Write::Flush(tx) => flushes.push(tx),
        }
    }

    pub(super) async fn lease_loop(self) {
        loop {
            tokio::time::sleep(LEASE / 3).await;
            if let Err(e) = self
                .inner
                .store
                .renew_leases(&self.inner.node, self.lease_until())
                .await
            {
                tracing::warn!(error = %e, "cannot renew event delivery leases");
            }
        }
    }
}

impl Deliverer {
    /// Takes unleased deliveries, and reloads the rules, every
    /// `CLAIM_EVERY` or when woken.
    pub(super) async fn claim_loop(self) {
        let bus = &self.bus;
        bus.inner.store.until_started().await;
        loop {
            let full = {
                let _claiming = bus.inner.claiming.lock().await;
                if bus.closing() {
                    return;
                }
                self.claim().await
            };
            if full {
                continue;
            }
            match bus.refresh_rules().await {
                // A stored permit: the watcher may be busy reconciling the
                // previous change and must not miss this one.
                Ok(true) => bus.inner.rules_changed.notify_one(),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot reload event rules"),
            }
            let _ = tokio::time::timeout(CLAIM_EVERY, bus.inner.wake_claimer.notified()).await;
        }
    }

    /// Takes unleased deliveries while there is room in memory; `true`
    /// when it took as many as it asked for (more may be waiting).
    async fn claim(&self) -> bool {
        let room = MAX_IN_MEMORY.saturating_sub(self.bus.inner.in_memory.load(Ordering::Acquire));
        if room == 0 {
            return false;
        }
        let limit = room.min(1_000) as i64;
        match self
            .bus
            .inner
            .store
            .claim_deliveries(&self.bus.inner.node, self.bus.lease_until(), limit)
            .await
        {
            Ok(rows) => {
                let full = rows.len() as i64 == limit;
                for row in rows {
                    self.spawn(Pending { row, accepted: None });
                }
                full
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim event deliveries");
                false
            }
        }
    }
}
