//! Loaded functions: the cache between the store and the runtime.
//!
//! The hot path looks a function up by project and name in memory; a miss
//! loads the active version (memory-mapped compiled artifact, compiled again
//! only if no artifact for this engine exists) and pre-instantiates it.
//!
//! - `load`: loading a version: its component (from memory, the artifact
//!   cache, or compiled again), its execution role's grants, and
//!   [`compile`]; and the component of a deploy ([`Registry::deployable`]),
//!   compiled only for bytes this engine never compiled.
//! - `forgotten`: which loads may be cached: none that read the store
//!   before a change forgot its org's functions.
//! - `slots`: one load lock per function, so that concurrent misses wait
//!   for a single load (and one per component a deploy compiles).
//! - `spares`: which compiled components stay in memory, and for which
//!   orgs: an org finds one only while it holds it itself.
//! - `quick`: the quick tier: a deploy of new bytes answered from Winch's
//!   code, kept for its org alone, while Cranelift's compiles behind it
//!   and is swapped in.

mod forgotten;
mod load;
mod quick;
mod slots;
mod spares;

use crate::artifacts::{ArtifactError, Artifacts};
use crate::capabilities::Services;
use crate::gate::{Gate, InFlight, InstanceRoom, Tenant, Tenants};
use crate::iam::{Authorizer, AuthzError};
use crate::records::{FunctionIdentity, RecordWriter};
use crate::store::functions::{FunctionRow, Settings};
use crate::store::projects::Project;
use crate::store::{Store, StoreError};
use forgotten::Forgotten;
pub use load::{Deployable, DeployableError, compile};
use minicloud_runtime::Component;
use minicloud_runtime::CpuShare;
use minicloud_runtime::{Function, Limits, ReportSink, Runtime, World};
use quick::Quick;
use slots::{LoadLocks, LoadSlot};
use spares::Components;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Errors loading a function.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The artifacts could not be read.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// The component could not be loaded or compiled.
    #[error("cannot load the function: {0}")]
    Runtime(String),
    /// The execution role's policies could not be loaded.
    #[error(transparent)]
    Grants(#[from] AuthzError),
}

/// What the registry needs to give functions their capabilities.
#[derive(Debug, Clone)]
pub struct HostServices {
    /// The services behind the host interfaces.
    pub services: Services,
    /// Loads execution roles' policies.
    pub authorizer: Arc<Authorizer>,
    /// The audit log's writer on this node.
    pub audit: crate::audit::AuditLog,
}

/// A function version ready to serve.
#[derive(Debug)]
pub struct Loaded {
    /// The runtime's handle.
    pub function: Function,
    /// Who it is.
    pub identity: FunctionIdentity,
    /// Its concurrency gate, shared by every version of the function.
    pub gate: Arc<Gate>,
    /// Where its invocations report.
    pub sink: Arc<dyn ReportSink>,
    /// Who may call it over HTTP.
    pub http_auth: crate::store::functions::HttpAuth,
    /// The project it belongs to (for resource names).
    pub project: Project,
    /// Its tags (resource tags in policies).
    pub tags: crate::store::iam::Tags,
    /// The SHA-256 of the component it runs.
    pub sha256: String,
}

/// How often at most the components in memory are trimmed to those loaded
/// functions run and the spares.
const TRIM_EVERY: Duration = Duration::from_secs(1);

/// The least a component counts for against the spare budget, however
/// small its compiled image (the hello component's is 360 KB, 216 KiB of
/// it code, and a deploy of it held about 0.5 MB resident).
const MIN_COUNTED: usize = 256 << 10;

/// Turns stored settings into runtime limits.
pub fn limits(s: &Settings) -> Limits {
    Limits {
        memory_bytes: s.memory_bytes as u64,
        timeout: Duration::from_millis(s.timeout_ms as u64),
        max_request_bytes: s.max_request_bytes as u64,
        max_response_bytes: s.max_response_bytes as u64,
    }
}

type ByName = HashMap<String, HashMap<String, Arc<Loaded>>>;

/// Gates by function id, with the (limit, memory) each was made for.
type Gates = Mutex<HashMap<String, ((usize, u64), Arc<Gate>)>>;

