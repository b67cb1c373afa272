//! CPU turns: fairness between tenants for guests that compute for long.
//!
//! Every guest yields to the async runtime at each engine tick (1 ms), so
//! none holds a thread; but a tenant running many spinning guests still
//! takes most of the CPU from a neighbour whose calls are short. A
//! [`CpuShare`] is handed to every function of one tenant (the control
//! plane makes one per project): a guest that has computed through more
//! than [`FREE_TICKS`] ticks must hold one of the share's turns to go on,
//! and gives it back at its next tick, behind the others waiting, or as
//! soon as it calls a platform capability (key-value, storage, secrets,
//! events, outbound HTTP: calls that wait for I/O). So a handler that
//! computes for a few ticks between database calls never holds a turn
//! while it waits, and a tenant's long guests queue among themselves,
//! using at most its number of turns of CPU at once, and resting between
//! ticks while other work waits for the node (short calls first). Quick host calls
//! (writing a log line) keep the turn: a guest that floods its logs is
//! computing, and waits for turns like one.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Ticks a guest computes through before it needs a turn. A tick counts
/// only when the guest has not waited in the host for most of it:
/// returning from a host call that took long (I/O; the engine's epoch
/// moved on meanwhile) is not computing.
pub const FREE_TICKS: u32 = 2;
/// A host call this long waited (for I/O, or for a turn); the time after
/// it that makes a tick count.
const COUNTED_NANOS: u64 = 500_000;

/// A yield that took this long found other work waiting on the node.
const BUSY: Duration = Duration::from_micros(200);
/// How long a turn rests after a tick when other work was waiting: a
/// tenant's long guests then take about a third of a busy core per turn
/// (a tick of computing, then two of rest), and all of an idle one.
const REST: Duration = Duration::from_millis(2);

/// The CPU turns of one tenant's long-running guests.
#[derive(Debug, Clone)]
pub struct CpuShare(Arc<Semaphore>);

impl CpuShare {
    /// A share of `turns` guests computing at once (at least one).
    pub fn new(turns: usize) -> Self {
        Self(Arc::new(Semaphore::new(turns.max(1))))
    }

    /// Turns free now.
    pub fn available(&self) -> usize {
        self.0.available_permits()
    }
}

/// One invocation's hold on its share: the turn it has, if any, and when
/// it last came back from the host. Cheap to clone (one allocation per
/// invocation, shared by the call hook, the epoch callback and the
/// capabilities).
///
/// Host calls are timed only from the invocation's first tick on: most
/// invocations end within their first tick and make a dozen host calls,
/// two clock reads each, for nothing. So a wait in the host before the
/// first tick goes unseen and that tick counts as computing (the strict
/// side: such a guest needs a turn a tick sooner).
#[derive(Debug, Clone)]
pub(crate) struct Turn(Arc<TurnState>);

#[derive(Debug)]
struct TurnState {
    share: CpuShare,
    held: Mutex<Option<OwnedSemaphorePermit>>,
    origin: Instant,
    /// Whether a tick has come: host calls are timed from then on.
    ticked: AtomicBool,
    /// Ticks the guest computed through, since the invocation (or, in a
    /// reused instance, its latest request) started.
    computed: AtomicU32,
    /// Nanoseconds from `origin` to the start of the current host call.
    in_host_since: AtomicU64,
    /// Nanoseconds from `origin` to the last return from a host call that
    /// waited.
    resumed: AtomicU64,
}

impl Turn {
    pub(crate) fn new(share: CpuShare) -> Self {
        Self(Arc::new(TurnState {
            share,
            held: Mutex::default(),
            origin: Instant::now(),
            ticked: AtomicBool::new(false),
            computed: AtomicU32::new(0),
            in_host_since: AtomicU64::default(),
            resumed: AtomicU64::default(),
        }))
    }

