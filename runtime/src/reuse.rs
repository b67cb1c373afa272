//! Instance reuse for WASI 0.3 HTTP functions, by opt-in.
//!
//! By default every request gets a fresh instance. A function that opts in
//! ([`Reuse`]) keeps each instance for up to `max_requests` requests,
//! serving up to `max_concurrent` of them at once, until it has been idle
//! for `idle_timeout_ms`. wasmtime-wasi-http's handler machinery
//! ([`ProxyHandler`]) queues the requests and runs one worker per instance;
//! this module gives it the platform's store, the context of each request,
//! its deadline and its report.
//!
//! Per request: the timeout (a request past it is answered with a timeout,
//! and the instance takes no more requests and ends), the caller and trace
//! id the capabilities see, the host-call limits, the request and response
//! size limits, a record with the logs written while it ran. Shared by the
//! requests of one instance: its linear memory (state survives between
//! requests of the same function; never between functions, whose instances
//! are their own) and its memory limit. A trap ends the instance; the
//! requests it was serving fail.
//!
//! An instance holds its function's memory limit in its tenant's memory
//! quota for as long as it lives, idle or busy ([`InstanceQuota`]): its
//! requests take only their places in the concurrency quotas. A tenant
//! whose quota is full of idle instances gets its memory back by asking
//! them to end; past the quota a new instance is refused (429). A request
//! that finds its function's instances all busy and the quota full waits
//! for one of them first (`Own`), rather than have one ended for it.
//!
//! Each host call acts for the request whose task makes it, at any
//! `max_concurrent` ([`RequestCaps`]), and what it prints or logs goes to
//! its record: a write to stdout or stderr is a host call too (WASI 0.2's
//! streams, or WASI 0.3's `stream.write` into the host's reader, which
//! takes the bytes inside the call), so the instance's capture hands the
//! bytes to the capture of the request whose capabilities are in place.
//! At any `max_concurrent` the CPU turns count ticks from the latest request's start (it gets its
//! own free ticks; see `cpu`), and the instance's deadline is the latest
//! request's: work that goes on while new requests keep arriving is
//! bounded by that stream, not by one request's timeout.

use crate::caps::backend::{DeliveryInfo, TaskInfo};
use crate::caps::{Caller, CapState};
use crate::error::InvokeError;
use crate::function::Function;
use crate::http::{Body, BoxError, Verdict, limit_response};
use crate::invocation::{InvocationContext, classify, sandbox};
use crate::limits::MemoryUse;
use crate::logs::{LogCapture, now_ms};
use crate::report::InvocationReport;
use crate::state::InstanceState;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime::component::GuestTaskId;
use wasmtime::{Store, StoreContextMut};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::handler::{
    ExpirationError, HandlerState, Instance, InstantiationError, Proxy, ProxyHandler, ShouldAccept,
    TrapOrPanicError, WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::p3::bindings::ServicePre;

mod requests;
pub(crate) use requests::{RequestCaps, act_for_caller};

/// How a function's instances are reused across requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reuse {
    /// Requests one instance serves before it ends.
    pub max_requests: u32,
    /// Requests one instance serves at once.
    pub max_concurrent: u32,
    /// Milliseconds an idle instance waits for another request.
    pub idle_timeout_ms: u64,
}

impl Reuse {
    /// The most requests one instance may serve.
    pub const MAX_REQUESTS: u32 = 1_000_000;
    /// The most requests one instance may serve at once.
    pub const MAX_CONCURRENT: u32 = 1_000;
    /// The longest an idle instance may wait: ten minutes.
    pub const MAX_IDLE_TIMEOUT_MS: u64 = 600_000;