/// The cache of loaded functions.
pub struct Registry {
    runtime: Runtime,
    store: Store,
    artifacts: Artifacts,
    writer: RecordWriter,
    host: HostServices,
    loaded: RwLock<ByName>,
    /// By org id: how many times its loaded functions were forgotten
    /// (changed only with `loaded` locked for writing); a load that read
    /// the store before its org's count moved is not cached (`forgotten`).
    forgotten: Forgotten,
    /// Compiled components, each held for the orgs whose loaded functions
    /// run it and as a spare, up to `spare_bytes` (`spares`).
    components: Mutex<Components<Component>>,
    /// Bytes of compiled images kept for components no loaded function
    /// runs (see `spares` for which go first): a function switched back to
    /// an earlier version, or loaded again after its org's IAM changed,
    /// finds its component
    /// without reading its artifact. Past it, such a component is
    /// forgotten (its artifact stays on disk): every distinct deploy
    /// compiles one (about 0.5 MB resident for the hello component), and a
    /// tenant redeploying new bytes grew the node's memory without bound.
    spare_bytes: usize,
    /// When the components were last trimmed.
    last_trim: Mutex<Option<Instant>>,
    /// By org, SHA-256 and world: the component linked and
    /// pre-instantiated, shared by the org's functions that run it (each
    /// adds its own settings).
    linked: Mutex<HashMap<(String, String, World), Function>>,
    /// By function id: the limit and memory a gate was made for, and the
    /// gate. Kept across reloads so that a redeploy or PATCH does not reset
    /// counts.
    gates: Gates,
    /// One lock per function being loaded: concurrent misses on a cold
    /// function wait for the first load instead of each making their own,
    /// and a slow load of one function holds up no other.
    loading: LoadLocks,
    /// One lock per component an org deploys (by org and SHA-256): its
    /// deploys of the same new bytes at once wait for one compilation.
    compiling: LoadLocks,
    global: Arc<Semaphore>,
    /// The projects' and orgs' concurrency and memory quotas.
    tenants: Arc<Tenants>,
    /// Each project's CPU turns (see `minicloud_runtime::cpu`).
    cpu_shares: Mutex<HashMap<String, CpuShare>>,
    in_flight: Arc<InFlight>,
    queue_wait: Duration,
    /// Winch's components of deploys whose Cranelift compile runs behind
    /// them (`quick`).
    quick: Quick,
    /// By org and SHA-256: why Cranelift refused bytes (a deploy Winch
    /// took, or an original compiled again on a load); loads and deploys
    /// of them fail at once instead of compiling them at every call. At
    /// most `MAX_REFUSED`.
    refused: Mutex<HashMap<(String, String), String>>,
}

