//! The effective quotas in memory: the defaults and every override, read at
//! start, after each change on this node, and every few seconds (so that a
//! change made on another node applies here within that time). Gates and
//! request rates read it on every call without touching the database;
//! counted kinds are checked against fresh counts.

use super::{Defaults, Holder, Kind, Overrides, QuotaError, QuotaExceeded, QuotaOverride, Quotas, Usage};
use crate::store::orgs::Org;
use crate::store::projects::Project;
use crate::store::{Result, Store};
use arc_swap::ArcSwap;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often overrides are read again, for changes made on other nodes.
const REFRESH: Duration = Duration::from_secs(5);

/// Defaults and overrides, in memory.
#[derive(Debug)]
pub struct QuotaBook {
    store: Store,
    defaults: Defaults,
    overrides: ArcSwap<Overrides>,
}

impl QuotaBook {
    /// Reads every override.
    pub async fn load(store: Store, defaults: Defaults) -> Result<Arc<Self>> {
        let overrides = store.all_quota_overrides().await?;
        Ok(Arc::new(Self {
            store,
            defaults,
            overrides: ArcSwap::from_pointee(overrides),
        }))
    }

    /// Reads the overrides again every few seconds while the book lives.
    pub fn keep_fresh(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let book: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(REFRESH).await;
                let Some(book) = book.upgrade() else { return };
                if let Err(e) = book.reload().await {
                    tracing::warn!(error = %e, "cannot read quota overrides; keeping the ones in memory");
                }
            }
        })
    }

    /// Reads every override now.
    pub async fn reload(&self) -> Result<()> {
        let overrides = self.store.all_quota_overrides().await?;
        self.overrides.store(Arc::new(overrides));
        Ok(())
    }

    /// The server's defaults.
    pub fn defaults(&self) -> &Defaults {
        &self.defaults
    }

    /// The project's quota in force: its override, else the default.
    pub fn project(&self, project_id: &str) -> Quotas {
        self.defaults.project.with(&self.project_override(project_id))
    }

    /// The org's quota in force: its override, else the default.
    pub fn org(&self, org_id: &str) -> Quotas {
        self.defaults.org.with(&self.org_override(org_id))
    }

    /// The project's override (all unset without one).
    pub fn project_override(&self, project_id: &str) -> QuotaOverride {
        self.overrides
            .load()
            .projects
            .get(project_id)
            .copied()
            .unwrap_or_default()
    }

    /// The org's override (all unset without one).
    pub fn org_override(&self, org_id: &str) -> QuotaOverride {
        self.overrides
            .load()
            .orgs
            .get(org_id)
            .copied()
            .unwrap_or_default()
    }

    /// Replaces a project's override; in force on this node at once.
    pub async fn set_project(&self, project: &Project, o: &QuotaOverride) -> Result<()> {
        self.store.in_project(project).put_quota(o).await?;
        self.reload().await
    }

    /// Replaces an org's override; in force on this node at once.
    pub async fn set_org(&self, org: &Org, o: &QuotaOverride) -> Result<()> {
        self.store.put_org_quota(org, o).await?;
        self.reload().await
    }

    /// The limits a creation of one more of a counted kind must fit,
    /// checked in the creating transaction (see `counted`).
    pub fn count_limit(&self, project: &Project, kind: Kind) -> super::CountLimit {
        super::CountLimit {
            kind,
            org_id: project.org_id.clone(),
            project: (
                Holder::Project(project.name.clone()),
                self.project(&project.id).get(kind),
            ),
            org: (
                Holder::Org(project.org_name.clone()),
                self.org(&project.org_id).get(kind),
            ),
        }
    }

    /// Refuses unless the project and its org both have room for one more
    /// of a counted kind (functions, rules): a cheap early answer, before
    /// work such as compiling. Concurrent creations may each see the last
    /// free place; the creating transaction checks again
    /// ([`Self::count_limit`]), one creation of an org at a time.
    pub async fn room_for_one(&self, project: &Project, kind: Kind) -> Result<(), QuotaError> {
        let (project_usage, org_usage) = self.usage(project).await?;
        for (holder, limit, used) in self.pairs(project, kind, project_usage, org_usage) {
            if used.saturating_add(1) > limit {
                return Err(QuotaExceeded {
                    holder,
                    kind,
                    limit,
                    retry_after_secs: None,
                }
                .into());
            }
        }
        Ok(())
    }

    /// The bytes the project may still store: the smaller of its own room
    /// and its org's.
    pub async fn bytes_room(&self, project: &Project) -> Result<Room, QuotaError> {
        let kind = Kind::StoredBytes;
        let (project_usage, org_usage) = self.usage(project).await?;
        let [own, org] = self.pairs(project, kind, project_usage, org_usage);
        let left = |(_, limit, used): &(Holder, u64, u64)| limit.saturating_sub(*used);
        let (holder, limit, used) = if left(&org) < left(&own) { org } else { own };
        Ok(Room {
            left: limit.saturating_sub(used),
            refusal: QuotaExceeded {
                holder,
                kind,
                limit,
                retry_after_secs: None,
            },
        })
    }

    /// What the project and its org use of the counted kinds.
    pub async fn usage(&self, project: &Project) -> Result<(Usage, Usage)> {
        let project_usage = self.store.in_project(project).usage().await?;
        let org_usage = self.store.org_usage(&project.org()).await?;
        Ok((project_usage, org_usage))
    }

    /// (holder, limit, used) of the project and of its org for `kind`.
    fn pairs(&self, project: &Project, kind: Kind, p: Usage, o: Usage) -> [(Holder, u64, u64); 2] {
        [
            (
                Holder::Project(project.name.clone()),
                self.project(&project.id).get(kind),
                p.get(kind).unwrap_or(0),
            ),
            (
                Holder::Org(project.org_name.clone()),
                self.org(&project.org_id).get(kind),
                o.get(kind).unwrap_or(0),
            ),
        ]
    }
}

