//! The quick tier: a deploy of new bytes answered from Winch's code
//! while Cranelift's compiles behind it.
//!
//! Winch's component is kept apart from the shared components
//! (`spares`), by org and SHA-256, for the org that deployed the bytes
//! alone: were it shared, which code an org's functions run, and when
//! they load again, would depend on another org's deploys of the same
//! bytes. When Cranelift's compile ends, its component joins the shared
//! ones and the org's functions that ran Winch's load again.

use super::Registry;
use super::load::{Deployable, DeployableError, compile, reusable};
use bytes::Bytes;
use minicloud_runtime::Component;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

/// Winch's components and the compiles behind the deploys that made them.
pub(super) struct Quick {
    /// By org and SHA-256: the component of bytes the org deployed while
    /// Cranelift's compile of them runs behind the deploy: Winch's, then
    /// Cranelift's until its artifact is stored (so that it cannot be
    /// trimmed before).
    components: Mutex<HashMap<(String, String), Component>>,
    /// The compiles behind deploys.
    behind: TaskTracker,
    /// Room for compiles behind deploys, one a core: past it a deploy of
    /// new bytes waits for Cranelift's compile, as without the quick tier.
    room: Arc<Semaphore>,
    /// Compiles behind deploys by org, at most `per_org` each (half the
    /// room, at least one): a tenant deploying new bytes in a loop is held
    /// back by its own compiles and leaves room for the others'.
    by_org: Arc<Mutex<HashMap<String, usize>>>,
    per_org: usize,
}

impl Quick {
    pub(super) fn new() -> Self {
        Self::with_room(crate::util::cores().unwrap_or(1))
    }

    /// Room for `cores` compiles behind deploys.
    fn with_room(cores: usize) -> Self {
        Self {
            components: Mutex::new(HashMap::new()),
            behind: TaskTracker::new(),
            room: Arc::new(Semaphore::new(cores)),
            by_org: Arc::default(),
            per_org: (cores / 2).max(1),
        }
    }

