//! Requests a second on public HTTP triggers, per project and per org:
//! governor's GCRA with one keyed limiter per rate in force, keyed by
//! tenant. Tenants of one rate share a table; a tenant whose quota changes
//! moves to the table of its new rate at once (with a full burst).

use crate::store::projects::Project;
use crate::store::quotas::{Holder, Kind, QuotaBook, QuotaExceeded};
use governor::Quota;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A tenant: a project's id or an org's (ids are unique across both, but
/// the scope keeps them apart regardless). Built by cloning the id, one
/// allocation: this runs on every public request.
type Key = (Scope, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scope {
    Project,
    Org,
}

type Keyed = governor::RateLimiter<
    Key,
    HashMapStateStore<Key>,
    DefaultClock,
    NoOpMiddleware<<DefaultClock as Clock>::Instant>,
>;

/// Checks between two sweeps of idle keys (and of rates no longer used).
const SWEEP_EVERY: u64 = 4096;

/// The request rates of every project and org.
#[derive(Debug)]
pub struct RequestRates {
    book: Arc<QuotaBook>,
    limiters: Mutex<HashMap<NonZeroU32, Arc<Keyed>>>,
    checks: AtomicU64,
}

impl RequestRates {
    /// Rates by the quotas in `book`.
    pub fn new(book: Arc<QuotaBook>) -> Self {
        Self {
            book,
            limiters: Mutex::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one public request of `project` against its rate, then its
    /// org's. The project's own comes first: a request it refuses spends
    /// nothing of the org's, so a project over its rate cannot starve its
    /// siblings.
    pub fn check(&self, project: &Project) -> Result<(), QuotaExceeded> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
        let own = self.book.project(&project.id).rps;
        self.take(own, (Scope::Project, project.id.clone()))
            .map_err(|secs| refusal(Holder::Project(project.name.clone()), own, secs))?;
        let org = self.book.org(&project.org_id).rps;
        self.take(org, (Scope::Org, project.org_id.clone()))
            .map_err(|secs| refusal(Holder::Org(project.org_name.clone()), org, secs))
    }

    /// One request for `key` at `rps`; refused: the seconds until the next
    /// one passes.
    fn take(&self, rps: u64, key: Key) -> Result<(), u64> {
        // Beyond u32::MAX a second the quota is no limit.
        let Ok(rps) = u32::try_from(rps) else {
            return Ok(());
        };
        // Zero: no public request at all.
        let Some(rps) = NonZeroU32::new(rps) else {
            return Err(1);
        };
        let limiter = self.limiter(rps);
        let now = limiter.clock().now();
        limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(now).as_secs_f64().ceil().max(1.0) as u64)
    }

    fn limiter(&self, rps: NonZeroU32) -> Arc<Keyed> {
        let mut limiters = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        limiters
            .entry(rps)
            .or_insert_with(|| Arc::new(Keyed::hashmap(Quota::per_second(rps))))
            .clone()
    }

    /// Forgets keys back at a full burst (indistinguishable from new ones)
    /// and the tables left empty, so the memory stays with the tenants that
    /// are busy now.
    fn sweep(&self) {
        let mut limiters = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        limiters.retain(|_, l| {
            l.retain_recent();
            !l.is_empty()
        });
    }
}

fn refusal(holder: Holder, limit: u64, retry_after_secs: u64) -> QuotaExceeded {
    QuotaExceeded {
        holder,
        kind: Kind::Rps,
        limit,
        retry_after_secs: Some(retry_after_secs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::quotas::Defaults;

    #[tokio::test]
    async fn a_project_past_its_rate_is_refused_and_others_are_not() {
        let (store, _dir) = crate::store::tests::temporary_sqlite().await;
        let org = store.create_org("acme").await.expect("org");
        let busy = store.create_project(&org, "busy").await.expect("project");
        let quiet = store.create_project(&org, "quiet").await.expect("project");
        let defaults = Defaults::new(
            512,
            &"rps=3".parse().expect("parses"),
            &"rps=100".parse().expect("parses"),
        );
        let book = QuotaBook::load(store, defaults).await.expect("book");
        let rates = RequestRates::new(book.clone());
        let passed = (0..10).filter(|_| rates.check(&busy).is_ok()).count();
        assert_eq!(passed, 3, "a burst of the rate passes, no more");
        let refused = rates.check(&busy).expect_err("over the rate");
        assert_eq!(refused.holder, Holder::Project("busy".into()));
        assert_eq!((refused.kind, refused.limit), (Kind::Rps, 3));
        assert!(refused.retry_after_secs.is_some_and(|s| s >= 1));
        assert!(rates.check(&quiet).is_ok(), "another project keeps its own rate");
        // Past its own rate, a project's org is held to the org's.
        book.set_project(&quiet, &"rps=100".parse().expect("parses"))
            .await
            .expect("set");
        book.set_org(&org, &"rps=4".parse().expect("parses"))
            .await
            .expect("set");
        let passed = (0..10).take_while(|_| rates.check(&quiet).is_ok()).count();
        assert_eq!(passed, 4, "the org's burst");
        let org_refusal = rates.check(&quiet).expect_err("over the org's rate");
        assert_eq!(org_refusal.holder, Holder::Org("acme".into()));
    }

    #[tokio::test]
    async fn a_zero_rate_refuses_everything() {
        let (store, _dir) = crate::store::tests::temporary_sqlite().await;
        let project = store.ensure_project("default").await.expect("project");
        let defaults = Defaults::new(512, &"rps=0".parse().expect("parses"), &Default::default());
        let rates = RequestRates::new(QuotaBook::load(store, defaults).await.expect("book"));
        assert!(rates.check(&project).is_err());
    }
}