    /// Why these settings cannot be used, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        let in_range = |name: &str, value: u64, max: u64| {
            if (1..=max).contains(&value) {
                Ok(())
            } else {
                Err(format!("reuse.{name} is {value}; it must be from 1 to {max}"))
            }
        };
        in_range(
            "max_requests",
            self.max_requests.into(),
            Self::MAX_REQUESTS.into(),
        )?;
        in_range(
            "max_concurrent",
            self.max_concurrent.into(),
            Self::MAX_CONCURRENT.into(),
        )?;
        in_range("idle_timeout_ms", self.idle_timeout_ms, Self::MAX_IDLE_TIMEOUT_MS)
    }

    /// Reads the three settings from a change's object or a manifest's
    /// table (any serde format), and checks them.
    pub fn from_fields<'de, D: serde::Deserializer<'de>>(fields: D) -> Result<Reuse, String> {
        let reuse = <Reuse as serde::Deserialize>::deserialize(fields).map_err(|e| {
            format!("reuse needs max_requests, max_concurrent and idle_timeout_ms, and nothing else: {e}")
        })?;
        reuse.check()?;
        Ok(reuse)
    }

    /// Reads the short form that a deploy's query and the CLI's `--reuse`
    /// take: `off` (no reuse), or `MAX_REQUESTS,MAX_CONCURRENT,IDLE_TIMEOUT_MS`
    /// in range.
    pub fn parse_short(text: &str) -> Result<Option<Reuse>, String> {
        const USAGE: &str = "give MAX_REQUESTS,MAX_CONCURRENT,IDLE_TIMEOUT_MS (e.g. 100,4,30000), or off";
        if text == "off" {
            return Ok(None);
        }
        let [max_requests, max_concurrent, idle_timeout_ms] =
            text.split(',').map(str::trim).collect::<Vec<_>>()[..]
        else {
            return Err(format!("reuse {text:?}: {USAGE}"));
        };
        fn number<T: std::str::FromStr<Err = std::num::ParseIntError>>(text: &str) -> Result<T, String> {
            text.parse().map_err(|e| format!("reuse {text:?}: {e}; {USAGE}"))
        }
        let reuse = Reuse {
            max_requests: number(max_requests)?,
            max_concurrent: number(max_concurrent)?,
            idle_timeout_ms: number(idle_timeout_ms)?,
        };
        reuse.check()?;
        Ok(Some(reuse))
    }

    /// This setting in the short form [`Reuse::parse_short`] reads.
    pub fn short(&self) -> String {
        format!(
            "{},{},{}",
            self.max_requests, self.max_concurrent, self.idle_timeout_ms
        )
    }
}

/// Where a reused function's instances take their memory: a place in their
/// tenant's memory quota, held for as long as each instance lives, idle or
/// busy. The control plane implements it; without it an idle instance
/// would hold memory that no quota counts (a tenant could keep many
/// functions warm, each holding its memory limit, past its quota).
pub trait InstanceQuota: Send + Sync {
    /// One instance's place, held until the value is dropped. It may wait
    /// a while (asking the tenant's idle instances to end, through
    /// [`InstanceQuota::rooms`]); past that it refuses, with a message
    /// for the caller.
    fn hold(&self) -> Holding<'_>;

    /// Whether a new instance would find its place now, without waiting.
    fn has_room(&self) -> bool;

    /// Where the tenant calls for memory that its idle instances hold (its
    /// project and its org, say): an instance idle when a call comes to
    /// any of them ends.
    fn rooms(&self) -> Vec<Arc<Room>>;

    /// Whose instances these are (an org), for the node's share of reused
    /// instances: when they crowd, an owner over its share ends its idle
    /// ones, and the others keep theirs.
    fn owner(&self) -> Arc<str>;
}

/// An instance's place in its tenant's quota, given back when dropped.
pub type Place = Box<dyn Send + Sync>;

/// What [`InstanceQuota::hold`] gives: a place, or why there is none.
pub type Holding<'a> = Pin<Box<dyn Future<Output = Result<Place, String>> + Send + 'a>>;

/// A tenant's calls for the memory its idle instances hold. A caller calls
/// again while it waits, so a call an instance missed (busy then, or
/// between its going idle and listening) is followed by another.
#[derive(Debug, Default)]
pub struct Room {
    calls: AtomicU64,
    notify: Arc<tokio::sync::Notify>,
    /// Instances listening that are idle now.
    idle: AtomicUsize,
}

impl Room {
    /// Calls on the instances idle now to end.
    pub fn call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.notify.notify_waiters();
    }

    /// The calls so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Whether an instance listening is idle now (a call would end it).
    pub fn has_idle(&self) -> bool {
        self.idle.load(Ordering::Relaxed) > 0
    }
}

/// A `Notify` listened to across polls of an expiry: it wakes the task,
/// and the next notification is listened for.
struct Ear {
    notify: Arc<tokio::sync::Notify>,
    next: Pin<Box<tokio::sync::futures::OwnedNotified>>,
}

impl Ear {
    fn new(notify: &Arc<tokio::sync::Notify>) -> Self {
        Self {
            notify: notify.clone(),
            next: Box::pin(notify.clone().notified_owned()),
        }
    }

    /// Whether it was notified since last asked; listens for the next.
    fn heard(&mut self, cx: &mut Context<'_>) -> bool {
        let mut heard = false;
        while self.next.as_mut().poll(cx).is_ready() {
            self.next = Box::pin(self.notify.clone().notified_owned());
            heard = true;
        }
        heard
    }
}

/// An instance's ear on one [`Room`]: the calls it had heard when it last
/// went idle.
struct Listening {
    room: Arc<Room>,
    ear: Ear,
    calls_when_idle: u64,
    /// Counted in the room's idle instances.
    idle: bool,
}

