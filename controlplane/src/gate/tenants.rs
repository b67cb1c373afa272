//! The concurrency and memory quotas of projects and orgs. Each project and
//! each org has a pool: a semaphore of instances and one of MiB (each
//! running instance reserves its function's memory limit). A caller takes
//! its project's pool, then its org's; a project at its quota queues on
//! its own pool, so callers of other projects never wait behind it, and
//! those of its org only when the org as a whole is at its quota.
//!
//! An instance of a function that reuses its instances holds its memory
//! in both pools for as long as it lives, idle or busy ([`InstanceRoom`]),
//! and its requests take only slots. Whoever waits for an org's memory
//! asks the org's idle instances to end (the org's `room`): a tenant's
//! warm instances give their memory back to its new work rather than keep
//! it until their idle timeout.

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

/// How often one waiting for memory asks idle instances again: an
/// instance that went idle after the last call hears the next.
const ROOM_EVERY: Duration = Duration::from_millis(20);

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
    /// Running instances.
    pub concurrency: u64,
    /// MiB they reserve.
    pub memory_mib: u64,
}

/// What runs under one quota, counted as instances start and end (a
/// semaphore's free permits would also count those handed to a waiter
/// that is still gathering them).
#[derive(Debug, Default)]
struct Counts {
    running: AtomicU64,
    memory_mib: AtomicU64,
    /// An org's: its idle reused instances end when it is called.
    room: Arc<Room>,
}

/// A project's or org's pool, sized for its quota. A changed quota gets a
/// new pool rather than a resized one: instances already running give
/// their permits back to the old pool, and only new ones count against
/// the new limits. The counts carry over.
#[derive(Debug)]
struct Pool {
    holder: Holder,
    concurrency: u64,
    memory_mib: u64,
    slots: Arc<Semaphore>,
    memory: Arc<Semaphore>,
    waiting: AtomicUsize,
    counts: Arc<Counts>,
}

/// What a place in a pool holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reserve {
    /// A running instance's slot and memory.
    Running,
    /// A reused instance's memory alone (its requests take the slots).
    Memory,
}

/// A place in one pool, counted while it is held.
#[derive(Debug)]
struct Held {
    counts: Arc<Counts>,
    /// Instances it counts as running: 1 with a slot, else 0.
    running: u64,
    mib: u32,
    _slot: Option<OwnedSemaphorePermit>,
    _memory: OwnedSemaphorePermit,
}

impl Held {
    fn new(
        counts: &Arc<Counts>,
        slot: Option<OwnedSemaphorePermit>,
        mib: u32,
        memory: OwnedSemaphorePermit,
    ) -> Self {
        let running = u64::from(slot.is_some());
        counts.running.fetch_add(running, Ordering::AcqRel);
        counts.memory_mib.fetch_add(u64::from(mib), Ordering::AcqRel);
        Self {
            counts: counts.clone(),
            running,
            mib,
            _slot: slot,
            _memory: memory,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.counts.running.fetch_sub(self.running, Ordering::AcqRel);
        self.counts
            .memory_mib
            .fetch_sub(u64::from(self.mib), Ordering::AcqRel);
    }
}

/// A semaphore of `n` permits (at most what tokio allows: a quota that
/// large is no limit in practice).
fn semaphore(n: u64) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(
        usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS),
    ))
}

impl Pool {
    fn new(holder: Holder, q: &Quotas, counts: Arc<Counts>) -> Self {
        Self {
            holder,
            concurrency: q.concurrency,
            memory_mib: q.memory_mib,
            slots: semaphore(q.concurrency),
            memory: semaphore(q.memory_mib),
            waiting: AtomicUsize::new(0),
            counts,
        }
    }

    fn fits(&self, q: &Quotas) -> bool {
        self.concurrency == q.concurrency && self.memory_mib == q.memory_mib
    }

    fn refusal(&self, kind: Kind) -> QuotaExceeded {
        let limit = match kind {
            Kind::MemoryMib => self.memory_mib,
            _ => self.concurrency,
        };
        QuotaExceeded::transient(self.holder.clone(), kind, limit)
    }

    /// A place of `mib` of memory, and with [`Reserve::Running`] an instance
    /// slot, waiting in this pool's bounded queue until `deadline`; while
    /// it waits for memory, the org's idle instances are asked for theirs
    /// (`room`).
    async fn take(
        &self,
        reserve: Reserve,
        mib: u32,
        deadline: Instant,
        room: &Room,
    ) -> Result<Held, QuotaExceeded> {
        // An instance larger than the whole quota would wait forever.
        if u64::from(mib) > self.memory_mib {
            return Err(self.refusal(Kind::MemoryMib));
        }
        if reserve == Reserve::Memory {
            let memory = self.memory(mib, deadline, room).await?;
            return Ok(Held::new(&self.counts, None, mib, memory));
        }
        if let Some([slot, memory]) = self.try_take(mib) {
            return Ok(Held::new(&self.counts, Some(slot), mib, memory));
        }
        let max = usize::try_from(self.concurrency)
            .unwrap_or(usize::MAX)
            .saturating_mul(QUEUE_PER_SLOT);
        let _queued = Queued::join(&self.waiting, max).ok_or_else(|| self.refusal(Kind::Concurrency))?;
        let slot = tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| self.refusal(Kind::Concurrency))?;
        let memory = self.memory(mib, deadline, room).await?;
        Ok(Held::new(&self.counts, Some(slot), mib, memory))
    }

    /// `mib` of memory, waiting until `deadline`; every [`ROOM_EVERY`] of
    /// the wait the org's idle reused instances are asked to end.
    async fn memory(
        &self,
        mib: u32,
        deadline: Instant,
        room: &Room,
    ) -> Result<OwnedSemaphorePermit, QuotaExceeded> {
        if let Ok(memory) = self.memory.clone().try_acquire_many_owned(mib) {
            return Ok(memory);
        }
        loop {
            room.call();
            let until = (Instant::now() + ROOM_EVERY).min(deadline);
            match tokio::time::timeout_at(until, self.memory.clone().acquire_many_owned(mib)).await {
                Ok(Ok(memory)) => return Ok(memory),
                Err(_) if until < deadline => {}
                _ => return Err(self.refusal(Kind::MemoryMib)),
            }
        }
    }

    fn try_take(&self, mib: u32) -> Option<[OwnedSemaphorePermit; 2]> {
        let slot = self.slots.clone().try_acquire_owned().ok()?;
        let memory = self.memory.clone().try_acquire_many_owned(mib).ok()?;
        Some([slot, memory])
    }

    fn in_use(&self) -> InUse {
        InUse {
            concurrency: self.counts.running.load(Ordering::Acquire),
            memory_mib: self.counts.memory_mib.load(Ordering::Acquire),
        }
    }
}

