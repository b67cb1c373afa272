//! The concurrency and memory quotas of projects and orgs. Each project and
//! each org has a pool: a semaphore of instance slots and one of MiB (each
//! running instance reserves its function's memory limit). A caller takes
//! the slots of its project's pool, then of its org's, then the memory of
//! both in the same order. A project at its quota queues on its own pool,
//! so callers of other projects never wait behind it, and those of its org
//! only when the org as a whole is at its quota. A changed quota resizes
//! the pool in place: what runs keeps its place and counts against the new
//! limits (a lowered limit is owed the permits it lacks, paid by the first
//! given back).
//!
//! An instance of a function that reuses its instances holds its memory
//! in both pools for as long as it lives, idle or busy ([`InstanceRoom`]),
//! and its requests take only slots. Whoever waits for a pool's memory
//! calls on the idle reused instances under that pool (its `room`) to end:
//! a tenant's warm instances give their memory back to its new work
//! rather than keep it until their idle timeout. A new reused instance
//! waits only [`INSTANCE_WAIT`] for memory: long enough for idle
//! instances to end, not for busy ones, since its request holds the
//! node's pool permit meanwhile.

use super::Queued;
use crate::store::projects::Project;
use crate::store::quotas::{Holder, Kind, QuotaBook, QuotaExceeded, Quotas};
use minicloud_runtime::reuse::{Holding, Place, Room};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Callers a pool lets wait, per instance of its quota.
const QUEUE_PER_SLOT: usize = 4;

/// How often one waiting for memory calls on idle instances again: an
/// instance that went idle after the last call hears the next.
const ROOM_EVERY: Duration = Duration::from_millis(20);

/// How long a new reused instance waits for memory: a few calls on idle
/// instances to end. Past it the request is refused (429), as a fresh
/// one past the pool's memory would be after its wait.
pub const INSTANCE_WAIT: Duration = Duration::from_millis(250);

/// Who an instance runs for: its project and org, and the memory it
/// reserves.
#[derive(Debug, Clone)]
pub struct Tenant {
    project_id: String,
    project_name: String,
    org_id: String,
    org_name: String,
    memory_mib: u32,
}

impl Tenant {
    /// An instance of `memory_bytes` (rounded up to whole MiB) in `project`.
    pub fn new(project: &Project, memory_bytes: u64) -> Self {
        Self {
            project_id: project.id.clone(),
            project_name: project.name.clone(),
            org_id: project.org_id.clone(),
            org_name: project.org_name.clone(),
            memory_mib: u32::try_from(memory_bytes.div_ceil(1024 * 1024)).unwrap_or(u32::MAX),
        }
    }
}

/// What runs now under one quota, on this node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InUse {
    /// Running instances: fresh ones, and the requests reused ones serve.
    pub concurrency: u64,
    /// MiB they reserve, with what live reused instances hold (idle too).
    pub memory_mib: u64,
}

/// A project's or org's pool, sized for its quota.
#[derive(Debug)]
struct Pool {
    holder: Holder,
    slots: Sized,
    memory: Sized,
    /// Callers waiting for a slot, and for memory.
    waiting: AtomicUsize,
    waiting_for_memory: AtomicUsize,
    running: AtomicU64,
    memory_mib: AtomicU64,
    /// Its idle reused instances end when it is called.
    room: Arc<Room>,
}

/// A semaphore, the limit it is sized for, and the permits a lowered limit
/// is still owed.
#[derive(Debug)]
struct Sized {
    limit: AtomicU64,
    permits: Arc<Semaphore>,
    owed: AtomicUsize,
}

impl Sized {
    fn new(limit: u64) -> Self {
        Self {
            limit: AtomicU64::new(limit),
            permits: Arc::new(Semaphore::new(permits(limit))),
            owed: AtomicUsize::new(0),
        }
    }

    fn limit(&self) -> u64 {
        self.limit.load(Ordering::Acquire)
    }

