//! Loaded functions: the cache between the store and the runtime.
//!
//! The hot path looks a function up by project and name in memory; a miss
//! loads the active version (memory-mapped compiled artifact, compiled again
//! only if no artifact for this engine exists) and pre-instantiates it.

use crate::artifacts::{ArtifactError, Artifacts};
use crate::capabilities::Services;
use crate::capabilities::grants::RoleGrants;
use crate::gate::{Gate, InFlight, Tenant, Tenants};
use crate::iam::{Authorizer, AuthzError};
use crate::records::{FunctionIdentity, RecordWriter};
use crate::store::functions::{FunctionRow, Settings, VersionRow};
use crate::store::projects::Project;
use crate::store::{Store, StoreError};
use bytes::Bytes;
use minicloud_runtime::Component;
use minicloud_runtime::CpuShare;
use minicloud_runtime::{CompileError, Function, Limits, ReportSink, Runtime, World};
use std::collections::HashMap;
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
    /// Serializes audit appends on this node.
    pub audit_lock: Arc<tokio::sync::Mutex<()>>,
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
}

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

type LoadLocks = Mutex<HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>>;

/// A function's load lock, held while one caller loads it. The last holder
/// removes it (also when its request is dropped mid-load), so names that do
/// not exist leave nothing behind.
struct LoadSlot<'a> {
    locks: &'a LoadLocks,
    key: (String, String),
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl<'a> LoadSlot<'a> {
    fn take(locks: &'a LoadLocks, key: (String, String)) -> Self {
        let lock = {
            let mut all = locks.lock().unwrap_or_else(|e| e.into_inner());
            all.entry(key.clone()).or_default().clone()
        };
        Self { locks, key, lock }
    }
}

impl Drop for LoadSlot<'_> {
    fn drop(&mut self) {
        let mut all = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        // The map's handle and ours: nobody else is waiting.
        if Arc::strong_count(&self.lock) == 2 {
            all.remove(&self.key);
        }
    }
}