impl Listening {
    fn new(room: Arc<Room>) -> Self {
        Self {
            ear: Ear::new(&room.notify),
            calls_when_idle: room.calls(),
            room,
            idle: false,
        }
    }

    fn went_idle(&mut self) {
        self.calls_when_idle = self.room.calls();
        if !std::mem::replace(&mut self.idle, true) {
            self.room.idle.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn went_busy(&mut self) {
        if std::mem::replace(&mut self.idle, false) {
            self.room.idle.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Whether a call came since it went idle; listens for the next.
    fn called(&mut self, cx: &mut Context<'_>) -> bool {
        self.ear.heard(cx);
        self.room.calls() != self.calls_when_idle
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.went_busy();
    }
}

/// An instance refused by its tenant's quota, told to its request.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct NoRoom(String);

/// The instances of one function that reuses them. Dropped with the last
/// copy of its `Function` (a redeploy or a settings change loads a new
/// one): its idle instances then end rather than wait for their idle
/// timeout.
pub(crate) struct Pool {
    handler: ProxyHandler<Instances>,
    retired: Arc<Retired>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.retired.done.store(true, Ordering::Relaxed);
        self.retired.notify.notify_waiters();
    }
}

impl Pool {
    pub(crate) fn reuse(&self) -> Reuse {
        self.handler.state().reuse
    }
}

/// Set when a pool is dropped, for its instances' expiries.
#[derive(Debug, Default)]
struct Retired {
    done: std::sync::atomic::AtomicBool,
    notify: Arc<tokio::sync::Notify>,
}

/// The node's reused instances, counted by owner (an org). Idle ones still
/// hold a slot of the engine's pool, so together they may use at most half
/// of it: when a new one passes that, the idle instances of every owner
/// over its share (that half over the owners with reused instances) end.
/// An owner keeping many functions warm ends its own warm instances, not
/// the others': nobody can leave others without instances, nor take their
/// warmth. With more owners than the limit, every share is 0 and every
/// idle instance ends, as before shares.
#[derive(Debug, Default)]
pub(crate) struct Reused {
    live: AtomicUsize,
    owners: Mutex<HashMap<Arc<str>, Arc<Owned>>>,
    /// `owners.len()`, read without the lock.
    count: AtomicUsize,
}

/// One owner's reused instances on the node.
#[derive(Debug)]
pub(crate) struct Owned {
    owner: Arc<str>,
    live: AtomicUsize,
    /// Its idle instances end when notified.
    crowded: Arc<tokio::sync::Notify>,
}

impl Reused {
    /// Counts a new instance of `owner`'s; past `limit`, calls on the idle
    /// instances of every owner over its share to end.
    fn started(&self, owner: Arc<str>, limit: usize) -> Arc<Owned> {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        let mine = owners
            .entry(owner.clone())
            .or_insert_with(|| {
                Arc::new(Owned {
                    owner,
                    live: AtomicUsize::new(0),
                    crowded: Arc::default(),
                })
            })
            .clone();
        self.count.store(owners.len(), Ordering::Relaxed);
        mine.live.fetch_add(1, Ordering::Relaxed);
        let live = self.live.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!("minicloud_reused_instances").set(live as f64);
        if live > limit {
            for owned in owners.values() {
                if self.over_share(owned, limit) {
                    owned.crowded.notify_waiters();
                }
            }
        }
        mine
    }

    /// Counts an instance of `mine`'s owner gone.
    fn ended(&self, mine: &Owned) {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        if mine.live.fetch_sub(1, Ordering::Relaxed) == 1 {
            owners.remove(&mine.owner);
            self.count.store(owners.len(), Ordering::Relaxed);
        }
        let live = self.live.fetch_sub(1, Ordering::Relaxed) - 1;
        metrics::gauge!("minicloud_reused_instances").set(live as f64);
    }

    /// Whether an idle instance of `mine` should end: the node is past its
    /// limit and its owner over its share.
    fn crowded(&self, mine: &Owned, limit: usize) -> bool {
        self.live.load(Ordering::Relaxed) > limit && self.over_share(mine, limit)
    }

    /// Whether `owned` has more than its share: the limit over the owners.
    /// Past the limit some owner always has (owners times share is at most
    /// the limit); with more owners than the limit every share is 0.
    fn over_share(&self, owned: &Owned, limit: usize) -> bool {
        let share = limit / self.count.load(Ordering::Relaxed).max(1);
        owned.live.load(Ordering::Relaxed) > share
    }
}

/// Makes the instances of one function (the function as it was without
/// reuse; it does not hold its own pool).
pub(crate) struct Instances {
    func: Function,
    pre: ServicePre<InstanceState>,
    reuse: Reuse,
    quota: Arc<dyn InstanceQuota>,
    retired: Arc<Retired>,
    own: Arc<Own>,
}

/// The function's own instances, for a request that finds all of them
/// busy and its tenant's memory full: a new instance would wait for the
/// tenant's idle instances to end, and one of these, once it can take a
/// request, would be ended for it. The request waits for one of them
/// instead ([`Own::wait`]).
#[derive(Debug, Default)]
struct Own {
    /// Instances alive.
    live: AtomicUsize,
    /// Of them, those that said they would take a request when last asked.
    accepting: AtomicUsize,
    /// Told when one of them would take a request again, or has ended and
    /// given its memory back.
    changed: tokio::sync::Notify,
}

/// How long a request waits for one of its function's own instances
/// before a new one is made (which then waits for memory in its turn).
const OWN_WAIT: Duration = Duration::from_millis(250);

/// How often a waiting request looks again at its tenant's memory and
/// idle instances.
const OWN_LOOK_AGAIN: Duration = Duration::from_millis(10);

impl Own {
    /// Waits, up to [`OWN_WAIT`], while the function has instances, none of
    /// them would take a request, and its tenant has no memory for another.
    async fn wait(&self, quota: &dyn InstanceQuota) {
        // Not when memory would come at once: free, or held by the tenant's
        // idle instances (of its other functions), which a new instance
        // asks to end.
        let stuck = || {
            self.live.load(Ordering::Relaxed) > 0
                && self.accepting.load(Ordering::Relaxed) == 0
                && !quota.has_room()
                && !quota.rooms().iter().any(|room| room.has_idle())
        };
        // The common case, first: nothing to wait for.
        if !stuck() {
            return;
        }
        let until = tokio::time::Instant::now() + OWN_WAIT;
        loop {
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if !stuck() {
                return;
            }
            // Memory that others give back (a fresh instance ending, an
            // instance of another function) tells nothing: looked at again
            // every few milliseconds.
            let again = (tokio::time::Instant::now() + OWN_LOOK_AGAIN).min(until);
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep_until(again) => {
                    if again == until {
                        return;
                    }
                }
            }
        }
    }
}

impl Instances {
    /// Waits, if need be, for one of the function's own instances
    /// ([`Own::wait`]).
    async fn wait_for_own(&self) {
        self.own.wait(&*self.quota).await;
    }

    pub(crate) fn pool(
        func: Function,
        pre: ServicePre<InstanceState>,
        reuse: Reuse,
        quota: Arc<dyn InstanceQuota>,
    ) -> Pool {
        let retired = Arc::new(Retired::default());
        Pool {
            handler: ProxyHandler::new(Self {
                func,
                pre,
                reuse,
                quota,
                retired: retired.clone(),
                own: Arc::default(),
            }),
            retired,
        }
    }
}

/// What one instance shares with the requests it serves.
pub(crate) struct Shared {
    /// What the guest printed or logged outside any request, or after its
    /// request's record: the next record to be written takes it.
    logs: LogCapture,
    memory: Arc<MemoryUse>,
    /// Milliseconds after `base` past which the guest traps: the deadline
    /// of the request started last.
    deadline_ms: AtomicU64,
    base: Instant,
    /// How long the instance took to start, reported by its first request.
    instantiate: Mutex<Option<Duration>>,
    /// Why the instance ended, if it failed: what its requests in flight
    /// are answered with.
    ended: tokio::sync::SetOnce<InvokeError>,
}

impl Shared {
    fn deadline(&self) -> Instant {
        self.base + Duration::from_millis(self.deadline_ms.load(Ordering::Relaxed))
    }

    fn set_deadline(&self, deadline: Instant) {
        let ms = deadline.saturating_duration_since(self.base).as_millis();
        self.deadline_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// One request, as the pool carries it to the instance that serves it:
/// what its capabilities act for (shared with its record, not copied).
pub(crate) struct Ticket {
    caller: Arc<Caller>,
    delivery: Option<Arc<DeliveryInfo>>,
    task: Option<Arc<TaskInfo>>,
    trace_id: Arc<str>,
    /// What its task prints and logs.
    logs: LogCapture,
    /// Set once its record is written (see [`RequestCaps`]).
    recorded: Arc<AtomicBool>,
    served_by: Arc<OnceLock<Arc<Shared>>>,
}

impl HandlerState for Instances {
    type StoreData = InstanceState;
    type WorkerExpiration = Expiry;
    type WorkerState = Worker;

    async fn instantiate(&self) -> wasmtime::Result<Instance<InstanceState, Expiry, Worker>> {
        let func = &self.func;
        let limits = func.limits;
        let t0 = Instant::now();
        // Its memory counts against its tenant's quota before it exists.
        let held = self
            .quota
            .hold()
            .await
            .map_err(|m| wasmtime::Error::new(NoRoom(m)))?;
        let logs = LogCapture::new(func.runtime.config().log_bytes_per_invocation);
        let memory = Arc::new(MemoryUse::default());
        let shared = Arc::new(Shared {
            logs: logs.clone(),
            memory: memory.clone(),
            deadline_ms: AtomicU64::new(0),
            base: t0,
            instantiate: Mutex::new(None),
            ended: tokio::sync::SetOnce::new(),
        });
        shared.set_deadline(t0 + limits.timeout);
        let turn = func.cpu.clone().map(crate::cpu::Turn::new);
        // Until its first request, the instance acts for nobody.
        let caps = CapState::new(
            func.caps.clone(),
            Caller::anonymous(),
            None,
            None,
            Arc::from(""),
            logs.clone(),
        )
        .with_turn(turn.clone());
        let mut state = InstanceState::new(&func.env, &logs, limits.memory_bytes, caps);
        state.limiter.shared = Some(memory);
        state.requests = Some(Box::new(RequestCaps::with_capacity(
            self.reuse.max_concurrent as usize,
            logs.clone(),
        )));
        let deadline = shared.clone();
        let mut store = sandbox(func, state, turn.clone(), move || deadline.deadline());
        let service = tokio::time::timeout(limits.timeout, self.pre.instantiate_async(&mut store))
            .await
            .map_err(|_| wasmtime::format_err!("instantiation took longer than the function's timeout"))??;
        *shared.instantiate.lock().unwrap_or_else(|e| e.into_inner()) = Some(t0.elapsed());
        let reused = func.runtime.inner.reused.clone();
        let limit = reused_limit(func);
        let owned = reused.started(self.quota.owner(), limit);
        Ok(Instance {
            store,
            proxy: Proxy::P3(service),
            view: <InstanceState as WasiHttpView>::http,
            expiration: Expiry::new(
                self.reuse,
                (limits.timeout, shared.clone()),
                turn.clone(),
                (reused, owned.clone(), limit, self.quota.rooms()),
                self.retired.clone(),
            ),
            state: Worker {
                func: func.clone(),
                reuse: self.reuse,
                shared,
                turn,
                owned,
                counted: Counted::new(held, self.own.clone()),
            },
        })
    }
}

/// An instance as its function's own instances count it: alive, and
/// whether it would take a request; with its place in its tenant's quota.
/// When it ends, all three go, and then a request waiting for one of the
/// function's instances is told.
struct Counted {
    place: Option<Place>,
    accepting: AtomicBool,
    own: Arc<Own>,
}

impl Counted {
    fn new(place: Place, own: Arc<Own>) -> Self {
        own.live.fetch_add(1, Ordering::Relaxed);
        Self {
            place: Some(place),
            accepting: AtomicBool::new(false),
            own,
        }
    }

    /// Whether it would take a request, by its answer just given; a
    /// waiting request is told when it would again.
    fn accepting(&self, accepting: bool) {
        if self.accepting.swap(accepting, Ordering::Relaxed) == accepting {
            return;
        }
        if accepting {
            self.own.accepting.fetch_add(1, Ordering::Relaxed);
            self.own.changed.notify_waiters();
        } else {
            self.own.accepting.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if *self.accepting.get_mut() {
            self.own.accepting.fetch_sub(1, Ordering::Relaxed);
        }
        self.own.live.fetch_sub(1, Ordering::Relaxed);
        drop(self.place.take());
        self.own.changed.notify_waiters();
    }
}

/// One instance's policy: how many requests it takes, and each request's
/// context and deadline.
pub(crate) struct Worker {
    func: Function,
    reuse: Reuse,
    shared: Arc<Shared>,
    turn: Option<crate::cpu::Turn>,
    /// Whose it is, for the node's count of reused instances.
    owned: Arc<Owned>,
    /// Its place in its tenant's memory quota and in its function's count
    /// of instances, given back when it ends.
    counted: Counted,
}

impl WorkerState for Worker {
    type StoreData = InstanceState;
    type RequestData = Ticket;

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        let answer = if total >= self.reuse.max_requests as usize {
            ShouldAccept::Never
        } else if concurrent >= self.reuse.max_concurrent as usize {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        };
        self.counted.accepting(matches!(answer, ShouldAccept::Yes));
        answer
    }

    fn on_request_start(
        &self,
        mut store: StoreContextMut<'_, InstanceState>,
        ticket: Ticket,
        task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        // The host calls of this request's task act for its caller, under
        // its trace id, with its own host-call limits.
        let caps = CapState::new(
            self.func.caps.clone(),
            ticket.caller,
            ticket.delivery,
            ticket.task,
            ticket.trace_id,
            ticket.logs,
        )
        .with_turn(self.turn.clone());
        let state = store.data_mut();
        match state.requests.as_mut() {
            Some(requests) => requests.start(task, caps, ticket.recorded, &mut state.caps),
            None => state.caps = caps,
        }
        if let Some(turn) = &self.turn {
            turn.next_request();
        }
        let deadline = Instant::now() + self.func.limits.timeout;
        self.shared.set_deadline(deadline);
        let _ = ticket.served_by.set(self.shared.clone());
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }

    fn drop(&self, store: Store<InstanceState>, result: wasmtime::Result<()>) {
        self.func.runtime.inner.reused.ended(&self.owned);
        // An instance its expiry ended has its verdict already (a timeout).
        if let Err(e) = result {
            let limits = self.func.limits;
            let denied = store.data().limiter.denied;
            // The request whose host call came last (its stderr, a panic's
            // message, is in its own capture).
            let logs = &store.data().caps.logs;
            let why = classify(&e, denied, logs, limits.timeout, limits.memory_bytes);
            let _ = self.shared.ended.set(why);
        }
        drop(store);
    }
}

/// How many reused instances may be alive on the node before idle ones end.
fn reused_limit(func: &Function) -> usize {
    (func.runtime.config().pool_instances as usize / 2).max(1)
}

/// When an instance ends, judged from outside its event loop: idle past
/// the idle timeout, or busy past the timeout since its latest request (a
/// guest that spins or blocks the loop), or idle when the node's reused
/// instances crowd and its owner is over its share, or its tenant calls
/// for its memory.
pub(crate) struct Expiry {
    idle: Duration,
    busy: Duration,
    /// Given back whenever the event loop waits (this is polled then): an
    /// idle instance must not hold its tenant's CPU turn.
    turn: Option<crate::cpu::Turn>,
    timer: Pin<Box<tokio::time::Sleep>>,
    armed_for: Option<(WorkerStatus, Instant)>,
    reused: Arc<Reused>,
    owned: Arc<Owned>,
    limit: usize,
    crowded: Ear,
    /// Its tenant's calls for the memory idle instances hold.
    rooms: Vec<Listening>,
    retired: Arc<Retired>,
    retiring: Ear,
    /// The function's timeout, and where a busy instance's end is told.
    timeout: Duration,
    shared: Arc<Shared>,
}

impl Expiry {
    fn new(
        reuse: Reuse,
        (timeout, shared): (Duration, Arc<Shared>),
        turn: Option<crate::cpu::Turn>,
        (reused, owned, limit, rooms): (Arc<Reused>, Arc<Owned>, usize, Vec<Arc<Room>>),
        retired: Arc<Retired>,
    ) -> Self {
        Self {
            crowded: Ear::new(&owned.crowded),
            reused,
            owned,
            limit,
            rooms: rooms.into_iter().map(Listening::new).collect(),
            retiring: Ear::new(&retired.notify),
            retired,
            idle: Duration::from_millis(reuse.idle_timeout_ms),
            busy: timeout + Duration::from_millis(50),
            turn,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed_for: None,
            timeout,
            shared,
        }
    }
}

impl WorkerExpiration for Expiry {
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        let this = &mut *self;
        if let Some(turn) = &this.turn {
            turn.give_back();
        }
        if this.armed_for != Some((status, start)) {
            let after = match status {
                WorkerStatus::Idle => this.idle,
                WorkerStatus::Requests | WorkerStatus::PostReturn => this.busy,
            };
            this.timer.as_mut().reset((start + after).into());
            this.armed_for = Some((status, start));
            if status == WorkerStatus::Idle {
                this.rooms.iter_mut().for_each(Listening::went_idle);
            } else {
                this.rooms.iter_mut().for_each(Listening::went_busy);
            }
        }
        if status == WorkerStatus::Idle {
            // Idle instances end when the node's pool crowds and their owner
            // is over its share, or when their function's pool is gone (no
            // request can reach them). Their notifications only wake the
            // task (one heard while busy is let pass): the state decides.
            this.crowded.heard(cx);
            this.retiring.heard(cx);
            let crowded = this.reused.crowded(&this.owned, this.limit);
            if crowded || this.retired.done.load(Ordering::Relaxed) {
                return Poll::Ready(());
            }
            // Its tenant called for the memory it holds since it went idle
            // (a call heard while it was busy wakes it, and is let pass).
            if this.rooms.iter_mut().any(|room| room.called(cx)) {
                return Poll::Ready(());
            }
        }
        let ended = this.timer.as_mut().poll(cx);
        if ended.is_ready() && status != WorkerStatus::Idle {
            // Busy past the timeout: the requests it serves timed out.
            let _ = this.shared.ended.set(InvokeError::Timeout(this.timeout));
        }
        ended
    }
}

/// Serves one request with a reused instance. The record is written when
/// the response's body ends (or the client leaves), with the logs the
/// instance wrote meanwhile.
pub(crate) async fn serve<B>(
    pool: &Pool,
    func: &Function,
    req: http::Request<B>,
    ctx: InvocationContext,
    guard: impl Send + Unpin + 'static,
) -> Result<http::Response<Body>, InvokeError>
where
    B: http_body::Body<Data = Bytes, Error = wasmtime_wasi_http::Error> + Send + 'static,
{
    let served_by = Arc::new(OnceLock::new());
    let logs = LogCapture::new(func.runtime.config().log_bytes_per_invocation);
    let recorded = Arc::new(AtomicBool::new(false));
    let ticket = Ticket {
        caller: ctx.caller.clone(),
        delivery: ctx.delivery.clone(),
        task: ctx.task.clone(),
        trace_id: ctx.trace_id.clone(),
        logs: logs.clone(),
        recorded: recorded.clone(),
        served_by: served_by.clone(),
    };
    let record = Record {
        ctx,
        logs,
        _recorded: Recorder(recorded),
        started: Instant::now(),
        started_ms: now_ms(),
        served_by,
        limits: func.limits,
        guard,
    };
    pool.handler.state().wait_for_own().await;
    match pool.handler.handle(ticket, req.map(BodyExt::boxed_unsync)).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let verdict: Verdict = Arc::default();
            // The record is written when the body ends (`Reported`).
            match limit_response(resp, func.limits.max_response_bytes, verdict.clone(), ()) {
                Ok(resp) => Ok(resp.map(|body| {
                    Reported {
                        body,
                        status,
                        verdict,
                        record: Some(record),
                    }
                    .boxed_unsync()
                })),
                Err(refused) => {
                    record.end(Some(status), Some(refused.clone()));
                    Err(refused)
                }
            }
        }
        Err(e) => {
            let err = judge(&e, record.served_by.clone(), &record.logs, record.limits).await;
            record.end(None, Some(err.clone()));
            Err(err)
        }
    }
}

/// What a request's record needs until its response ends.
struct Record<G> {
    ctx: InvocationContext,
    /// What its task prints and logs.
    logs: LogCapture,
    /// Tells its task's entry in `RequestCaps` once the record is written,
    /// or the request is dropped unrecorded (a client that left).
    _recorded: Recorder,
    started: Instant,
    started_ms: i64,
    served_by: Arc<OnceLock<Arc<Shared>>>,
    limits: crate::Limits,
    /// The caller's (a concurrency permit): held until the record is written.
    guard: G,
}

/// Why the pool could not answer a request. Judged from the error while
/// it is at hand; the answer may wait for the instance's own end (a trap
/// fails every request the instance was serving).
fn judge(
    e: &wasmtime::Error,
    served_by: Arc<OnceLock<Arc<Shared>>>,
    logs: &LogCapture,
    limits: crate::Limits,
) -> impl Future<Output = InvokeError> + Send + 'static {
    let expired = e.is::<ExpirationError>();
    let trapped = e.is::<TrapOrPanicError>();
    let instantiation = e.downcast_ref::<InstantiationError<Ticket>>();
    let no_room = instantiation
        .and_then(|err| err.error.downcast_ref::<NoRoom>())
        .map(|refused| refused.0.clone());
    let instantiation = instantiation.map(|err| format!("{:#}", err.error));
    let message = format!("{e:#}");
    let classified = served_by.get().map(|s| {
        classify(
            e,
            s.memory.denied.load(Ordering::Relaxed),
            logs,
            limits.timeout,
            limits.memory_bytes,
        )
    });
    async move {
        if expired {
            return InvokeError::Timeout(limits.timeout);
        }
        if let Some(message) = no_room {
            return InvokeError::Quota(message);
        }
        let shared = served_by.get();
        if trapped && let Some(s) = shared {
            // The instance failed while serving this request (and perhaps
            // others): its end says why, once its worker has judged it.
            let ended = tokio::time::timeout(Duration::from_secs(1), s.ended.wait()).await;
            if let Ok(why) = ended {
                return why.clone();
            }
        }
        if let Some(error) = instantiation {
            let denied = shared.is_some_and(|s| s.memory.denied.load(Ordering::Relaxed));
            return if denied {
                InvokeError::MemoryLimit(limits.memory_bytes)
            } else {
                InvokeError::Internal(format!("cannot instantiate the function: {error}"))
            };
        }
        classified.unwrap_or(InvokeError::Trap(message))
    }
}