    /// Sizes it for `limit`: a higher one pays what is owed, then adds
    /// permits; a lower one forgets those free now and is owed the rest.
    /// Callers hold the map's lock (no two resize at once).
    fn resize(&self, limit: u64) {
        let (old, new) = (permits(self.limit.swap(limit, Ordering::AcqRel)), permits(limit));
        if new > old {
            let paid = self.take_owed(new - old);
            self.permits.add_permits(new - old - paid);
        } else if new < old {
            // Owed first, then paid with what is free: a permit given back
            // meanwhile pays its share instead of slipping past.
            self.owed.fetch_add(old - new, Ordering::AcqRel);
            self.collect();
        }
    }

    /// Forgets free permits that a lowered limit is still owed. Some come
    /// back without passing [`Sized::give_back`]: those of a wait that ran
    /// out after part of what it asked for was assigned to it.
    fn collect(&self) {
        if self.owed.load(Ordering::Acquire) == 0 {
            return;
        }
        let taken = self.take_owed(self.permits.available_permits());
        let forgotten = self.permits.forget_permits(taken);
        if forgotten < taken {
            self.owed.fetch_add(taken - forgotten, Ordering::AcqRel);
        }
    }

    /// Takes up to `n` of what is owed, saying how many.
    fn take_owed(&self, n: usize) -> usize {
        let mut taken = 0;
        let _ = self
            .owed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |owed| {
                taken = owed.min(n);
                Some(owed - taken)
            });
        taken
    }

    /// Gives a permit back, forgetting what a lowered limit is owed.
    fn give_back(&self, mut permit: OwnedSemaphorePermit) {
        if self.owed.load(Ordering::Acquire) == 0 {
            return;
        }
        let owed = self.take_owed(permit.num_permits());
        match permit.split(owed) {
            Some(paid) => paid.forget(),
            None => permit.forget(),
        }
    }
}

/// The permits of a semaphore for `limit` (at most what tokio allows: a
/// quota that large is no limit in practice).
fn permits(limit: u64) -> usize {
    usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .min(Semaphore::MAX_PERMITS)
}