/// Held while an instance runs: its place in its project and in its org.
#[derive(Debug)]
pub struct TenantPermit {
    _project: Held,
    _org: Held,
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

    /// Takes the tenant's place in its project, then in its org, waiting
    /// until `deadline` at most.
    pub(super) async fn admit(&self, t: &Tenant, deadline: Instant) -> Result<TenantPermit, QuotaExceeded> {
        self.take(t, deadline, Reserve::Running).await
    }

    /// Takes a reused instance's memory in its project, then in its org,
    /// waiting until `deadline` at most.
    async fn hold(&self, t: &Tenant, deadline: Instant) -> Result<TenantPermit, QuotaExceeded> {
        self.take(t, deadline, Reserve::Memory).await
    }

    async fn take(
        &self,
        t: &Tenant,
        deadline: Instant,
        reserve: Reserve,
    ) -> Result<TenantPermit, QuotaExceeded> {
        let (project, org) = self.pools(t);
        let room = &org.counts.room;
        let held_in_project = project.take(reserve, t.memory_mib, deadline, room).await?;
        let held_in_org = org.take(reserve, t.memory_mib, deadline, room).await?;
        Ok(TenantPermit {
            _project: held_in_project,
            _org: held_in_org,
        })
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
    /// How long a new instance may wait for memory.
    wait: Duration,
}

impl InstanceRoom {
    /// Instances of `tenant` (with its function's memory), waiting at most
    /// `wait` for memory.
    pub fn new(tenants: Arc<Tenants>, tenant: Tenant, wait: Duration) -> Self {
        Self {
            tenants,
            tenant,
            wait,
        }
    }
}

impl minicloud_runtime::InstanceQuota for InstanceRoom {
    fn hold(&self) -> Holding<'_> {
        Box::pin(async move {
            let deadline = Instant::now() + self.wait;
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

    fn room(&self) -> Arc<Room> {
        self.tenants.pools(&self.tenant).1.counts.room.clone()
    }
}

/// The pool of `id`, made (or made again) for its quota in force.
fn pool(pools: &Pools, id: &str, q: &Quotas, holder: impl FnOnce() -> Holder) -> Arc<Pool> {
    let mut pools = pools.lock().unwrap_or_else(|e| e.into_inner());
    match pools.get(id) {
        Some(p) if p.fits(q) => p.clone(),
        old => {
            let counts = old.map(|p| p.counts.clone()).unwrap_or_default();
            let p = Arc::new(Pool::new(holder(), q, counts));
            pools.insert(id.to_owned(), p.clone());
            p
        }
    }
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

    #[tokio::test]
    async fn a_reused_instance_holds_memory_alone_and_gives_it_back_when_asked() {
        use minicloud_runtime::InstanceQuota;
        let w = world("concurrency=10,memory_mib=256", "").await;
        let project = &w.projects["a"];
        let room = InstanceRoom::new(
            w.tenants.clone(),
            Tenant::new(project, 200 * MIB),
            Duration::from_secs(600),
        );
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
        let org = w.tenants.org_in_use(&project.org_id);
        assert_eq!(org.memory_mib, 200, "in its org too");
        // A fresh instance that needs the memory calls on the org's idle
        // instances to end.
        let calls = room.room().calls();
        let fresh = w.gate("a", 128);
        let mut waiting = std::pin::pin!(fresh.admit());
        assert!(
            futures::poll!(&mut waiting).is_pending(),
            "328 MiB would pass 256"
        );
        assert!(room.room().calls() > calls, "the idle instance is called");
        drop(instance);
        waiting.await.expect("the fresh instance gets the memory");
        // Larger than the quota: refused at once, naming it.
        let huge = InstanceRoom::new(
            w.tenants.clone(),
            Tenant::new(project, 300 * MIB),
            Duration::from_secs(600),
        );
        let refused = huge
            .hold()
            .now_or_never()
            .expect("at once")
            .err()
            .expect("refused");
        assert!(refused.contains("memory_mib quota of 256"), "{refused}");
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

    #[tokio::test]
    async fn a_changed_quota_sizes_a_new_pool() {
        let w = world("concurrency=1", "").await;
        let a = w.gate("a", 128);
        let _first = a.admit().await.expect("one");
        let project = &w.projects["a"];
        w.tenants
            .book
            .set_project(project, &"concurrency=2".parse().expect("parses"))
            .await
            .expect("set");
        let second = a.admit().now_or_never().expect("the new pool has room");
        assert!(second.is_ok());
        assert_eq!(w.running("a"), 2, "counts carry over to the new pool");
    }
}