    fn components(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Component>> {
        self.components.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for a compile behind a deploy of `org`, if the node and
    /// the org have room.
    fn room_for(&self, org: &str) -> Option<Room> {
        let node = Arc::clone(&self.room).try_acquire_owned().ok()?;
        let mut by_org = self.by_org.lock().unwrap_or_else(|e| e.into_inner());
        let running = by_org.entry(org.to_owned()).or_default();
        if *running >= self.per_org {
            return None;
        }
        *running += 1;
        Some(Room {
            _node: node,
            by_org: Arc::clone(&self.by_org),
            org: org.to_owned(),
        })
    }

    /// The component of `sha` for `org`, while Cranelift's compile of it
    /// runs behind a deploy.
    pub(super) fn get(&self, org: &str, sha: &str) -> Option<Component> {
        self.components().get(&(org.to_owned(), sha.to_owned())).cloned()
    }

    /// Whether Cranelift's compile of `sha` runs behind a deploy of `org`.
    pub(super) fn holds(&self, org: &str, sha: &str) -> bool {
        self.components().contains_key(&(org.to_owned(), sha.to_owned()))
    }
}

/// A compile behind a deploy's place on the node and in its org's share.
pub(super) struct Room {
    _node: OwnedSemaphorePermit,
    by_org: Arc<Mutex<HashMap<String, usize>>>,
    org: String,
}

impl Drop for Room {
    fn drop(&mut self) {
        let mut by_org = self.by_org.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = by_org.get_mut(&self.org) {
            *running -= 1;
            if *running == 0 {
                by_org.remove(&self.org);
            }
        }
    }
}

impl Registry {
    /// A deploy of new bytes answered from Winch's compile: checked as
    /// any deploy, the original stored (whatever becomes of the compile
    /// behind it, the deploy is not lost: a load compiles the original),
    /// Winch's component kept for the org. `None` when the quick tier
    /// does not take the bytes or has no room for another compile behind.
    pub(super) async fn quickly(
        &self,
        org_id: &str,
        sha: &str,
        bytes: &Bytes,
        composed: bool,
    ) -> Result<Option<(Deployable, Room)>, DeployableError> {
        let Some(room) = self.quick.room_for(org_id) else {
            return Ok(None);
        };
        let runtime = self.runtime.clone();
        let quick = bytes.clone();
        let start = Instant::now();
        let compiled = match tokio::task::spawn_blocking(move || runtime.compile_quick(&quick)).await {
            Ok(compiled) => compiled?,
            Err(e) => {
                tracing::error!(error = %e, "Winch's compile failed; Cranelift compiles the deploy");
                None
            }
        };
        let Some((component, world)) = compiled else {
            return Ok(None);
        };
        metrics::counter!("minicloud_quick_compilations_total").increment(1);
        metrics::histogram!("minicloud_quick_compile_seconds").record(start.elapsed().as_secs_f64());
        self.artifacts.put_component(sha, bytes.clone()).await?;
        let deployable = Deployable {
            sha256: sha.to_owned(),
            world,
            reusable: reusable(&component),
            composed,
        };
        self.quick
            .components()
            .insert((org_id.to_owned(), sha.to_owned()), component);
        Ok(Some((deployable, room)))
    }

    /// Cranelift's compile of bytes a deploy answered from Winch's, behind
    /// it: swaps its code in for Winch's, stores the artifact, and ends
    /// the org's compile claim (another node's deploy or load of the same
    /// bytes waits for it, then loads the artifact). A graceful stop waits
    /// for it within its grace ([`Registry::compiles_behind`]).
    pub(super) fn compile_behind(self: &Arc<Self>, org_id: &str, sha: String, bytes: Bytes, room: Room) {
        let registry = Arc::clone(self);
        let org_id = org_id.to_owned();
        let gauge = metrics::gauge!("minicloud_compiles_behind_deploys");
        gauge.increment(1.0);
        self.quick.behind.spawn(async move {
            match compile(&registry.runtime, bytes, "deploy").await {
                Ok(c) => {
                    registry.swap_in(&org_id, &sha, Some(c.component.clone()));
                    let stored = registry
                        .artifacts
                        .put_compiled(&sha, &c.fingerprint, Bytes::from(c.artifact))
                        .await;
                    if let Err(e) = stored {
                        tracing::error!(component = %sha, error = %e,
                            "cannot store the artifact compiled behind a deploy; the next start compiles the original");
                    }
                    // Among the shared components before it leaves the
                    // deploy's: a load in between finds one or the other.
                    registry.remember_component(&org_id, &sha, c.component);
                    registry
                        .quick
                        .components()
                        .remove(&(org_id.clone(), sha.clone()));
                }
                Err(e) => {
                    // Cranelift refuses what Winch took: the functions that
                    // ran it load again, and meet the refusal.
                    tracing::error!(component = %sha, error = %e, "Cranelift's compile behind a deploy failed");
                    registry.refuse(&org_id, &sha, e.to_string());
                    registry.swap_in(&org_id, &sha, None);
                }
            }
            registry.release_compile(&org_id, &sha).await;
            gauge.decrement(1.0);
            drop(room);
        });
    }

    /// Puts Cranelift's component of `sha` (if it compiled; else none) in
    /// place of Winch's for `org_id`, and forgets the org's loaded
    /// functions that run Winch's code: each loads again on its next call,
    /// from memory. A load that read Winch's as this ran is not cached
    /// (the org's functions count as forgotten).
    fn swap_in(&self, org_id: &str, sha: &str, component: Option<Component>) {
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        let key = (org_id.to_owned(), sha.to_owned());
        match component {
            Some(component) => self.quick.components().insert(key, component),
            None => self.quick.components().remove(&key),
        };
        self.forgotten.forgot(org_id);
        for functions in loaded.values_mut() {
            functions
                .retain(|_, f| !(f.project.org_id == org_id && f.sha256 == sha && f.function.is_quick()));
        }
        loaded.retain(|_, functions| !functions.is_empty());
        metrics::counter!("minicloud_quick_swaps_total").increment(1);
    }

    /// Waits until Cranelift's compiles behind deploys have stored their
    /// artifacts, or `grace` passes; whether they all did. Claims of those
    /// still running are released (their deploys' originals are stored:
    /// the next load compiles them, and a deploy of the same bytes need
    /// not wait for a claim nobody will end).
    pub async fn compiles_behind(&self, grace: Duration) -> bool {
        let behind = &self.quick.behind;
        behind.close();
        let done = tokio::time::timeout(grace, behind.wait()).await.is_ok();
        behind.reopen();
        if !done {
            let running: Vec<(String, String)> = self.quick.components().keys().cloned().collect();
            let releases = async {
                for (org_id, sha) in running {
                    self.release_compile(&org_id, &sha).await;
                }
            };
            if tokio::time::timeout(Duration::from_secs(2), releases)
                .await
                .is_err()
            {
                tracing::warn!(
                    "cannot release the claims of compiles behind deploys; they end by themselves"
                );
            }
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::Quick;

    /// One org takes at most half the room (at least one place); the
    /// rest stays for the others, and a place ends with its compile.
    #[test]
    fn one_org_leaves_room_for_the_others() {
        let quick = Quick::with_room(4);
        let first = quick.room_for("loop").expect("room");
        let second = quick.room_for("loop").expect("half of four");
        assert!(quick.room_for("loop").is_none(), "past its half");
        let other = quick.room_for("quiet").expect("the others' half");
        let _also = quick.room_for("quiet").expect("the others' half");
        assert!(quick.room_for("third").is_none(), "the node is full");
        drop(first);
        assert!(quick.room_for("loop").is_some(), "its place came back");
        drop((second, other));
        let small = Quick::with_room(1);
        let only = small.room_for("a").expect("one place");
        assert!(small.room_for("b").is_none());
        drop(only);
        assert!(small.room_for("b").is_some());
    }
}
