//! The routes service: custom routes and custom domains, and the table the
//! gateway serves them from. Every change is checked against the
//! project's table before it is stored, and the table is rebuilt and
//! swapped after it, so a route or a verified domain answers at once.
//!
//! - [`table`]: the routes partitioned by project, and each project's host
//!   names.
//! - [`dns`]: which names a project may claim, and the DNS check that
//!   proves a claim.

pub mod dns;
pub mod table;

use crate::store::domains::{DomainRow, Verified};
use crate::store::projects::Project;
use crate::store::routes::RouteRow;
use crate::store::{Store, StoreError};
use arc_swap::ArcSwap;
use dns::{Check, Verifier};
use std::sync::Arc;
pub use table::RouteTable;

/// Claims one project may hold at once (so one list is every claim).
pub const MAX_DOMAINS_PER_PROJECT: i64 = 20;

/// Why the routes service refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    /// The route conflicts with the project's others, or its pattern is
    /// invalid.
    #[error("{0}")]
    RouteConflict(String),
    /// No such route in the project.
    #[error("route {0:?} does not exist")]
    NoRoute(String),
    /// A name the project may not claim.
    #[error("{0}")]
    InvalidDomain(String),
    /// Claimed already, or the project holds the most claims it may.
    #[error(
        "the project has claimed {0:?} already, or holds {MAX_DOMAINS_PER_PROJECT} claims \
         (the most it may); delete one first"
    )]
    DomainConflict(String),
    /// The project has no claim on the domain.
    #[error("the project has no claim on domain {0:?}")]
    NoDomain(String),
    /// The DNS record that proves the claim was not found.
    #[error("{0}")]
    NotVerified(String),
    /// Another project holds the domain verified.
    #[error("{0:?} is verified by another project; it must delete its claim before this one can hold it")]
    DomainTaken(String),
    /// The stored routes do not build a table (a bug or a corrupt row).
    #[error("the stored routes conflict: {0}")]
    Table(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Result<T, E = RoutesError> = std::result::Result<T, E>;

/// Routes and domains.
#[derive(Debug)]
pub struct RouteService {
    store: Store,
    table: ArcSwap<RouteTable>,
    dns: Verifier,
    base_domain: String,
}

impl RouteService {
    /// Loads the table from the store; domains are checked through `dns`,
    /// and names under `base_domain` are the platform's.
    pub async fn load(store: Store, dns: Verifier, base_domain: String) -> Result<Self> {
        let table = build(&store).await?;
        Ok(Self {
            store,
            table: ArcSwap::from_pointee(table),
            dns,
            base_domain,
        })
    }

    /// The table in force now.
    pub fn table(&self) -> arc_swap::Guard<Arc<RouteTable>> {
        self.table.load()
    }

    /// Stores `route` (its id is made here) once the project's table with
    /// it still builds, and serves it.
    pub async fn add_route(&self, project: &Project, route: RouteRow) -> Result<RouteRow> {
        let scope = self.store.in_project(project);
        let mut rows = scope.routes().await?;
        rows.push(route.clone());
        RouteTable::build(&rows, &[]).map_err(RoutesError::RouteConflict)?;
        let taken = format!("{} {} is taken", route.method, route.path);
        let row = scope
            .insert_route(route)
            .await?
            .ok_or(RoutesError::RouteConflict(taken))?;
        self.reload().await?;
        Ok(row)
    }

    /// Deletes route `id`; it stops answering at once.
    pub async fn delete_route(&self, project: &Project, id: &str) -> Result<()> {
        if !self.store.in_project(project).delete_route(id).await? {
            return Err(RoutesError::NoRoute(id.to_owned()));
        }
        self.reload().await
    }

    /// Claims `name` (lower-cased) for `project`, with a fresh token to
    /// publish.
    pub async fn claim_domain(&self, project: &Project, name: &str) -> Result<DomainRow> {
        dns::check_name(name, &self.base_domain).map_err(RoutesError::InvalidDomain)?;
        let token = hex::encode(rand::random::<[u8; 16]>());
        self.store
            .in_project(project)
            .insert_domain(name, &token, MAX_DOMAINS_PER_PROJECT)
            .await?
            .ok_or_else(|| RoutesError::DomainConflict(name.to_owned()))
    }

    /// The project's claim on `name`.
    pub async fn domain(&self, project: &Project, name: &str) -> Result<DomainRow> {
        self.store
            .in_project(project)
            .domain(name)
            .await?
            .ok_or_else(|| RoutesError::NoDomain(name.to_owned()))
    }

    /// Looks the claim's record up now; once it is found, and no other
    /// project holds the name, the project's routes answer on it at once.
    pub async fn verify_domain(&self, project: &Project, name: &str) -> Result<DomainRow> {
        let row = self.domain(project, name).await?;
        if row.verified_ms.is_some() {
            return Ok(row);
        }
        let expect = || {
            format!(
                "publish a TXT record {} with the text {:?}, then verify again",
                dns::record_name(&row.name),
                dns::record_value(&row.token)
            )
        };
        let refusal = match self.dns.check(&row.name, &row.token).await {
            Check::Proven => None,
            Check::NotFound(seen) if seen.is_empty() => {
                Some(format!("no TXT record was found: {}", expect()))
            }
            Check::NotFound(seen) => Some(format!(
                "the TXT records found ({}) do not hold this claim's token: {}",
                seen.join(", "),
                expect()
            )),
            Check::Failed(e) => Some(format!("the DNS lookup failed ({e}): {}", expect())),
        };
        if let Some(message) = refusal {
            return Err(RoutesError::NotVerified(message));
        }
        match self.store.in_project(project).verify_domain(&row.name).await? {
            Verified::Done => {}
            Verified::Taken => return Err(RoutesError::DomainTaken(row.name)),
            Verified::Missing => return Err(RoutesError::NoDomain(name.to_owned())),
        }
        self.reload().await?;
        self.domain(project, name).await
    }

    /// Drops the project's claim on `name`; a verified domain is released.
    pub async fn delete_domain(&self, project: &Project, name: &str) -> Result<()> {
        if !self.store.in_project(project).delete_domain(name).await? {
            return Err(RoutesError::NoDomain(name.to_owned()));
        }
        self.reload().await
    }

    /// A project was deleted: its routes and domains went with it.
    pub async fn project_deleted(&self) -> Result<()> {
        self.reload().await
    }

    /// Rebuilds the table (routes and verified domains) from the store and
    /// swaps it in.
    async fn reload(&self) -> Result<()> {
        self.table.store(Arc::new(build(&self.store).await?));
        Ok(())
    }
}

async fn build(store: &Store) -> Result<RouteTable> {
    let rows = store.all_routes().await?;
    let domains = store.verified_domains().await?;
    RouteTable::build(&rows, &domains).map_err(RoutesError::Table)
}
