use super::slots::LoadSlot;
use super::{LoadError, Loaded, Registry, limits};
use crate::artifacts::ArtifactError;
use crate::capabilities::grants::RoleGrants;
use crate::records::FunctionIdentity;
use crate::store::StoreError;
use crate::store::functions::{FunctionRow, VersionRow};
use crate::store::projects::Project;
use bytes::Bytes;
use minicloud_runtime::Component;
use minicloud_runtime::{CompileError, Function, Runtime, World};
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Registry {
    pub(super) async fn load_active(
        &self,
        project: &Project,
        name: &str,
    ) -> Result<Option<Arc<Loaded>>, LoadError> {
        let read = async {
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
            Ok(Some(Arc::new(self.load(project, &row, &version).await?)))
        };
        let read = crate::store::on_one_connection(read);
        self.forgotten
            .load(&self.loaded, &project.org_id, read, |all, loaded| {
                all.entry(project.name.clone())
                    .or_default()
                    .insert(name.to_owned(), loaded);
            })
            .await
    }

    async fn load(
        &self,
        project: &Project,
        row: &FunctionRow,
        version: &VersionRow,
    ) -> Result<Loaded, LoadError> {
        let world = World::parse(&version.world)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown world {:?}", version.world)))?;
        let linked = self.linked(&project.org_id, &version.sha256, world).await?;
        let env = row
            .settings
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let grants = self.grants(project, row).await?;
        let denials = Arc::new(crate::records::FunctionDenials::new(
            self.host.audit.clone(),
            project,
            row,
        ));
        let caps = self.host.services.capabilities(project, row, grants, denials);
        let reuse = match row.settings.reuse {
            Some(reuse) => self.reuse_unless_composed(reuse, row, version).await,
            None => None,
        };
        let function = linked
            .with_settings(limits(&row.settings), env)
            .with_capabilities(caps)
            .with_cpu_share(self.cpu_share(&project.id))
            .with_reuse(reuse, self.instance_room(project, row))
            .map_err(|e| LoadError::Runtime(e.to_string()))?;
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
        let mut sink = self.writer.sink(identity.clone());
        if function.is_quick() {
            sink = sink.quick();
        }
        Ok(Loaded {
            function,
            sink: Arc::new(sink),
            identity,
            gate: self.gate(project, row),
            http_auth: row.settings.http_auth,
            project: project.clone(),
            tags: row.settings.tags.clone(),
            sha256: version.sha256.clone(),
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

    /// The component of `sha` linked for `world`, as the org's functions
    /// that run it share it: made on the first load of one of them. Per
    /// org: a first call that were quicker because another tenant runs the
    /// same bytes would tell one what the other runs (as for deploys,
    /// `deployable`).
    async fn linked(&self, org_id: &str, sha: &str, world: World) -> Result<Function, LoadError> {
        let key = (org_id.to_owned(), sha.to_owned(), world);
        if let Some(linked) = self.linked.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(linked.clone());
        }
        let component = self.component(org_id, sha).await?;
        let linked = self
            .runtime
            .function(&component, world, Default::default(), Vec::new())
            .map_err(|e| LoadError::Runtime(e.to_string()))?;
        // Winch's code serves only until Cranelift's is swapped in: a link
        // of it kept here could outlive the swap (made as it ran).
        if !linked.is_quick() {
            self.linked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, linked.clone());
        }
        Ok(linked)
    }

    /// The component of `sha`: from memory, else the artifact cache, else
    /// compiled again from the stored original. Another node compiling the
    /// bytes for the org (behind a deploy answered from Winch's code
    /// there) is waited for, and its artifact taken.
    ///
    /// The claim is only taken to see that none other is live, and let go
    /// at once (briefly: a load its caller drops holds nothing up). Bytes
    /// Cranelift refused before are refused at once, not compiled again
    /// at every call.
    async fn component(&self, org_id: &str, sha: &str) -> Result<Component, LoadError> {
        if let Some(component) = self.compiled_before(org_id, sha).await? {
            return Ok(component);
        }
        if let Some(refusal) = self.refused(org_id, sha) {
            return Err(LoadError::Runtime(refusal));
        }
        let contended = self.claim_compile(org_id, sha, LOAD_WAITS_MS, 1_000).await?;
        self.release_compile(org_id, sha).await;
        if contended && let Some(component) = self.compiled_before(org_id, sha).await? {
            return Ok(component);
        }
        let bytes = self.artifacts.component(sha).await?;
        let compiled = match compile(&self.runtime, bytes, "cache_miss").await {
            Ok(compiled) => compiled,
            Err(e) => {
                self.refuse(org_id, sha, e.to_string());
                return Err(LoadError::Runtime(e.to_string()));
            }
        };
        self.artifacts
            .put_compiled(sha, &compiled.fingerprint, Bytes::from(compiled.artifact))
            .await?;
        self.remember_component(org_id, sha, compiled.component.clone());
        Ok(compiled.component)
    }

    /// The component of `sha` if this engine compiled it before: from
    /// memory, else its artifact (the digest checked), loaded; never
    /// compiled here.
    async fn compiled_before(&self, org_id: &str, sha: &str) -> Result<Option<Component>, LoadError> {
        if let Some(c) = self.remembered_component(org_id, sha) {
            return Ok(Some(c));
        }
        let Some((path, fingerprint)) = self.artifacts.fetch_compiled(sha).await? else {
            return Ok(None);
        };
        let start = Instant::now();
        let runtime = self.runtime.clone();
        let component = tokio::task::spawn_blocking(move || runtime.load_artifact(&path, &fingerprint))
            .await
            .map_err(|e| LoadError::Runtime(e.to_string()))?
            .map_err(|e| LoadError::Runtime(e.to_string()))?;
        metrics::counter!("minicloud_artifact_loads_total").increment(1);
        metrics::histogram!("minicloud_artifact_load_seconds").record(start.elapsed().as_secs_f64());
        self.remember_component(org_id, sha, component.clone());
        Ok(Some(component))
    }
}

/// How long a node's claim on compiling new bytes holds others back:
/// longer than the largest component takes to compile.
const COMPILE_CLAIM_MS: i64 = 300_000;

/// How long a load waits for another node's compile of the same bytes
/// before compiling them itself: a caller waits meanwhile, and a claim
/// left by a node that died would hold it up to `COMPILE_CLAIM_MS`.
const LOAD_WAITS_MS: i64 = 10_000;

/// Why a deploy's component could not be had.
#[derive(Debug, thiserror::Error)]
pub enum DeployableError {
    /// The bytes are no component this platform runs.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// Storing the original or its artifact failed.
    #[error(transparent)]
    Artifacts(#[from] ArtifactError),
}

/// A deploy's component, checked (and kept in memory for its first
/// call): its name and what it serves.
pub struct Deployable {
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// The world it serves.
    pub world: World,
    /// Whether its instances can be reused across requests (a WASI 0.3
    /// HTTP component).
    pub reusable: bool,
    /// Whether its inner components run code of their own (a
    /// composition), which keeps it from reusing instances.
    pub composed: bool,
}

impl Registry {
    /// The component of a deploy's `bytes` in org `org_id`, checked as a
    /// deploy checks it: bytes the org deployed before, compiled by this
    /// engine (in memory, or an artifact whose digest the store vouches
    /// for), are only checked again, in milliseconds; bytes new to the org
    /// are compiled once however many of its deploys bring them at once, on
    /// one node or several, and stored (original and artifact). Never
    /// faster because another org deployed the same bytes: a deploy's time
    /// must not tell one tenant what another runs.
    ///
    /// New bytes that Winch compiles (the quick tier) are answered from
    /// its code, the original stored first; Cranelift's compile runs
    /// behind the deploy, swaps its code in, stores the artifact and only
    /// then ends the claim (see [`Registry::compiles_behind`]).
    pub async fn deployable(
        self: &Arc<Self>,
        org_id: &str,
        bytes: Bytes,
    ) -> Result<Deployable, DeployableError> {
        let hashed = bytes.clone();
        let (sha, composed) = tokio::task::spawn_blocking(move || {
            (
                minicloud_runtime::artifact::sha256_hex(&hashed),
                minicloud_runtime::world::composes_components(&hashed),
            )
        })
        .await
        .map_err(|e| CompileError::Invalid(format!("hashing failed: {e}")))?;
        // The org's deploys of the same bytes, one at a time on this node:
        // one that waited for another finds what that one compiled.
        let slot = LoadSlot::take(&self.compiling, (org_id.to_owned(), sha.clone()));
        let (_one_at_a_time, waited) = match slot.lock.try_lock() {
            Ok(held) => (held, false),
            Err(_) => (slot.lock.lock().await, true),
        };
        // Bytes whose compile runs behind an earlier deploy of the org
        // (one the API refused after compiling, say) are the org's own.
        if (waited
            || self.quick.holds(org_id, &sha)
            || self.store.org_deployed(org_id, &sha).await.unwrap_or(false))
            && let Some(component) = self.compiled_before(org_id, &sha).await.ok().flatten()
        {
            return self.checked(sha, component, composed).await;
        }
        // Bytes Cranelift refused after Winch took them: refused now.
        if let Some(refusal) = self.refused(org_id, &sha) {
            return Err(CompileError::Invalid(refusal).into());
        }
        let contended = self
            .claim_compile(org_id, &sha, COMPILE_CLAIM_MS, COMPILE_CLAIM_MS)
            .await?;
        // Claimed after another node's claim ended: the artifact it stored
        // just before, if any, serves.
        let found = match contended {
            true => self.compiled_before(org_id, &sha).await.ok().flatten(),
            false => None,
        };
        let deployable = match found {
            Some(component) => self.checked(sha.clone(), component, composed).await,
            None => match self.quickly(org_id, &sha, &bytes, composed).await {
                Ok(Some((deployable, room))) => {
                    self.compile_behind(org_id, sha, bytes, room);
                    return Ok(deployable);
                }
                Ok(None) => self.compile_and_store(org_id, bytes, composed).await,
                Err(e) => Err(e),
            },
        };
        self.release_compile(org_id, &sha).await;
        deployable
    }

    /// Claims compiling `sha` for `org_id` for `for_ms`, after waiting (up
    /// to `wait_ms`) for another node's claim to end rather than compile
    /// the bytes too: whether there was one. Not for the artifact to appear:
    /// it may be there already, another org's, and finding it sooner than
    /// the org's own compile ends would tell this org that another
    /// deployed the same bytes.
    pub(super) async fn claim_compile(
        &self,
        org_id: &str,
        sha: &str,
        wait_ms: i64,
        for_ms: i64,
    ) -> Result<bool, ArtifactError> {
        let waited_since = Instant::now();
        let mut contended = false;
        while !self.artifacts.claim_compile(org_id, sha, for_ms).await? {
            contended = true;
            tokio::time::sleep(Duration::from_millis(50)).await;
            if waited_since.elapsed() > Duration::from_millis(wait_ms as u64) {
                break;
            }
        }
        Ok(contended)
    }

    /// Ends this node's claim on compiling `sha` for `org_id`.
    pub(super) async fn release_compile(&self, org_id: &str, sha: &str) {
        if let Err(e) = self.artifacts.release_compile(org_id, sha).await {
            tracing::warn!(error = %e, "cannot release a compile claim; it ends by itself");
        }
    }

    /// Compiles new bytes and stores the original and its artifact.
    async fn compile_and_store(
        &self,
        org_id: &str,
        bytes: Bytes,
        composed: bool,
    ) -> Result<Deployable, DeployableError> {
        let c = compile(&self.runtime, bytes.clone(), "deploy").await?;
        self.artifacts
            .put(&c.sha256, &c.fingerprint, bytes, Bytes::from(c.artifact))
            .await?;
        let reusable = reusable(&c.component);
        self.remember_component(org_id, &c.sha256, c.component);
        Ok(Deployable {
            sha256: c.sha256,
            world: c.world,
            reusable,
            composed,
        })
    }

    /// A deploy of a component compiled before: checked again (its world,
    /// imports and link), on a blocking thread.
    async fn checked(
        &self,
        sha: String,
        component: Component,
        composed: bool,
    ) -> Result<Deployable, DeployableError> {
        let runtime = self.runtime.clone();
        let (world, reusable) = tokio::task::spawn_blocking(move || {
            runtime
                .check(&component)
                .map(|world| (world, reusable(&component)))
        })
        .await
        .map_err(|e| CompileError::Invalid(format!("the check failed: {e}")))??;
        metrics::counter!("minicloud_deploys_compiled_before_total").increment(1);
        Ok(Deployable {
            sha256: sha,
            world,
            reusable,
            composed,
        })
    }

    /// Whether the component of `version` (of org `org_id`) can reuse its
    /// instances.
    pub async fn reusable(&self, org_id: &str, version: &VersionRow) -> Result<bool, LoadError> {
        let component = self.component(org_id, &version.sha256).await?;
        Ok(reusable(&component))
    }

    /// `reuse` unless `version` is a composition: deploys and changes
    /// refuse reuse to compositions, but a version given reuse before they
    /// did (or one whose composition cannot be told now) serves from fresh
    /// instances.
    async fn reuse_unless_composed(
        &self,
        reuse: minicloud_runtime::Reuse,
        row: &FunctionRow,
        version: &VersionRow,
    ) -> Option<minicloud_runtime::Reuse> {
        match self.composed(version).await {
            Ok(false) => Some(reuse),
            Ok(true) => {
                tracing::warn!(function = %row.name, version = version.version,
                    "a composed component does not reuse instances; serving from fresh ones");
                None
            }
            Err(e) => {
                tracing::warn!(function = %row.name, version = version.version, error = %e,
                    "cannot tell whether the component is composed; serving from fresh instances");
                None
            }
        }
    }

    /// Whether the component of `version` is a composition (see
    /// [`Deployable::composed`]): as its deploy recorded it, or, for a
    /// version deployed before that was recorded, read from its original
    /// bytes.
    pub async fn composed(&self, version: &VersionRow) -> Result<bool, LoadError> {
        if let Some(composed) = version.composed {
            return Ok(composed);
        }
        let bytes = self.artifacts.component(&version.sha256).await?;
        tokio::task::spawn_blocking(move || minicloud_runtime::world::composes_components(&bytes))
            .await
            .map_err(|e| LoadError::Runtime(format!("the check failed: {e}")))
    }
}

/// Whether a component's instances can serve more than one request: WASI
/// 0.3 HTTP components, whose handler is an async export.
pub(super) fn reusable(component: &Component) -> bool {
    minicloud_runtime::world::http_version(component.engine(), component)
        == Some(minicloud_runtime::world::HttpVersion::P3)
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