impl<G> Record<G> {
    fn end(self, http_status: Option<u16>, error: Option<InvokeError>) {
        let shared = self.served_by.get();
        let (mut logs, mut logs_dropped) = match shared {
            Some(s) => self.logs.finish_into(&s.logs),
            None => self.logs.finish(),
        };
        // The instance's own lines, rarely any, under a cap of their own:
        // a record may hold up to twice the cap.
        let (instance, dropped) = shared.map(|s| s.logs.finish()).unwrap_or_default();
        if !instance.is_empty() {
            logs.extend(instance);
            logs.sort_by_key(|line| line.time_ms);
        }
        logs_dropped += dropped;
        let instantiate = shared
            .and_then(|s| s.instantiate.lock().unwrap_or_else(|e| e.into_inner()).take())
            .unwrap_or_default();
        self.ctx.sink.report(InvocationReport {
            invocation_id: self.ctx.invocation_id,
            trace_id: self.ctx.trace_id,
            started_ms: self.started_ms,
            duration: self.started.elapsed(),
            instantiate,
            peak_memory: shared.map_or(0, |s| s.memory.peak.load(Ordering::Relaxed)),
            http_status,
            error,
            logs,
            logs_dropped,
            delivery: self.ctx.delivery,
            task: self.ctx.task,
        });
        drop(self.guard);
    }
}

