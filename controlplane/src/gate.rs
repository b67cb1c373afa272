//! Admission of invocations: a per-function concurrency limit with a
//! bounded queue, inside the quotas of the function's project and org
//! (running instances and their memory), inside a global limit that keeps
//! the instance pool from running dry; and request rates of public
//! triggers.
//!
//! - `tenants`: the project and org pools.
//! - `rate`: requests a second per project and org.
//!
//! Every caller takes its permits in one order, narrowest first: its
//! function, its project, its org (slots, then memory), the pool. A caller
//! only ever waits for a wider permit while holding narrower ones, so no
//! two callers can wait on each other in a cycle, and a project at its
//! quota queues on its own pool without holding anything of another
//! project's. One exception, bounded: an instance of a function that
//! reuses its instances takes its memory when it is made, after its first
//! request took all the rest, and waits for it only
//! [`tenants::INSTANCE_WAIT`] (250 ms), then refuses.

mod rate;
mod tenants;

pub use rate::RequestRates;
pub use tenants::{InUse, InstanceRoom, Tenant, Tenants};

use crate::store::quotas::QuotaExceeded;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Refused because the function is at its concurrency limit and its queue is
/// full, or the wait ran out.
#[derive(Debug, thiserror::Error)]
#[error("the function is at its concurrency limit of {limit}; retry after {retry_after_secs} s")]
pub struct Throttled {
    /// The function's limit.
    pub limit: usize,
    /// Seconds the client should wait.
    pub retry_after_secs: u64,
}

/// Why a gate did not admit a caller.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The function's own limit.
    #[error(transparent)]
    Throttled(#[from] Throttled),
    /// A quota of the function's project or org.
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
}

impl Refused {
    /// The refusal as a throttle, for callers that only retry later (event
    /// deliveries).
    pub fn into_throttled(self) -> Throttled {
        match self {
            Refused::Throttled(t) => t,
            Refused::Quota(q) => Throttled {
                limit: usize::try_from(q.limit).unwrap_or(usize::MAX),
                retry_after_secs: q.retry_after_secs.unwrap_or(1),
            },
        }
    }
}

/// Counts invocations in flight, so shutdown can wait for them.
#[derive(Debug, Default)]
pub struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

impl InFlight {
    /// Waits until nothing is in flight or `grace` passes; returns how many
    /// were still running.
    pub async fn drain(&self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        loop {
            let notified = self.idle.notified();
            let n = self.count.load(Ordering::Acquire);
            if n == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.count.load(Ordering::Acquire);
            }
        }
    }

    /// Invocations running now.
    pub fn current(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}

/// Held for the life of one instance.
#[derive(Debug)]
pub struct Permit {
    _function: OwnedSemaphorePermit,
    _tenant: Option<tenants::TenantPermit>,
    _global: OwnedSemaphorePermit,
    in_flight: Arc<InFlight>,
    gauge: metrics::Gauge,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gauge.decrement(1.0);
        if self.in_flight.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.in_flight.idle.notify_waiters();
        }
    }
}