/// The cache of loaded functions.
pub struct Registry {
    runtime: Runtime,
    store: Store,
    artifacts: Artifacts,
    writer: RecordWriter,
    host: HostServices,
    loaded: RwLock<ByName>,
    components: Mutex<HashMap<String, Component>>,
    /// By function id: the limit and memory a gate was made for, and the
    /// gate. Kept across reloads so that a redeploy or PATCH does not reset
    /// counts.
    gates: Gates,
    /// One lock per function being loaded: concurrent misses on a cold
    /// function wait for the first load instead of each making their own,
    /// and a slow load of one function holds up no other.
    loading: LoadLocks,
    global: Arc<Semaphore>,
    /// The projects' and orgs' concurrency and memory quotas.
    tenants: Arc<Tenants>,
    /// Each project's CPU turns (see `minicloud_runtime::cpu`).
    cpu_shares: Mutex<HashMap<String, CpuShare>>,
    in_flight: Arc<InFlight>,
    queue_wait: Duration,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry over the store, the artifacts and the runtime.
    pub fn new(
        runtime: Runtime,
        store: Store,
        artifacts: Artifacts,
        writer: RecordWriter,
        host: HostServices,
        tenants: Arc<Tenants>,
    ) -> Self {
        let pool = runtime.config().pool_instances as usize;
        Self {
            runtime,
            store,
            artifacts,
            writer,
            host,
            loaded: RwLock::new(HashMap::new()),
            components: Mutex::new(HashMap::new()),
            gates: Mutex::new(HashMap::new()),
            loading: Mutex::new(HashMap::new()),
            global: Arc::new(Semaphore::new(pool)),
            tenants,
            cpu_shares: Mutex::new(HashMap::new()),
            in_flight: Arc::new(InFlight::default()),
            queue_wait: Duration::from_secs(10),
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
    pub fn invalidate(&self, project: &str, name: &str) {
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        if let Some(fns) = loaded.get_mut(project) {
            fns.remove(name);
        }
    }

    /// Forgets every loaded function (their grants may have changed); the
    /// compiled components stay in memory, so reloading is cheap.
    pub fn invalidate_all(&self) {
        self.loaded.write().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Keeps a freshly compiled component so the first call after a deploy
    /// need not load it from disk.
    pub fn remember_component(&self, sha: &str, component: Component) {
        let mut components = self.components.lock().unwrap_or_else(|e| e.into_inner());
        components.insert(sha.to_owned(), component);
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

    async fn load_active(&self, project: &Project, name: &str) -> Result<Option<Arc<Loaded>>, LoadError> {
        let Some(row) = self.store.in_project(project).function(name).await? else {
            return Ok(None);
        };
        let Some(version) = self
            .store
            .in_project(project)
            .version(&row.id, row.active_version)
            .await?
        else {
            return Err(StoreError::Corrupt(format!(
                "function {name} has no version {}",
                row.active_version
            ))
            .into());
        };
        let loaded = Arc::new(self.load(project, &row, &version).await?);
        let mut all = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        all.entry(project.name.clone())
            .or_default()
            .insert(name.to_owned(), loaded.clone());
        Ok(Some(loaded))
    }

    async fn load(
        &self,
        project: &Project,
        row: &FunctionRow,
        version: &VersionRow,
    ) -> Result<Loaded, LoadError> {
        let world = World::parse(&version.world)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown world {:?}", version.world)))?;
        let component = self.component(&version.sha256).await?;
        let env = row
            .settings
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let grants = self.grants(project, row).await?;
        let denials = Arc::new(crate::records::FunctionDenials::new(
            self.store.clone(),
            self.host.audit_lock.clone(),
            project,
            row,
        ));
        let caps = self.host.services.capabilities(project, row, grants, denials);
        let function = self
            .runtime
            .function(&component, world, limits(&row.settings), env)
            .map_err(|e| LoadError::Runtime(e.to_string()))?
            .with_capabilities(caps)
            .with_cpu_share(self.cpu_share(&project.id));
        let identity = FunctionIdentity {
            project_id: project.id.clone(),
            project: project.name.clone(),
            function_id: row.id.clone(),
            function: row.name.clone(),
            version: version.version,
            mrn: format!(
                "mrn:functions:{}:{}:function/{}",
                project.org_name, project.name, row.name
            ),
        };
        Ok(Loaded {
            function,
            sink: Arc::new(self.writer.sink(identity.clone())),
            identity,
            gate: self.gate(project, row),
            http_auth: row.settings.http_auth,
            project: project.clone(),
            tags: row.settings.tags.clone(),
        })
    }

    /// The function's execution role, compiled; `None` (nothing granted)
    /// without a role or when the role is gone.
    async fn grants(
        &self,
        project: &Project,
        row: &FunctionRow,
    ) -> Result<Option<Arc<dyn minicloud_runtime::caps::backend::Grants>>, LoadError> {
        if row.settings.role.is_empty() {
            return Ok(None);
        }
        let org = project.org();
        match self
            .host
            .authorizer
            .role_policies(&org, &row.settings.role)
            .await?
        {
            Some(policies) => Ok(Some(Arc::new(RoleGrants::new(
                policies,
                &project.org_name,
                &project.name,
                &row.id,
            )))),
            None => {
                tracing::warn!(function = %row.name, role = %row.settings.role, "the execution role does not exist; nothing is granted");
                Ok(None)
            }
        }
    }

    /// The function's gate: the existing one while its limit and memory
    /// are unchanged.
    fn gate(&self, project: &Project, row: &FunctionRow) -> Arc<Gate> {
        let limit = row.settings.concurrency.max(1) as usize;
        let memory = row.settings.memory_bytes.max(0) as u64;
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

    /// The CPU turns of `project_id`'s long-running guests: half of this
    /// node's cores (at least one), so that one project computing for long
    /// leaves the rest to the others.
    fn cpu_share(&self, project_id: &str) -> CpuShare {
        let turns = std::thread::available_parallelism().map_or(1, |n| n.get() / 2);
        self.cpu_shares
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(project_id.to_owned())
            .or_insert_with(|| CpuShare::new(turns))
            .clone()
    }

    /// Forgets a deleted function's gate.
    pub fn forget(&self, function_id: &str) {
        self.gates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(function_id);
    }

    /// The component of `sha`: from memory, else the artifact cache, else
    /// compiled again from the stored original.
    async fn component(&self, sha: &str) -> Result<Component, LoadError> {
        if let Some(c) = self.components.lock().unwrap_or_else(|e| e.into_inner()).get(sha) {
            return Ok(c.clone());
        }
        let component = match self.artifacts.fetch_compiled(sha).await? {
            Some(path) => {
                let start = Instant::now();
                let runtime = self.runtime.clone();
                let loaded = tokio::task::spawn_blocking(move || runtime.load_artifact(&path))
                    .await
                    .map_err(|e| LoadError::Runtime(e.to_string()))?
                    .map_err(|e| LoadError::Runtime(e.to_string()))?;
                metrics::counter!("minicloud_artifact_loads_total").increment(1);
                metrics::histogram!("minicloud_artifact_load_seconds").record(start.elapsed().as_secs_f64());
                loaded
            }
            None => {
                let bytes = self.artifacts.component(sha).await?;
                let compiled = compile(&self.runtime, bytes, "cache_miss")
                    .await
                    .map_err(|e| LoadError::Runtime(e.to_string()))?;
                self.artifacts
                    .put_compiled(sha, Bytes::from(compiled.artifact))
                    .await?;
                compiled.component
            }
        };
        self.remember_component(sha, component.clone());
        Ok(component)
    }
}

/// Compiles on a blocking thread and records the compile metrics.
pub async fn compile(
    runtime: &Runtime,
    bytes: Bytes,
    reason: &'static str,
) -> Result<minicloud_runtime::Compiled, CompileError> {
    let runtime = runtime.clone();
    let start = Instant::now();
    let compiled = tokio::task::spawn_blocking(move || runtime.compile(&bytes))
        .await
        .map_err(|e| CompileError::Invalid(format!("the compiler failed: {e}")))??;
    metrics::counter!("minicloud_compilations_total", "reason" => reason).increment(1);
    metrics::histogram!("minicloud_compile_seconds").record(start.elapsed().as_secs_f64());
    Ok(compiled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> (String, String) {
        ("default".to_owned(), name.to_owned())
    }

    #[tokio::test]
    async fn load_locks_are_per_function_and_cleaned_up() {
        let locks = LoadLocks::default();
        let a = LoadSlot::take(&locks, key("a"));
        let _a_held = a.lock.lock().await;
        // Another function's load does not wait for `a`'s.
        let b = LoadSlot::take(&locks, key("b"));
        assert!(b.lock.try_lock().is_ok());
        drop(b);
        // A second caller for `a` shares its lock and waits for it.
        let a2 = LoadSlot::take(&locks, key("a"));
        assert!(Arc::ptr_eq(&a.lock, &a2.lock));
        assert!(a2.lock.try_lock().is_err());
        drop(_a_held);
        drop(a);
        assert_eq!(
            locks.lock().expect("not poisoned").len(),
            1,
            "a2 still waits on `a`"
        );
        drop(a2);
        assert!(
            locks.lock().expect("not poisoned").is_empty(),
            "nothing left behind"
        );
    }
}
