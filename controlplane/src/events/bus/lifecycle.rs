//! Opening the bus (its rules loaded, what earlier lives of the node held
//! taken back, its tasks started) and closing it (attempts under way
//! waited out, their outcomes stored, the leases given back).

use super::{
    BusError, CONCURRENT_DELIVERIES, CONCURRENT_DELIVERIES_PER_PROJECT, EventBus, Inner, NodeStart,
    Undelivered, Write, slots,
};
use crate::events::RuleSet;
use crate::events::platform::OutboxSignal;
use crate::store::Store;
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};

impl EventBus {
    /// Opens the bus of node `node` (stable across restarts): loads the
    /// rules, takes back what earlier lives of the node held (on a cold
    /// start), and starts the lease keeper and the outbox's pump (`outbox`
    /// wakes it). The bus takes events at once, so that it can be built
    /// before the functions that publish to it, which are its targets:
    /// [`Undelivered::deliver_to`] gives it them and starts the writer and
    /// the claimer, and publishers wait for their events to be stored
    /// until then.
    ///
    /// Leases are held by this life of the node (`<node>/<id>`), so that a
    /// successor started by a hand-over and the server it replaces, which
    /// run side by side for a moment, never take each other's deliveries:
    /// the old one gives its own back as it stops.
    pub async fn open(
        store: Store,
        node: String,
        region: String,
        outbox: OutboxSignal,
        nats: Option<async_nats::Client>,
        start: NodeStart,
    ) -> Result<(Self, Undelivered), BusError> {
        let (generation, rows) = store.all_rules().await?;
        let rules = RuleSet::build(generation, &rows);
        if start == NodeStart::Cold {
            store.release_node_leases(&node).await?;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let bus = Self {
            inner: Arc::new(Inner {
                store,
                node: format!("{node}/{}", crate::util::new_id()),
                region,
                rules: ArcSwap::from_pointee(rules),
                writes: tx,
                in_memory: AtomicUsize::new(0),
                slots: slots::Slots::new(CONCURRENT_DELIVERIES, CONCURRENT_DELIVERIES_PER_PROJECT),
                closing: AtomicBool::new(false),
                claiming: tokio::sync::Mutex::new(()),
                wake_claimer: Notify::new(),
                refresh_lock: tokio::sync::Mutex::new(()),
                rules_changed: Notify::new(),
                projects: Default::default(),
                nats,
                outbox,
            }),
        };
        tokio::spawn(bus.clone().lease_loop());
        bus.forward_outbox();
        let undelivered = Undelivered {
            bus: bus.clone(),
            writes: rx,
        };
        Ok((bus, undelivered))
    }

    /// Stops delivering and gives up this node's leases, so that another
    /// node (or this one's successor or next life) takes its deliveries at
    /// once and runs none of them twice: no new claims or attempts,
    /// attempts under way finish (within `grace`), their outcomes are
    /// stored, and only then are the leases released. Events published
    /// from here on are stored unleased.
    pub async fn close(&self, grace: Duration) {
        self.inner.closing.store(true, Ordering::Release);
        // A claim under way takes rows for this life: they are given back
        // below, after it.
        drop(self.inner.claiming.lock().await);
        let all = CONCURRENT_DELIVERIES as u32;
        let slots = self.inner.slots.global();
        if tokio::time::timeout(grace, slots.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!("event deliveries still running after the grace period: they will run again");
        }
        slots.close();
        let (tx, rx) = oneshot::channel();
        if self.inner.writes.send(Write::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
        if let Err(e) = self.inner.store.release_leases(&self.inner.node).await {
            tracing::warn!(error = %e, "cannot release event delivery leases");
        }
    }
}