/// Refusals remembered at most; past it they are forgotten all at once.
const MAX_REFUSED: usize = 10_000;

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry over the store, the artifacts and the runtime, keeping
    /// up to `spare_bytes` of compiled images no loaded function runs.
    pub fn new(
        runtime: Runtime,
        store: Store,
        artifacts: Artifacts,
        writer: RecordWriter,
        host: HostServices,
        tenants: Arc<Tenants>,
        spare_bytes: usize,
    ) -> Self {
        let pool = runtime.config().pool_instances as usize;
        Self {
            runtime,
            store,
            artifacts,
            writer,
            host,
            loaded: RwLock::new(HashMap::new()),
            forgotten: Forgotten::default(),
            components: Mutex::new(Components::new()),
            spare_bytes,
            last_trim: Mutex::new(None),
            linked: Mutex::new(HashMap::new()),
            gates: Mutex::new(HashMap::new()),
            loading: Mutex::new(HashMap::new()),
            compiling: Mutex::new(HashMap::new()),
            global: Arc::new(Semaphore::new(pool)),
            tenants,
            cpu_shares: Mutex::new(HashMap::new()),
            in_flight: Arc::new(InFlight::default()),
            queue_wait: Duration::from_secs(10),
            quick: Quick::new(),
            refused: Mutex::new(HashMap::new()),
        }
    }

    /// Invocations in flight across all functions.
    pub fn in_flight(&self) -> &Arc<InFlight> {
        &self.in_flight
    }

    /// The projects' and orgs' pools (what runs under each quota).
    pub fn tenants(&self) -> &Arc<Tenants> {
        &self.tenants
    }

    /// The runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The artifact store.
    pub fn artifacts(&self) -> &Artifacts {
        &self.artifacts
    }

    /// The cached function, if loaded.
    pub fn cached(&self, project: &str, name: &str) -> Option<Arc<Loaded>> {
        let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        loaded.get(project).and_then(|fns| fns.get(name)).cloned()
    }

    /// Forgets a function so that the next call loads it afresh.
    pub fn invalidate(&self, project: &Project, name: &str) {
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        self.forgotten.forgot(&project.org_id);
        if let Some(fns) = loaded.get_mut(&project.name) {
            fns.remove(name);
        }
    }

    /// Forgets every loaded function of an org (their grants may have
    /// changed); the compiled components stay in memory, so reloading is
    /// cheap. Other orgs' functions stay loaded.
    pub fn invalidate_org(&self, org_id: &str) {
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        self.forgotten.forgot(org_id);
        loaded.retain(|_, functions| {
            functions.retain(|_, f| f.project.org_id != org_id);
            !functions.is_empty()
        });
    }

    /// Keeps a compiled or loaded component for org `org_id` so the first
    /// call after a deploy need not load it from disk, and lets go of the
    /// spares past `spare_bytes`.
    fn remember_component(&self, org_id: &str, sha: &str, component: Component) {
        let code = component.image_range();
        let size = (code.end as usize).saturating_sub(code.start as usize);
        // What a component holds besides its image (its types, each org's
        // link of it) is not in these bytes: a tenant deploying many tiny
        // components would otherwise keep hundreds as spares in the budget.
        let size = size.max(MIN_COUNTED);
        self.components
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .put(org_id, sha, component, size);
        // A trim reads every loaded function: at most one a second, so a
        // start preloading thousands of functions does not pay one for each.
        let mut last = self.last_trim.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|at| at.elapsed() >= TRIM_EVERY) {
            *last = Some(Instant::now());
            drop(last);
            self.trim_components((org_id, sha));
        }
    }

    /// Why Cranelift refused `sha` for `org_id`, if it did.
    fn refused(&self, org_id: &str, sha: &str) -> Option<String> {
        let refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        refused.get(&(org_id.to_owned(), sha.to_owned())).cloned()
    }

    /// Remembers that Cranelift refused `sha` for `org_id`.
    fn refuse(&self, org_id: &str, sha: &str, why: String) {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        if refused.len() >= MAX_REFUSED {
            refused.clear();
        }
        refused.insert((org_id.to_owned(), sha.to_owned()), why);
    }

    /// The component of `sha` if org `org_id` holds it in memory (Winch's
    /// while its deploy's Cranelift compile runs), marked used (see
    /// `spares`: never because another org holds it).
    fn remembered_component(&self, org_id: &str, sha: &str) -> Option<Component> {
        if let Some(quick) = self.quick.get(org_id, sha) {
            return Some(quick);
        }
        self.components
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(org_id, sha)
    }

    /// Lets go of the components no loaded function of their org runs,
    /// past `spare_bytes` of them (the org holding the most first, its
    /// least recently used first), with their links;
    /// never `keep` (org, SHA-256), just remembered (a load links it next,
    /// and a deploy's first call usually follows at once). Invocations in
    /// flight hold their own references.
    fn trim_components(&self, keep: (&str, &str)) {
        let in_use: HashSet<(String, String)> = {
            let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
            loaded
                .values()
                .flat_map(HashMap::values)
                .map(|f| (f.project.org_id.clone(), f.sha256.clone()))
                .collect()
        };
        let mut components = self.components.lock().unwrap_or_else(|e| e.into_inner());
        components.trim(&in_use, keep, self.spare_bytes);
        metrics::gauge!("minicloud_components_in_memory").set(components.len() as f64);
        // Also the links made while a trim let go of their component (a
        // load racing it), at the next trim.
        self.linked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(org, sha, _), _| {
                components.holds(org, sha) || in_use.contains(&(org.clone(), sha.clone()))
            });
    }

    /// The function's active version, loading it on a miss. `None` when the
    /// function does not exist.
    pub async fn get(&self, project: &Project, name: &str) -> Result<Option<Arc<Loaded>>, LoadError> {
        if let Some(hit) = self.cached(&project.name, name) {
            return Ok(Some(hit));
        }
        let slot = LoadSlot::take(&self.loading, (project.name.clone(), name.to_owned()));
        let _one = slot.lock.lock().await;
        match self.cached(&project.name, name) {
            Some(hit) => Ok(Some(hit)),
            None => self.load_active(project, name).await,
        }
    }

    /// The function's gate: the existing one while its limit and memory
    /// are unchanged. A function that reuses its instances reserves no
    /// memory per request: its instances hold theirs ([`Self::instance_room`]).
    fn gate(&self, project: &Project, row: &FunctionRow) -> Arc<Gate> {
        let limit = row.settings.concurrency.max(1) as usize;
        let memory = match row.settings.reuse {
            Some(_) => 0,
            None => row.settings.memory_bytes.max(0) as u64,
        };
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        match gates.get(&row.id) {
            Some((made_for, gate)) if *made_for == (limit, memory) => gate.clone(),
            _ => {
                let gate = Gate::new(
                    limit,
                    limit * 4,
                    self.queue_wait,
                    self.global.clone(),
                    self.in_flight.clone(),
                )
                .for_tenant(self.tenants.clone(), Tenant::new(project, memory));
                let gate = Arc::new(gate);
                gates.insert(row.id.clone(), ((limit, memory), gate.clone()));
                gate
            }
        }
    }

    /// Where the function's reused instances hold its memory limit in its
    /// project's and org's quotas while they live.
    fn instance_room(&self, project: &Project, row: &FunctionRow) -> Arc<InstanceRoom> {
        let memory = row.settings.memory_bytes.max(0) as u64;
        Arc::new(InstanceRoom::new(
            self.tenants.clone(),
            Tenant::new(project, memory),
        ))
    }

    /// The CPU turns of `project_id`'s long-running guests: half of this
    /// node's cores (at least one), so that one project computing for long
    /// leaves the rest to the others.
    fn cpu_share(&self, project_id: &str) -> CpuShare {
        self.cpu_shares
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(project_id.to_owned())
            .or_insert_with(|| CpuShare::new(crate::util::cores().map_or(1, |n| n / 2)))
            .clone()
    }

    /// Forgets a deleted function's gate.
    pub fn forget(&self, function_id: &str) {
        self.gates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(function_id);
    }
}