/// A place in one pool, counted while it is held: a slot, or memory.
#[derive(Debug)]
struct Held {
    pool: Arc<Pool>,
    /// The memory it counts; none for a slot.
    mib: Option<u32>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Held {
    fn slot(pool: &Arc<Pool>, permit: OwnedSemaphorePermit) -> Self {
        pool.running.fetch_add(1, Ordering::AcqRel);
        Self {
            pool: pool.clone(),
            mib: None,
            permit: Some(permit),
        }
    }

    fn memory(pool: &Arc<Pool>, mib: u32, permit: OwnedSemaphorePermit) -> Self {
        pool.memory_mib.fetch_add(u64::from(mib), Ordering::AcqRel);
        Self {
            pool: pool.clone(),
            mib: Some(mib),
            permit: Some(permit),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let sized = match self.mib {
            None => {
                self.pool.running.fetch_sub(1, Ordering::AcqRel);
                &self.pool.slots
            }
            Some(mib) => {
                self.pool.memory_mib.fetch_sub(u64::from(mib), Ordering::AcqRel);
                &self.pool.memory
            }
        };
        if let Some(permit) = self.permit.take() {
            sized.give_back(permit);
        }
    }
}

impl Pool {
    fn new(holder: Holder, q: &Quotas) -> Self {
        Self {
            holder,
            slots: Sized::new(q.concurrency),
            memory: Sized::new(q.memory_mib),
            waiting: AtomicUsize::new(0),
            waiting_for_memory: AtomicUsize::new(0),
            running: AtomicU64::new(0),
            memory_mib: AtomicU64::new(0),
            room: Arc::default(),
        }
    }

    fn resize(&self, q: &Quotas) {
        if self.slots.limit() != q.concurrency {
            self.slots.resize(q.concurrency);
        }
        if self.memory.limit() != q.memory_mib {
            self.memory.resize(q.memory_mib);
        }
    }

    fn refusal(&self, kind: Kind) -> QuotaExceeded {
        let limit = match kind {
            Kind::MemoryMib => self.memory.limit(),
            _ => self.slots.limit(),
        };
        QuotaExceeded::transient(self.holder.clone(), kind, limit)
    }

    /// Callers that may wait here at once.
    fn queue(&self) -> usize {
        usize::try_from(self.slots.limit())
            .unwrap_or(usize::MAX)
            .saturating_mul(QUEUE_PER_SLOT)
    }

    /// An instance slot, waiting in this pool's bounded queue until
    /// `deadline`.
    async fn slot(self: &Arc<Self>, deadline: Instant) -> Result<Held, QuotaExceeded> {
        if let Ok(slot) = self.slots.permits.clone().try_acquire_owned() {
            return Ok(Held::slot(self, slot));
        }
        let _queued =
            Queued::join(&self.waiting, self.queue()).ok_or_else(|| self.refusal(Kind::Concurrency))?;
        let slot = tokio::time::timeout_at(deadline, self.slots.permits.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| self.refusal(Kind::Concurrency))?;
        Ok(Held::slot(self, slot))
    }

    /// Whether the pool has `mib` of memory free now.
    fn has_memory(&self, mib: u32) -> bool {
        self.memory.permits.available_permits() >= mib as usize
    }

    /// `mib` of memory, waiting in this pool's bounded queue until
    /// `deadline`; every [`ROOM_EVERY`] of the wait the idle reused
    /// instances under this pool are called on to end. The wait keeps its
    /// place in the semaphore's queue throughout.
    async fn memory(self: &Arc<Self>, mib: u32, deadline: Instant) -> Result<Held, QuotaExceeded> {
        // Larger than the whole quota: it would wait forever.
        if u64::from(mib) > self.memory.limit() {
            return Err(self.refusal(Kind::MemoryMib));
        }
        if let Ok(memory) = self.memory.permits.clone().try_acquire_many_owned(mib) {
            return Ok(Held::memory(self, mib, memory));
        }
        self.room.call();
        let _queued = Queued::join(&self.waiting_for_memory, self.queue())
            .ok_or_else(|| self.refusal(Kind::MemoryMib))?;
        let got = {
            let acquire = self.memory.permits.clone().acquire_many_owned(mib);
            let mut acquire = std::pin::pin!(acquire);
            let until = tokio::time::sleep_until(deadline);
            let mut until = std::pin::pin!(until);
            let mut every = tokio::time::interval_at(Instant::now() + ROOM_EVERY, ROOM_EVERY);
            loop {
                tokio::select! {
                    biased;
                    memory = &mut acquire => break memory.ok(),
                    () = &mut until => break None,
                    _ = every.tick() => self.room.call(),
                }
            }
        };
        match got {
            Some(memory) => Ok(Held::memory(self, mib, memory)),
            None => {
                // What was assigned to the wait went back with it.
                self.memory.collect();
                Err(self.refusal(Kind::MemoryMib))
            }
        }
    }

    fn in_use(&self) -> InUse {
        InUse {
            concurrency: self.running.load(Ordering::Acquire),
            memory_mib: self.memory_mib.load(Ordering::Acquire),
        }
    }
}

/// Held while an instance runs: its places in its project and in its org
/// (slots, memory, or both).
#[derive(Debug)]
pub struct TenantPermit {
    _memory: Option<[Held; 2]>,
    _slots: Option<[Held; 2]>,
}

type Pools = Mutex<HashMap<String, Arc<Pool>>>;

/// The pools of every project and org that ran something on this node.
#[derive(Debug)]
pub struct Tenants {
    book: Arc<QuotaBook>,
    projects: Pools,
    orgs: Pools,
}

impl Tenants {
    /// Pools sized by the quotas in `book`.
    pub fn new(book: Arc<QuotaBook>) -> Self {
        Self {
            book,
            projects: Pools::default(),
            orgs: Pools::default(),
        }
    }

    /// Takes an instance slot in the tenant's project, then in its org,
    /// then its memory in both (none for a function that reuses its
    /// instances: they hold it), waiting until `deadline` at most.
    pub(super) async fn admit(&self, t: &Tenant, deadline: Instant) -> Result<TenantPermit, QuotaExceeded> {
        let (project, org) = self.pools(t);
        let slots = [project.slot(deadline).await?, org.slot(deadline).await?];
        let memory = match t.memory_mib {
            0 => None,
            mib => Some(memory_in(&project, &org, mib, deadline).await?),
        };
        // Memory first: given back before the slots, it is there for the
        // caller a slot wakes.
        Ok(TenantPermit {
            _memory: memory,
            _slots: Some(slots),
        })
    }

    /// Takes a reused instance's memory in its project, then in its org,
    /// waiting until `deadline` at most.
    async fn hold(&self, t: &Tenant, deadline: Instant) -> Result<TenantPermit, QuotaExceeded> {
        let (project, org) = self.pools(t);
        Ok(TenantPermit {
            _memory: Some(memory_in(&project, &org, t.memory_mib, deadline).await?),
            _slots: None,
        })
    }

    /// Whether the tenant's project and org both have its memory free now.
    fn has_room(&self, t: &Tenant) -> bool {
        let (project, org) = self.pools(t);
        project.has_memory(t.memory_mib) && org.has_memory(t.memory_mib)
    }

    /// The pools of the tenant's project and org.
    fn pools(&self, t: &Tenant) -> (Arc<Pool>, Arc<Pool>) {
        let project = pool(
            &self.projects,
            &t.project_id,
            &self.book.project(&t.project_id),
            || Holder::Project(t.project_name.clone()),
        );
        let org = pool(&self.orgs, &t.org_id, &self.book.org(&t.org_id), || {
            Holder::Org(t.org_name.clone())
        });
        (project, org)
    }

    /// What runs in a project on this node.
    pub fn project_in_use(&self, project_id: &str) -> InUse {
        in_use(&self.projects, project_id)
    }

    /// What runs in an org on this node.
    pub fn org_in_use(&self, org_id: &str) -> InUse {
        in_use(&self.orgs, org_id)
    }
}

/// Where the instances of a function that reuses them take their memory
/// (`minicloud_runtime::InstanceQuota`): its limit in its project's and
/// org's memory quotas, for as long as each instance lives. Its requests
/// pass a gate whose tenant reserves no memory.
pub struct InstanceRoom {
    tenants: Arc<Tenants>,
    tenant: Tenant,
}

impl InstanceRoom {
    /// Instances of `tenant` (with its function's memory), waiting at most
    /// [`INSTANCE_WAIT`] for memory.
    pub fn new(tenants: Arc<Tenants>, tenant: Tenant) -> Self {
        Self { tenants, tenant }
    }
}

impl minicloud_runtime::InstanceQuota for InstanceRoom {
    fn hold(&self) -> Holding<'_> {
        Box::pin(async move {
            let deadline = Instant::now() + INSTANCE_WAIT;
            match self.tenants.hold(&self.tenant, deadline).await {
                Ok(held) => Ok(Box::new(held) as Place),
                Err(refused) => {
                    metrics::counter!("minicloud_quota_exceeded_total", "kind" => refused.kind.key())
                        .increment(1);
                    Err(refused.to_string())
                }
            }
        })
    }

    fn has_room(&self) -> bool {
        self.tenants.has_room(&self.tenant)
    }

    fn owner(&self) -> Arc<str> {
        Arc::from(self.tenant.org_id.as_str())
    }

    fn rooms(&self) -> Vec<Arc<Room>> {
        let (project, org) = self.tenants.pools(&self.tenant);
        vec![project.room.clone(), org.room.clone()]
    }
}

/// `mib` of memory in a project's pool, then in its org's.
async fn memory_in(
    project: &Arc<Pool>,
    org: &Arc<Pool>,
    mib: u32,
    deadline: Instant,
) -> Result<[Held; 2], QuotaExceeded> {
    Ok([
        project.memory(mib, deadline).await?,
        org.memory(mib, deadline).await?,
    ])
}

/// The pool of `id`, sized for its quota in force.
fn pool(pools: &Pools, id: &str, q: &Quotas, holder: impl FnOnce() -> Holder) -> Arc<Pool> {
    let mut pools = pools.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(pool) = pools.get(id) {
        pool.resize(q);
        return pool.clone();
    }
    let pool = Arc::new(Pool::new(holder(), q));
    pools.insert(id.to_owned(), pool.clone());
    pool
}

fn in_use(pools: &Pools, id: &str) -> InUse {
    let pools = pools.lock().unwrap_or_else(|e| e.into_inner());
    pools.get(id).map(|p| p.in_use()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::{Gate, InFlight, Refused};
    use crate::store::Store;
    use crate::store::quotas::Defaults;
    use futures::FutureExt;
    use std::time::Duration;

    const MIB: u64 = 1024 * 1024;

    /// Projects `a` and `b` of org `acme`, `c` of org `other`, under the
    /// given default quotas.
    struct World {
        tenants: Arc<Tenants>,
        global: Arc<Semaphore>,
        projects: HashMap<&'static str, Project>,
        _store: Store,
        _dir: tempfile::TempDir,
    }

    async fn world(project_quota: &str, org_quota: &str) -> World {
        let (store, dir) = crate::store::tests::temporary_sqlite().await;
        let mut projects = HashMap::new();
        for (org, names) in [("acme", &["a", "b"][..]), ("other", &["c"][..])] {
            let org = store.create_org(org).await.expect("org");
            for name in names {
                let p = store.create_project(&org, name).await.expect("project");
                projects.insert(*name, p);
            }
        }
        let defaults = Defaults::new(
            512,
            &project_quota.parse().expect("project quota"),
            &org_quota.parse().expect("org quota"),
        );
        let book = QuotaBook::load(store.clone(), defaults).await.expect("book");
        World {
            tenants: Arc::new(Tenants::new(book)),
            global: Arc::new(Semaphore::new(512)),
            projects,
            _store: store,
            _dir: dir,
        }
    }

    impl World {
        /// A gate of a function of 10 instances of `mib` MiB in `project`.
        /// Its wait is long: these tests never let it run out.
        fn gate(&self, project: &str, mib: u64) -> Gate {
            Gate::new(
                10,
                40,
                Duration::from_secs(600),
                self.global.clone(),
                Arc::new(InFlight::default()),
            )
            .for_tenant(
                self.tenants.clone(),
                Tenant::new(&self.projects[project], mib * MIB),
            )
        }

        fn running(&self, project: &str) -> u64 {
            self.tenants
                .project_in_use(&self.projects[project].id)
                .concurrency
        }
    }

    fn quota_refusal(r: Option<Result<crate::gate::Permit, Refused>>) -> QuotaExceeded {
        match r {
            Some(Err(Refused::Quota(q))) => q,
            other => panic!("expected a quota refusal at once, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_project_at_its_quota_waits_for_its_own_instances_only() {
        let w = world("concurrency=1", "").await;
        let (a, b) = (w.gate("a", 128), w.gate("b", 128));
        let first = a.admit().await.expect("a's first instance");
        let mut second = std::pin::pin!(a.admit());
        assert!(
            futures::poll!(&mut second).is_pending(),
            "a's second caller waits"
        );
        // Another project of the same org is not behind a's queue.
        let other = b.admit().now_or_never().expect("b does not wait");
        assert!(other.is_ok());
        assert_eq!((w.running("a"), w.running("b")), (1, 1));
        let org = w.tenants.org_in_use(&w.projects["a"].org_id);
        assert_eq!(org.concurrency, 2);
        assert_eq!(org.memory_mib, 256);
        drop(first);
        let _second = second.await.expect("a's waiter gets the freed instance");
        assert_eq!(w.running("a"), 1);
    }

    #[tokio::test]
    async fn a_full_project_queue_is_refused_at_once() {
        let w = world("concurrency=1", "").await;
        let a = w.gate("a", 128);
        let _running = a.admit().await.expect("the one instance");
        let mut queued: Vec<_> = (0..QUEUE_PER_SLOT).map(|_| Box::pin(a.admit())).collect();
        for waiter in &mut queued {
            assert!(futures::poll!(waiter).is_pending());
        }
        let refused = quota_refusal(a.admit().now_or_never());
        assert_eq!(refused.holder, Holder::Project("a".into()));
        assert_eq!((refused.kind, refused.limit), (Kind::Concurrency, 1));
        assert_eq!(refused.retry_after_secs, Some(1));
        // Callers that give up leave room in the queue.
        queued.pop();
        let mut again = std::pin::pin!(a.admit());
        assert!(futures::poll!(&mut again).is_pending(), "queued, not refused");
    }

    #[tokio::test]
    async fn each_instance_reserves_its_memory_limit() {
        let w = world("concurrency=10,memory_mib=256", "").await;
        let small = w.gate("a", 200);
        let _first = small.admit().await.expect("200 of 256 MiB");
        let mut second = std::pin::pin!(small.admit());
        assert!(futures::poll!(&mut second).is_pending(), "400 MiB would pass 256");
        let huge = w.gate("a", 300);
        let refused = quota_refusal(huge.admit().now_or_never());
        assert_eq!((refused.kind, refused.limit), (Kind::MemoryMib, 256));
        assert_eq!(w.tenants.project_in_use(&w.projects["a"].id).memory_mib, 200);
    }

    /// A reused instance's place: `mib` of memory in `project`.
    fn instances(w: &World, project: &str, mib: u64) -> InstanceRoom {
        InstanceRoom::new(w.tenants.clone(), Tenant::new(&w.projects[project], mib * MIB))
    }

    #[tokio::test]
    async fn a_reused_instance_holds_memory_alone_and_its_project_calls_for_it() {
        use minicloud_runtime::InstanceQuota;
        let w = world("concurrency=10,memory_mib=256", "").await;
        let project = &w.projects["a"];
        let room = instances(&w, "a", 200);
        let instance = room.hold().await.expect("200 of 256 MiB");
        let usage = w.tenants.project_in_use(&project.id);
        assert_eq!(
            usage,
            InUse {
                concurrency: 0,
                memory_mib: 200
            },
            "memory alone"
        );
        assert_eq!(
            w.tenants.org_in_use(&project.org_id).memory_mib,
            200,
            "in its org too"
        );
        // A fresh instance of its project that needs the memory calls on
        // the project's idle instances to end; a sibling project's (b)
        // hear nothing: the org has room.
        let [project_room, org_room] = <[_; 2]>::try_from(room.rooms()).expect("project and org");
        let sibling = instances(&w, "b", 1).rooms();
        let heard = |rooms: &[Arc<Room>]| rooms.iter().map(|r| r.calls()).collect::<Vec<_>>();
        let (project_calls, sibling_calls) = (project_room.calls(), heard(&sibling));
        let fresh = w.gate("a", 128);
        let mut waiting = std::pin::pin!(fresh.admit());
        assert!(
            futures::poll!(&mut waiting).is_pending(),
            "328 MiB would pass 256"
        );
        assert!(
            project_room.calls() > project_calls,
            "a's idle instances are called"
        );
        assert_eq!(heard(&sibling), sibling_calls, "b's are not");
        assert_eq!(org_room.calls(), sibling_calls[1], "nor the org's: it has room");
        drop(instance);
        waiting.await.expect("the fresh instance gets the memory");
        // Larger than the quota: refused at once, naming it.
        let refused = instances(&w, "a", 300)
            .hold()
            .now_or_never()
            .expect("at once")
            .err()
            .expect("refused");
        assert!(refused.contains("memory_mib quota of 256"), "{refused}");
    }

    #[tokio::test]
    async fn an_org_short_of_memory_calls_its_projects_idle_instances() {
        use minicloud_runtime::InstanceQuota;
        let w = world("", "memory_mib=256").await;
        let room = instances(&w, "a", 200);
        let _instance = room.hold().await.expect("200 of the org's 256 MiB");
        let [project_room, org_room] = <[_; 2]>::try_from(room.rooms()).expect("project and org");
        let (project_calls, org_calls) = (project_room.calls(), org_room.calls());
        let elsewhere = instances(&w, "c", 1).rooms();
        // b has room in its project, not in the org: a's instance, idle
        // under the org, hears the org's call; a's project hears nothing.
        let fresh = w.gate("b", 128);
        let mut waiting = std::pin::pin!(fresh.admit());
        assert!(
            futures::poll!(&mut waiting).is_pending(),
            "328 MiB would pass the org's 256"
        );
        assert!(
            org_room.calls() > org_calls,
            "the org's idle instances are called"
        );
        assert_eq!(project_room.calls(), project_calls, "a's project has room");
        // Another org hears nothing.
        assert!(
            elsewhere.iter().all(|r| r.calls() == 0),
            "org other is not called"
        );
    }

    #[tokio::test]
    async fn a_wait_for_memory_keeps_its_place_in_the_queue() {
        let w = world("concurrency=10,memory_mib=256", "").await;
        let (big, small) = (w.gate("a", 200), w.gate("a", 100));
        let first = big.admit().await.expect("200 of 256 MiB");
        let mut second = std::pin::pin!(big.admit());
        assert!(futures::poll!(&mut second).is_pending(), "400 would pass 256");
        let mut third = std::pin::pin!(small.admit());
        assert!(futures::poll!(&mut third).is_pending(), "300 would pass 256");
        // Past several calls on idle instances the big waiter is still
        // ahead of the small one: were it to queue again at each call, a
        // stream of small callers would starve it.
        tokio::time::sleep(ROOM_EVERY * 3).await;
        assert!(futures::poll!(&mut second).is_pending());
        drop(first);
        let std::task::Poll::Ready(served) = futures::poll!(&mut second) else {
            panic!("the big waiter is served first");
        };
        let _second = served.expect("200 of 256 MiB");
        assert!(
            futures::poll!(&mut third).is_pending(),
            "56 MiB left for the small one"
        );
    }

    #[tokio::test]
    async fn an_org_at_its_quota_holds_its_projects_and_no_other_org() {
        let w = world("", "concurrency=1").await;
        let (a, b, c) = (w.gate("a", 128), w.gate("b", 128), w.gate("c", 128));
        let first = a.admit().await.expect("acme's one instance");
        let mut sibling = std::pin::pin!(b.admit());
        assert!(futures::poll!(&mut sibling).is_pending(), "b waits for its org");
        assert_eq!(w.running("b"), 1, "b holds its project's place while it waits");
        let elsewhere = c.admit().now_or_never().expect("another org does not wait");
        assert!(elsewhere.is_ok());
        drop(first);
        sibling.await.expect("b gets the org's freed instance");
    }

    #[test]
    fn a_limit_lowered_then_raised_ends_at_the_last_limit() {
        let idle = Sized::new(4);
        idle.resize(1);
        assert_eq!(idle.permits.available_permits(), 1, "free permits go at once");
        assert_eq!(idle.owed.load(Ordering::Acquire), 0);
        let sized = Sized::new(4);
        let held: Vec<_> = (0..4)
            .map(|_| sized.permits.clone().try_acquire_owned().expect("free"))
            .collect();
        sized.resize(1);
        sized.resize(3);
        for permit in held {
            sized.give_back(permit);
        }
        assert_eq!(sized.permits.available_permits(), 3);
        sized.resize(5);
        assert_eq!(sized.permits.available_permits(), 5);
        let many = sized.permits.clone().try_acquire_many_owned(5).expect("all five");
        sized.resize(2);
        sized.give_back(many);
        assert_eq!(sized.permits.available_permits(), 2, "three of five were owed");
    }

    #[tokio::test]
    async fn a_changed_quota_resizes_the_pool_and_what_runs_counts_against_it() {
        let w = world("concurrency=1,memory_mib=256", "").await;
        let a = w.gate("a", 128);
        let first = a.admit().await.expect("one");
        let project = &w.projects["a"];
        let set = |quota: &'static str| async {
            let quota = quota.parse().expect("parses");
            w.tenants.book.set_project(project, &quota).await.expect("set");
        };
        set("concurrency=2,memory_mib=256").await;
        let second = a.admit().now_or_never().expect("the resized pool has room");
        let second = second.expect("a second instance");
        assert_eq!(w.running("a"), 2);
        // Lowered: the two that run count against the new limit, and the
        // first slot given back is owed to it, not to the waiter.
        set("concurrency=1,memory_mib=256").await;
        let mut third = std::pin::pin!(a.admit());
        assert!(futures::poll!(&mut third).is_pending(), "2 run of 1");
        drop(first);
        assert!(futures::poll!(&mut third).is_pending(), "1 runs of 1");
        assert_eq!(w.running("a"), 1);
        drop(second);
        let _third = third.await.expect("room again under the lowered quota");
        assert_eq!(w.running("a"), 1);
    }
}