/// How many more bytes a project may store, and the refusal past them.
#[derive(Debug, Clone)]
pub struct Room {
    left: u64,
    refusal: QuotaExceeded,
}

impl Room {
    /// Bytes left.
    pub fn left(&self) -> u64 {
        self.left
    }

    /// The room once `bytes` are freed (an object being replaced gives its
    /// bytes back).
    pub fn freeing(mut self, bytes: u64) -> Self {
        self.left = self.left.saturating_add(bytes);
        self
    }

    /// Refuses `bytes` past the room.
    pub fn admit(&self, bytes: u64) -> std::result::Result<(), QuotaExceeded> {
        if bytes > self.left {
            Err(self.refusal.clone())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::temporary_sqlite;

    #[tokio::test]
    async fn overrides_apply_over_defaults_and_counts_are_checked() {
        let (store, _dir) = temporary_sqlite().await;
        let project = store.ensure_project("default").await.expect("project");
        let defaults = Defaults::new(512, &QuotaOverride::default(), &QuotaOverride::default());
        let book = QuotaBook::load(store.clone(), defaults).await.expect("loads");
        assert_eq!(book.project(&project.id), defaults.project);
        book.room_for_one(&project, Kind::Functions).await.expect("room");

        let zero = "functions=0,stored_bytes=10".parse().expect("parses");
        book.set_project(&project, &zero).await.expect("set");
        assert_eq!(book.project(&project.id).functions, 0);
        assert_eq!(book.project(&project.id).rules, defaults.project.rules);
        match book.room_for_one(&project, Kind::Functions).await {
            Err(QuotaError::Exceeded(e)) => {
                assert_eq!(e.holder, Holder::Project("default".into()));
                assert_eq!((e.kind, e.limit), (Kind::Functions, 0));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let room = book.bytes_room(&project).await.expect("room");
        assert_eq!(room.left(), 10);
        assert!(room.admit(10).is_ok());
        assert!(room.admit(11).is_err());
        assert!(
            room.freeing(5).admit(15).is_ok(),
            "a replaced object's bytes come back"
        );

        // The org's quota is the tighter one now.
        book.set_org(&project.org(), &"stored_bytes=4".parse().expect("parses"))
            .await
            .expect("set");
        let room = book.bytes_room(&project).await.expect("room");
        assert_eq!(room.left(), 4);
        let refused = room.admit(5).expect_err("past the org's quota");
        assert_eq!(refused.holder, Holder::Org("default".into()));
    }
}
