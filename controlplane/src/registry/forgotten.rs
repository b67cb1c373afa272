//! Which loads may be cached.
//!
//! A load reads a function's row, its version and its execution role's
//! policies, then caches what it built. A change (an IAM write, a deploy,
//! an update) forgets the org's loaded functions; a load that read the
//! store just before the change committed and finished just after would
//! cache the old grants or version until the org's next change. So each
//! org's forgettings are counted, and a load caches only if its org's
//! count did not move while it read: it still serves its own call, which
//! began before the change was seen.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

/// By org id, how many times some of its loaded functions were forgotten.
#[derive(Default)]
pub(super) struct Forgotten(Mutex<HashMap<String, u64>>);

impl Forgotten {
    /// Counts a forgetting of some of `org_id`'s functions; called with
    /// the loaded functions locked for writing.
    pub(super) fn forgot(&self, org_id: &str) {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(org_id.to_owned()).or_default() += 1;
    }

    /// Runs a load of one of `org_id`'s functions (`read`: its reads of the
    /// store and what it builds from them) and gives its result; caches
    /// it with `cache`, the loaded functions locked for writing, only if
    /// none of the org's functions was forgotten since before `read`
    /// began. Another org's changes never keep a load from being cached.
    pub(super) async fn load<M, T: Clone, E>(
        &self,
        loaded: &RwLock<M>,
        org_id: &str,
        read: impl Future<Output = Result<Option<T>, E>>,
        cache: impl FnOnce(&mut M, T),
    ) -> Result<Option<T>, E> {
        let before = self.count(org_id);
        let Some(value) = read.await? else {
            return Ok(None);
        };
        let mut all = loaded.write().unwrap_or_else(|e| e.into_inner());
        // Forgettings are counted under this same lock: none can fall
        // between the check and the insert.
        if self.count(org_id) == before {
            cache(&mut all, value.clone());
        }
        Ok(Some(value))
    }

    fn count(&self, org_id: &str) -> u64 {
        let counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(org_id).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::Forgotten;
    use std::sync::RwLock;
    use tokio::sync::oneshot;

    /// A load of `org`'s function that reads "the old grants" and then
    /// waits while `change` runs (with the loaded functions locked for
    /// writing, as the registry's forgettings do); gives what the load
    /// served and what was cached.
    async fn load_around(
        org: &str,
        change: impl FnOnce(&Forgotten),
    ) -> (Option<&'static str>, Vec<&'static str>) {
        let forgotten = Forgotten::default();
        let loaded = RwLock::new(Vec::new());
        let (read, has_read) = oneshot::channel();
        let (go_on, may_go_on) = oneshot::channel::<()>();
        let load = forgotten.load(
            &loaded,
            org,
            async {
                let grants = "the old grants";
                read.send(()).expect("the change waits for the read");
                may_go_on.await.expect("the change lets the load go on");
                Ok::<_, ()>(Some(grants))
            },
            |all, grants| all.push(grants),
        );
        let between = async {
            has_read.await.expect("the load reads");
            {
                let _locked = loaded.write().expect("not poisoned");
                change(&forgotten);
            }
            go_on.send(()).expect("the load waits");
        };
        let (served, ()) = tokio::join!(load, between);
        (
            served.expect("no error"),
            loaded.into_inner().expect("not poisoned"),
        )
    }

    /// The race itself, in a fixed order: the load read the store, then
    /// its org's functions were forgotten (an IAM write revoking a grant),
    /// then it finished. It serves its own call and is not cached, so the
    /// next call loads the new grants.
    #[tokio::test]
    async fn a_load_that_read_before_its_orgs_change_is_not_cached() {
        let (served, cached) = load_around("ours", |f| f.forgot("ours")).await;
        assert_eq!(served, Some("the old grants"), "the call that loaded is served");
        assert!(cached.is_empty(), "what it read before the change is not cached");
    }

    /// One tenant writing IAM in a loop must not keep another's loads from
    /// being cached.
    #[tokio::test]
    async fn another_orgs_change_meanwhile_leaves_the_load_cached() {
        let (served, cached) = load_around("ours", |f| f.forgot("theirs")).await;
        assert_eq!(served, Some("the old grants"));
        assert_eq!(cached, ["the old grants"], "another org's change is not ours");
    }

    /// A change that ended before the load began does not stop it.
    #[tokio::test]
    async fn a_load_after_the_change_is_cached() {
        let forgotten = Forgotten::default();
        forgotten.forgot("ours");
        let loaded = RwLock::new(Vec::new());
        let served = forgotten
            .load(&loaded, "ours", async { Ok::<_, ()>(Some(1)) }, |all, v| {
                all.push(v)
            })
            .await;
        assert_eq!(served, Ok(Some(1)));
        assert_eq!(*loaded.read().expect("not poisoned"), [1]);
    }
}
