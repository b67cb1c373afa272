//! Delivery slots: how many attempts run at once on this node, and how many
//! of those one project may hold, so that one project's backlog waits for
//! its own slots instead of taking every slot of the bus.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};

/// The slots of one node.
pub(super) struct Slots {
    /// One permit per attempt running; all of them taken, and the
    /// semaphore closed, once the bus closes.
    global: Semaphore,
    per_project: usize,
    /// Each project's share, made at its first delivery on this node.
    projects: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// The right to run one attempt: a slot of its project and one of the node.
#[must_use = "the slot is given back when dropped"]
pub(crate) struct Slot<'a> {
    _global: SemaphorePermit<'a>,
    _project: OwnedSemaphorePermit,
}

impl Slots {
    /// `global` slots, at most `per_project` of them held by one project.
    pub(super) fn new(global: usize, per_project: usize) -> Self {
        Self {
            global: Semaphore::new(global),
            per_project: per_project.clamp(1, global.max(1)),
            projects: Mutex::default(),
        }
    }

    /// Waits for a slot for an attempt of `project`; `None` once the bus
    /// closed. The project's own slot is taken first: a project at its
    /// share waits there, holding none of the node's slots, which stay
    /// free for the others.
    pub(super) async fn acquire(&self, project: &str) -> Option<Slot<'_>> {
        let own = self.project(project).acquire_owned().await.ok()?;
        let global = self.global.acquire().await.ok()?;
        Some(Slot {
            _global: global,
            _project: own,
        })
    }

    /// A slot if one is free now, for tests of the shares.
    #[cfg(test)]
    fn try_acquire(&self, project: &str) -> Option<Slot<'_>> {
        let own = self.project(project).try_acquire_owned().ok()?;
        let global = self.global.try_acquire().ok()?;
        Some(Slot {
            _global: global,
            _project: own,
        })
    }

    fn project(&self, id: &str) -> Arc<Semaphore> {
        let mut projects = self.projects.lock().unwrap_or_else(|e| e.into_inner());
        projects
            .entry(id.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_project)))
            .clone()
    }

    /// The node's slots, to wait out the attempts under way and close.
    pub(super) fn global(&self) -> &Semaphore {
        &self.global
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_at_its_share_leaves_the_rest_to_others() {
        let slots = Slots::new(4, 2);
        let a: Vec<_> = std::iter::from_fn(|| slots.try_acquire("a")).take(10).collect();
        assert_eq!(a.len(), 2, "project a holds its share and no more");
        assert_eq!(slots.global().available_permits(), 2);
        let b: Vec<_> = std::iter::from_fn(|| slots.try_acquire("b")).take(10).collect();
        assert_eq!(b.len(), 2, "project b still gets its share");
        assert!(slots.try_acquire("c").is_none(), "the node is full");
        drop(a);
        assert_eq!(slots.global().available_permits(), 2);
        assert!(slots.try_acquire("a").is_some(), "freed slots serve again");
    }

    #[tokio::test]
    async fn waiting_for_a_share_holds_no_slot_of_the_node() {
        let slots = Arc::new(Slots::new(4, 2));
        let held: Vec<_> = std::iter::from_fn(|| slots.try_acquire("a")).take(2).collect();
        // A third attempt of project a waits for a's share...
        let waiter = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.acquire("a").await.is_some() })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        // ... without taking any of the node's free slots.
        assert_eq!(slots.global().available_permits(), 2);
        drop(held);
        assert!(
            waiter.await.expect("the waiter ends"),
            "it runs once a's slots free"
        );
    }

    #[test]
    fn shares_are_at_least_one_slot_and_at_most_the_node() {
        assert_eq!(Slots::new(4, 0).per_project, 1);
        assert_eq!(Slots::new(4, 9).per_project, 4);
    }

    #[tokio::test]
    async fn a_closed_node_gives_no_slot() {
        let slots = Slots::new(2, 1);
        slots.global().close();
        assert!(slots.acquire("a").await.is_none());
    }
}
