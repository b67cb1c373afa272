//! Concurrency gates: a per-function limit with a bounded queue, inside a
//! global limit that keeps the instance pool from running dry.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

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
        let deadline = tokio::time::Instant::now() + grace;
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

/// One function's gate.
#[derive(Debug)]
pub struct Gate {
    limit: usize,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    max_wait: Duration,
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
            global,
            in_flight,
            gauge: metrics::gauge!("minicloud_instances_in_flight"),
        }
    }

    /// Waits for a slot, or refuses when the queue is full or the wait runs
    /// out.
    pub async fn enter(&self) -> Result<Permit, Throttled> {
        let throttled = || {
            metrics::counter!("minicloud_throttled_total").increment(1);
            Throttled {
                limit: self.limit,
                retry_after_secs: 1,
            }
        };
        let function = match self.slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(throttled());
                }
                let start = Instant::now();
                let got = tokio::time::timeout(self.max_wait, self.slots.clone().acquire_owned()).await;
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                metrics::histogram!("minicloud_queue_wait_seconds").record(start.elapsed().as_secs_f64());
                match got {
                    Ok(Ok(p)) => p,
                    _ => return Err(throttled()),
                }
            }
        };
        let global = match self.global.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => match tokio::time::timeout(self.max_wait, self.global.clone().acquire_owned()).await {
                Ok(Ok(p)) => p,
                _ => return Err(throttled()),
            },
        };
        self.in_flight.count.fetch_add(1, Ordering::AcqRel);
        self.gauge.increment(1.0);
        Ok(Permit {
            _function: function,
            _global: global,
            in_flight: self.in_flight.clone(),
            gauge: self.gauge.clone(),
        })
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
        assert_eq!(g.in_flight.current(), 1);
        assert_eq!(g.in_flight.drain(Duration::from_millis(20)).await, 1);
        drop(held);
        assert_eq!(g.in_flight.drain(Duration::from_millis(20)).await, 0);
    }
}