/// Sets its flag when dropped: with its record, written or not.
struct Recorder(Arc<AtomicBool>);

impl Drop for Recorder {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A response body that writes its request's record when it ends, fails
/// or is dropped.
struct Reported<G> {
    body: Body,
    status: u16,
    verdict: Verdict,
    record: Option<Record<G>>,
}

impl<G> Reported<G> {
    fn end(&mut self, failed: Option<&BoxError>) {
        let Some(record) = self.record.take() else {
            return;
        };
        let verdict = self.verdict.lock().unwrap_or_else(|e| e.into_inner()).take();
        let error =
            verdict.or_else(|| failed.map(|e| InvokeError::Trap(format!("the response's body failed: {e}"))));
        record.end(Some(self.status), error);
    }
}

impl<G: Unpin> http_body::Body for Reported<G> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.end(None),
            Poll::Ready(Some(Err(e))) => self.end(Some(e)),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl<G> Drop for Reported<G> {
    fn drop(&mut self) {
        self.end(None);
    }
}

#[cfg(test)]
mod tests {
    use super::Reuse;

    /// Every platform interface's host functions run on the guest's fiber
    /// and hold the store until they return, so the call hook's choice of
    /// capabilities holds for the whole call (`requests`). A WIT
    /// `async func` would be bound as a concurrent host function whose
    /// later polls run outside the hook: then that choice no longer holds.
    #[test]
    fn no_platform_function_is_async() {
        let mut folders = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit")];
        let mut files = 0;
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).expect("the platform's WIT") {
                let path = entry.expect("a WIT file").path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|e| e == "wit") {
                    let text = std::fs::read_to_string(&path).expect("a readable WIT file");
                    assert!(
                        !text.contains("async func"),
                        "{}: an async func needs the capabilities chosen per poll, not per call",
                        path.display()
                    );
                    files += 1;
                }
            }
        }
        assert!(files > 10, "the WIT and its deps were read ({files} files)");
    }

    #[test]
    fn the_short_form_reads_off_or_three_numbers_in_range() {
        let reuse = Reuse {
            max_requests: 100,
            max_concurrent: 4,
            idle_timeout_ms: 30_000,
        };
        assert_eq!(Reuse::parse_short("100, 4,30000"), Ok(Some(reuse)));
        assert_eq!(Reuse::parse_short(&reuse.short()), Ok(Some(reuse)));
        assert_eq!(Reuse::parse_short("off"), Ok(None));
        for (bad, why) in [
            ("100,4", "MAX_REQUESTS,MAX_CONCURRENT,IDLE_TIMEOUT_MS"),
            ("100,4,30000,1", "MAX_REQUESTS,MAX_CONCURRENT,IDLE_TIMEOUT_MS"),
            ("on", "MAX_REQUESTS,MAX_CONCURRENT,IDLE_TIMEOUT_MS"),
            ("100,-4,30000", "invalid digit"),
            ("0,4,30000", "reuse.max_requests is 0"),
            ("100,4,600001", "reuse.idle_timeout_ms is 600001"),
        ] {
            let refused = Reuse::parse_short(bad).expect_err(bad);
            assert!(refused.contains(why), "{bad}: {refused}");
        }
    }
}