/// A place in a bounded queue, given back when dropped: also when the
/// waiting caller goes away (its client disconnected) mid-wait.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    /// A place, unless `max` callers wait already.
    fn join(waiting: &'a AtomicUsize, max: usize) -> Option<Self> {
        if waiting.fetch_add(1, Ordering::AcqRel) >= max {
            waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Self(waiting))
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One function's gate.
#[derive(Debug)]
pub struct Gate {
    limit: usize,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    max_wait: Duration,
    tenant: Option<(Arc<Tenants>, Tenant)>,
    global: Arc<Semaphore>,
    in_flight: Arc<InFlight>,
    gauge: metrics::Gauge,
}

impl Gate {
    /// A gate of `limit` concurrent instances with a queue of `max_waiting`
    /// callers who wait at most `max_wait`.
    pub fn new(
        limit: usize,
        max_waiting: usize,
        max_wait: Duration,
        global: Arc<Semaphore>,
        in_flight: Arc<InFlight>,
    ) -> Self {
        Self {
            limit,
            slots: Arc::new(Semaphore::new(limit)),
            waiting: AtomicUsize::new(0),
            max_waiting,
            max_wait,
            tenant: None,
            global,
            in_flight,
            gauge: metrics::gauge!("minicloud_instances_in_flight"),
        }
    }

    /// The same gate, also holding its instances to the quotas of
    /// `tenant`'s project and org.
    pub fn for_tenant(mut self, tenants: Arc<Tenants>, tenant: Tenant) -> Self {
        self.tenant = Some((tenants, tenant));
        self
    }

    /// Waits for a slot, or refuses when a queue is full or the wait runs
    /// out; a quota refusal is told as a throttle.
    pub async fn enter(&self) -> Result<Permit, Throttled> {
        self.admit().await.map_err(Refused::into_throttled)
    }

    /// Waits for the function's slot, then its project's and org's, then
    /// the pool's, all within one wait; refuses when a queue is full or the
    /// wait runs out, saying whose limit it was.
    pub async fn admit(&self) -> Result<Permit, Refused> {
        let deadline = Instant::now() + self.max_wait;
        let refused = |r: Refused| {
            metrics::counter!("minicloud_throttled_total").increment(1);
            r
        };
        let function = self
            .function_slot(deadline)
            .await
            .map_err(|t| refused(t.into()))?;
        let tenant = match &self.tenant {
            Some((tenants, tenant)) => Some(
                tenants
                    .admit(tenant, deadline)
                    .await
                    .map_err(|q| refused(q.into()))?,
            ),
            None => None,
        };
        let global = match self.global.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => match tokio::time::timeout_at(deadline, self.global.clone().acquire_owned()).await {
                Ok(Ok(p)) => p,
                _ => return Err(refused(self.throttled().into())),
            },
        };
        self.in_flight.count.fetch_add(1, Ordering::AcqRel);
        self.gauge.increment(1.0);
        Ok(Permit {
            _function: function,
            _tenant: tenant,
            _global: global,
            in_flight: self.in_flight.clone(),
            gauge: self.gauge.clone(),
        })
    }

    async fn function_slot(&self, deadline: Instant) -> Result<OwnedSemaphorePermit, Throttled> {
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Ok(p);
        }
        let _queued = Queued::join(&self.waiting, self.max_waiting).ok_or_else(|| self.throttled())?;
        let start = Instant::now();
        let got = tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned()).await;
        metrics::histogram!("minicloud_queue_wait_seconds").record(start.elapsed().as_secs_f64());
        match got {
            Ok(Ok(p)) => Ok(p),
            _ => Err(self.throttled()),
        }
    }

    fn throttled(&self) -> Throttled {
        Throttled {
            limit: self.limit,
            retry_after_secs: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(limit: usize, queue: usize) -> Gate {
        Gate::new(
            limit,
            queue,
            Duration::from_millis(50),
            Arc::new(Semaphore::new(100)),
            Arc::new(InFlight::default()),
        )
    }

    #[tokio::test]
    async fn queue_overflow_is_throttled_and_slots_come_back() {
        let g = gate(1, 0);
        let first = g.enter().await.expect("first caller gets the slot");
        assert!(g.enter().await.is_err(), "no queue: second caller is refused");
        drop(first);
        assert!(g.enter().await.is_ok(), "slot returns when the permit drops");
    }

    #[tokio::test]
    async fn waiters_time_out_and_drain_reports_in_flight() {
        let g = gate(1, 5);
        let held = g.enter().await.expect("slot");
        assert!(g.enter().await.is_err(), "waiter gives up after max_wait");
        assert_eq!(g.waiting.load(Ordering::Acquire), 0, "the waiter left the queue");
        assert_eq!(g.in_flight.current(), 1);
        assert_eq!(g.in_flight.drain(Duration::from_millis(20)).await, 1);
        drop(held);
        assert_eq!(g.in_flight.drain(Duration::from_millis(20)).await, 0);
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_gives_its_queue_place_back() {
        let g = gate(1, 1);
        let _held = g.enter().await.expect("slot");
        {
            let mut waiting = std::pin::pin!(g.admit());
            assert!(futures::poll!(&mut waiting).is_pending());
            assert_eq!(g.waiting.load(Ordering::Acquire), 1);
        }
        assert_eq!(g.waiting.load(Ordering::Acquire), 0);
    }
}