    fn now(&self) -> u64 {
        u64::try_from(self.0.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The guest calls a capability that may wait for I/O: the turn goes
    /// back (a turn is for computing); the guest asks for one again at its
    /// next tick.
    pub(crate) fn give_back(&self) {
        if let Ok(mut held) = self.0.held.try_lock() {
            held.take();
        }
    }

    /// A reused instance starts another request: as in a fresh instance,
    /// its host calls are timed from its next tick on, and it computes
    /// through [`FREE_TICKS`] ticks before it needs a turn (a busy
    /// instance serving short requests is not one long computation).
    pub(crate) fn next_request(&self) {
        self.0.ticked.store(false, Ordering::Relaxed);
        self.0.computed.store(0, Ordering::Relaxed);
    }

    /// The guest calls the host.
    pub(crate) fn leave_wasm(&self) {
        if self.0.ticked.load(Ordering::Relaxed) {
            self.0.in_host_since.store(self.now(), Ordering::Relaxed);
        }
    }

    /// The host call returned; if it took long, the guest was waiting, and
    /// the tick it returns into is not one of computing.
    pub(crate) fn back_in_wasm(&self) {
        if !self.0.ticked.load(Ordering::Relaxed) {
            return;
        }
        let now = self.now();
        if now.saturating_sub(self.0.in_host_since.load(Ordering::Relaxed)) >= COUNTED_NANOS {
            self.0.resumed.store(now, Ordering::Relaxed);
        }
    }

    /// At a tick: whether the guest has computed through more than
    /// [`FREE_TICKS`] ticks, and so needs a turn to go on. Only the epoch
    /// callback and `next_request` write the count, both holding the
    /// store, never at once: a load and a store suffice.
    pub(crate) fn needs_turn(&self) -> bool {
        let mut computed = self.0.computed.load(Ordering::Relaxed);
        if self.computed_through_tick() {
            computed = computed.saturating_add(1);
            self.0.computed.store(computed, Ordering::Relaxed);
        }
        computed > FREE_TICKS
    }

    /// At a tick: whether the guest computed through (most of) it.
    fn computed_through_tick(&self) -> bool {
        let now = self.now();
        // The first tick may come inside a host call (one that calls back
        // into the guest, or, in WASI 0.3, while another of the instance's
        // tasks waits in one): that call is timed from here, not from a
        // start that was never read.
        if !self.0.ticked.swap(true, Ordering::Relaxed) {
            self.0.in_host_since.store(now, Ordering::Relaxed);
        }
        now.saturating_sub(self.0.resumed.load(Ordering::Relaxed)) >= COUNTED_NANOS
    }

    /// At a tick: let others run; if they had work waiting, rest for
    /// [`REST`] still holding the turn (so none of the tenant's guests
    /// computes meanwhile); then give the turn back and wait for the next
    /// one (the invocation's own deadline still applies: it is enforced
    /// around the whole call).
    pub(crate) async fn next(self) {
        let holding = self.0.held.lock().unwrap_or_else(|e| e.into_inner()).is_some();
        let before = Instant::now();
        tokio::task::yield_now().await;
        if holding && before.elapsed() >= BUSY {
            tokio::time::sleep(REST).await;
        }
        drop(self.0.held.lock().unwrap_or_else(|e| e.into_inner()).take());
        tokio::task::yield_now().await;
        if let Ok(permit) = self.0.share.0.clone().acquire_owned().await {
            *self.0.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(permit);
        }
    }
}

/// Runs a WASI 0.3 store's event loop, giving the turn back whenever the
/// loop waits (every task of the instance waits for I/O or for work): a
/// turn is for computing, and an async host call, unlike a sync one, does
/// not pass the call hook that gives it back.
pub(crate) async fn give_back_when_waiting<F: Future>(turn: Option<Turn>, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        let polled = fut.as_mut().poll(cx);
        if polled.is_pending()
            && let Some(turn) = &turn
        {
            turn.give_back();
        }
        polled
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host call of `a`'s guest that lasts `how_long`.
    fn host_call(a: &Turn, how_long: Duration) {
        a.leave_wasm();
        std::thread::sleep(how_long);
        a.back_in_wasm();
    }

    #[tokio::test]
    async fn a_turn_is_held_between_ticks_and_given_back_at_the_next() {
        let share = CpuShare::new(1);
        let a = Turn::new(share.clone());
        let b = Turn::new(share.clone());
        a.clone().next().await;
        assert_eq!(share.available(), 0, "a computes");
        // b waits until a's next tick gives the turn back.
        let waiting = tokio::spawn(b.clone().next());
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        let a_again = tokio::spawn(a.clone().next());
        waiting.await.expect("b got the turn");
        assert_eq!(share.available(), 0, "b computes, a waits");
        tokio::task::yield_now().await;
        assert!(!a_again.is_finished(), "a waits while b holds the turn");
        // b's invocation ends: its turn goes with it, and a goes on.
        drop(b);
        tokio::time::timeout(std::time::Duration::from_secs(5), a_again)
            .await
            .expect("a got the turn back")
            .expect("a's tick");
        assert_eq!(share.available(), 0, "a computes again");
        drop(a);
        assert_eq!(share.available(), 1, "nothing holds a turn");
    }

    #[tokio::test]
    async fn a_capability_call_gives_the_turn_back_and_waiting_is_not_computing() {
        let share = CpuShare::new(1);
        let a = Turn::new(share.clone());
        a.clone().next().await;
        assert_eq!(share.available(), 0);
        a.give_back();
        assert_eq!(share.available(), 1, "a waits for I/O without a turn");
        let ms = std::time::Duration::from_millis(1);
        std::thread::sleep(ms);
        assert!(a.computed_through_tick(), "a computed since it started");
        // A quick host call (a log line) is computing...
        host_call(&a, Duration::ZERO);
        assert!(a.computed_through_tick());
        // ...a long one (I/O) is not.
        host_call(&a, ms);
        assert!(!a.computed_through_tick(), "a tick right after a wait");
        std::thread::sleep(ms);
        assert!(a.computed_through_tick());
    }

    #[test]
    fn host_calls_before_the_first_tick_are_not_timed() {
        let a = Turn::new(CpuShare::new(1));
        let ms = std::time::Duration::from_millis(1);
        // A wait in the host before the first tick goes unseen: that tick
        // counts as computing.
        host_call(&a, ms);
        assert!(a.computed_through_tick(), "the first tick counts");
        // From the first tick on, a wait is seen.
        host_call(&a, ms);
        assert!(!a.computed_through_tick(), "a tick right after a wait");
        // A reused instance's next request starts over.
        std::thread::sleep(ms);
        a.next_request();
        host_call(&a, ms);
        assert!(a.computed_through_tick(), "its first tick counts");
    }

    #[test]
    fn a_guest_needs_a_turn_past_its_free_ticks_and_a_new_request_starts_over() {
        let a = Turn::new(CpuShare::new(1));
        let ms = std::time::Duration::from_millis(1);
        let computing = |a: &Turn| {
            std::thread::sleep(ms);
            a.needs_turn()
        };
        let counted = |a: &Turn| a.0.computed.load(Ordering::Relaxed);
        let free: Vec<bool> = (0..FREE_TICKS).map(|_| computing(&a)).collect();
        assert_eq!(free, [false; FREE_TICKS as usize], "the free ticks");
        assert!(computing(&a), "the tick past them");
        // A tick right after a wait does not count, but the count stays.
        host_call(&a, ms);
        assert!(a.needs_turn(), "still past the free ticks");
        assert_eq!(counted(&a), FREE_TICKS + 1, "the tick after the wait");
        // A reused instance's next request gets its own free ticks.
        a.next_request();
        let free: Vec<bool> = (0..FREE_TICKS).map(|_| computing(&a)).collect();
        assert_eq!(free, [false; FREE_TICKS as usize], "a new request's free ticks");
        assert!(computing(&a), "the tick past them");
    }

    #[test]
    fn a_call_the_first_tick_comes_in_is_timed_from_that_tick() {
        let a = Turn::new(CpuShare::new(1));
        let ms = std::time::Duration::from_millis(1);
        a.leave_wasm();
        std::thread::sleep(ms);
        // The first tick, inside the call (a callback into the guest).
        assert!(a.computed_through_tick());
        // The call ends at once after it: not a wait.
        a.back_in_wasm();
        assert!(a.computed_through_tick(), "no wait was seen");
    }
}
