//! The concurrency and memory quotas of projects and orgs. Each project and
//! each org has a pool: a semaphore of instances and one of MiB (each
//! running instance reserves its function's memory limit). A caller takes
//! its project's pool, then its org's; a project at its quota queues on
//! its own pool, so callers of other projects never wait behind it, and
//! those of its org only when the org as a whole is at its quota.

use super::Queued;
use crate::store::projects::Project;
use crate::store::quotas::{Holder, Kind, QuotaBook, QuotaExceeded, Quotas};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Callers a pool lets wait, per instance of its quota.
const QUEUE_PER_SLOT: usize = 4;

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

/// An instance's place in one pool, counted while it is held.
#[derive(Debug)]
struct Held {
    counts: Arc<Counts>,
    mib: u32,
    _permits: [OwnedSemaphorePermit; 2],
}

impl Held {
    fn new(counts: &Arc<Counts>, mib: u32, permits: [OwnedSemaphorePermit; 2]) -> Self {
        counts.running.fetch_add(1, Ordering::AcqRel);
        counts.memory_mib.fetch_add(u64::from(mib), Ordering::AcqRel);
        Self {
            counts: counts.clone(),
            mib,
            _permits: permits,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.counts.running.fetch_sub(1, Ordering::AcqRel);
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

    /// An instance slot and `mib` of memory, waiting in this pool's bounded
    /// queue until `deadline`.
    async fn admit(&self, mib: u32, deadline: Instant) -> Result<Held, QuotaExceeded> {
        // An instance larger than the whole quota would wait forever.
        if u64::from(mib) > self.memory_mib {
            return Err(self.refusal(Kind::MemoryMib));
        }
        if let Some(permits) = self.try_take(mib) {
            return Ok(Held::new(&self.counts, mib, permits));
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
        let memory = tokio::time::timeout_at(deadline, self.memory.clone().acquire_many_owned(mib))
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| self.refusal(Kind::MemoryMib))?;
        Ok(Held::new(&self.counts, mib, [slot, memory]))
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
        let project = pool(
            &self.projects,
            &t.project_id,
            &self.book.project(&t.project_id),
            || Holder::Project(t.project_name.clone()),
        );
        let held_in_project = project.admit(t.memory_mib, deadline).await?;
        let org = pool(&self.orgs, &t.org_id, &self.book.org(&t.org_id), || {
            Holder::Org(t.org_name.clone())
        });
        let held_in_org = org.admit(t.memory_mib, deadline).await?;
        Ok(TenantPermit {
            _project: held_in_project,
            _org: held_in_org,
        })
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
