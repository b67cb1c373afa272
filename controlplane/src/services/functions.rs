//! The functions service: deploys, changes and deletes functions, keeping
//! the loaded copies in step with the store, and [`FunctionService::invoke`]
//! is the one way any trigger (the HTTP gateway, the invoke API, event
//! deliveries, and later workflow steps and schedules) runs a function: the
//! gate admits it, it gets an invocation id and its context, and its record
//! goes to the function's sink.

use crate::artifacts::ArtifactError;
use crate::capabilities::identity;
use crate::gate::{InFlight, Refused, Tenants};
use crate::iam::{Authorizer, Caller};
use crate::registry::{LoadError, Registry};
use crate::store::functions::{DeployOutcome, FunctionRow, NewVersion, Settings, VersionRow};
use crate::store::projects::Project;
use crate::store::quotas::{CreateRefused, Kind, QuotaBook, QuotaError, QuotaExceeded};
use crate::store::{Store, StoreError};
use axum::body::Body;
use bytes::Bytes;
use http_body_util::BodyExt;
use minicloud_runtime::caps::backend::{DeliveryInfo, TaskInfo};
use minicloud_runtime::{CompileError, InvocationContext, InvokeError};
use std::sync::Arc;

pub use crate::registry::Loaded;

/// Why the functions service refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum FunctionError {
    /// No such function in the project.
    #[error("function {name:?} does not exist in project {project:?}")]
    NotFound {
        /// The project's name.
        project: String,
        /// The function's name.
        name: String,
    },
    /// The function has no such version.
    #[error("function {name:?} has no version {version}")]
    NoVersion {
        /// The function's name.
        name: String,
        /// The version asked for.
        version: i64,
    },
    /// Another deploy of the same function won the race.
    #[error("another deploy of this function finished first; retry")]
    Conflict,
    /// A quota of the project or org.
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
    /// The gate did not admit the invocation.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The component does not compile.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// Instance reuse asked of a component that cannot reuse instances.
    #[error(
        "instance reuse needs a WASI 0.3 HTTP component (one that exports wasi:http/handler@0.3.0); \
         {which} of function {name:?} is not one: deploy such a component, or turn reuse off \
         (\"reuse\": \"off\" in a change, reuse=off in a deploy's query)"
    )]
    NotReusable {
        /// The function's name.
        name: String,
        /// The version that would serve, as the message names it.
        which: String,
    },
    /// Instance reuse asked of a composition, whose inner components' calls
    /// to each other can outlive the request that made them.
    #[error(
        "instance reuse is not available for a composed component (one whose inner components run \
         code of their own): a call between its inner components can outlive the request that made \
         it, and would then act for another request's caller; {which} of function {name:?} is one: \
         turn reuse off (\"reuse\": \"off\" in a change, reuse=off in a deploy's query)"
    )]
    ComposedNotReusable {
        /// The function's name.
        name: String,
        /// The version that would serve, as the message names it.
        which: String,
    },
    /// The invocation failed.
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    /// A JSON input larger than the function takes.
    #[error("the input is larger than the function's limit of {0} bytes")]
    InputTooLarge(u64),
    /// A JSON input that is not JSON.
    #[error("{0}")]
    InputNotJson(String),
    /// The caller's body could not be read to its end.
    #[error("reading the input failed: {0}")]
    InputUnreadable(String),
    /// The function could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The artifact store failed.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::registry::DeployableError> for FunctionError {
    fn from(e: crate::registry::DeployableError) -> Self {
        match e {
            crate::registry::DeployableError::Compile(c) => c.into(),
            crate::registry::DeployableError::Artifacts(a) => a.into(),
        }
    }
}

impl From<QuotaError> for FunctionError {
    fn from(e: QuotaError) -> Self {
        match e {
            QuotaError::Exceeded(q) => q.into(),
            QuotaError::Store(e) => e.into(),
        }
    }
}

type Result<T, E = FunctionError> = std::result::Result<T, E>;

/// What a trigger hands a function.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "moved once per invocation; boxing the request would allocate on the hot path"
)]
pub enum Input {
    /// A request for the `wasi:http` handler, streamed both ways.
    Http(http::Request<Body>),
    /// JSON text for the `handler` world.
    Json(String),
    /// A JSON body still to be read: read once the gate admits the call,
    /// within the function's request limit, so that a crowd of large
    /// inputs costs queue places, not memory.
    JsonBody(Body),
}

/// What the function answered.
#[derive(Debug)]
pub enum Output {
    /// The HTTP handler's response.
    Http(http::Response<Body>),
    /// The `handler` world's JSON text.
    Json(String),
}

/// Who or what started an invocation.
#[derive(Debug)]
pub struct Trigger {
    /// The verified principal behind the call; `None` for anonymous calls
    /// and events.
    pub caller: Option<Caller>,
    /// The trace id the invocation's log lines carry.
    pub trace_id: Arc<str>,
    /// The event delivery, when an event rule triggered it.
    pub delivery: Option<Arc<DeliveryInfo>>,
    /// The workflow task, when a workflow's Task state triggered it.
    pub task: Option<Arc<TaskInfo>>,
}

/// An invocation's outcome.
#[derive(Debug)]
pub struct Invoked {
    /// Its id (records and logs are found by it).
    pub invocation_id: String,
    /// The answer.
    pub output: Output,
}

/// A deploy's outcome.
#[derive(Debug)]
pub struct Deployed {
    /// The function as stored.
    pub function: FunctionRow,
    /// Its new (or already existing, for the same bytes) active version.
    pub version: VersionRow,
    /// Whether the function was new.
    pub outcome: DeployOutcome,
}

/// Functions: their life cycle and their invocations.
#[derive(Debug)]
pub struct FunctionService {
    registry: Arc<Registry>,
    store: Store,
    quotas: Arc<QuotaBook>,
    authorizer: Arc<Authorizer>,
    defaults: Settings,
}

/// Refuses instance reuse for `which` of function `name` unless its
/// component can reuse instances: a WASI 0.3 HTTP component
/// (`reusable`) that is no composition.
fn refuse_reuse(name: &str, which: &str, reusable: bool, composed: bool) -> Result<()> {
    let (name, which) = (name.to_owned(), which.to_owned());
    if !reusable {
        return Err(FunctionError::NotReusable { name, which });
    }
    if composed {
        return Err(FunctionError::ComposedNotReusable { name, which });
    }
    Ok(())
}

impl FunctionService {
    /// The service over loaded functions and their store; new functions
    /// start with `defaults`.
    pub fn new(
        registry: Arc<Registry>,
        store: Store,
        quotas: Arc<QuotaBook>,
        authorizer: Arc<Authorizer>,
        defaults: Settings,
    ) -> Self {
        Self {
            registry,
            store,
            quotas,
            authorizer,
            defaults,
        }
    }

    /// Settings of a new function, before the deploy's own.
    pub fn default_settings(&self) -> Settings {
        self.defaults.clone()
    }

    /// Invocations in flight across all functions.
    pub fn in_flight(&self) -> &Arc<InFlight> {
        self.registry.in_flight()
    }

    /// Waits for the compiles behind deploys (see
    /// [`Registry::compiles_behind`]); whether they all ended in `grace`.
    pub async fn compiles_behind(&self, grace: std::time::Duration) -> bool {
        self.registry.compiles_behind(grace).await
    }

    /// The projects' and orgs' pools (what runs under each quota).
    pub fn tenants(&self) -> &Arc<Tenants> {
        self.registry.tenants()
    }

    /// Grants of an org's execution roles may have changed: its functions
    /// load afresh on their next call (compiled components stay in
    /// memory). Another org's IAM cannot grant into it, so other orgs'
    /// functions stay loaded, and their warm instances warm: before, any
    /// org's IAM write reloaded every function on the node and so ended
    /// every org's idle reused instances.
    pub fn roles_changed(&self, org_id: &str) {
        self.registry.invalidate_org(org_id);
    }

    /// The function loaded, if it is, without touching the store: the hot
    /// path of triggers that know only names.
    pub fn cached(&self, project: &str, name: &str) -> Option<Arc<Loaded>> {
        self.registry.cached(project, name)
    }

    /// The function's active version, ready to invoke (loaded on a miss).
    pub async fn target(&self, project: &Project, name: &str) -> Result<Arc<Loaded>> {
        self.registry
            .get(project, name)
            .await?
            .ok_or_else(|| FunctionError::NotFound {
                project: project.name.clone(),
                name: name.to_owned(),
            })
    }

    /// Deploys `bytes` as the new active version of `name`: checks the
    /// quota for a new function, compiles (bytes compiled before are only
    /// checked again), stores the component and its artifact, writes the
    /// version with `settings`, and replaces the loaded copy. The same
    /// bytes again make no new version.
    pub async fn deploy(
        &self,
        project: &Project,
        name: &str,
        bytes: Bytes,
        settings: &Settings,
    ) -> Result<Deployed> {
        let registry = &self.registry;
        let size_bytes = bytes.len() as i64;
        let compiled = registry.deployable(&project.org_id, bytes).await?;
        if settings.reuse.is_some() {
            refuse_reuse(
                name,
                "the component deployed",
                compiled.reusable,
                compiled.composed,
            )?;
        }
        let new = NewVersion {
            sha256: &compiled.sha256,
            size_bytes,
            world: compiled.world.as_str(),
            composed: compiled.composed,
        };
        let limit = self.quotas.count_limit(project, Kind::Functions);
        let (function, version, outcome) = self
            .store
            .in_project(project)
            .deploy(name, new, settings, &limit)
            .await?
            .map_err(|e| match e {
                CreateRefused::Conflict => FunctionError::Conflict,
                CreateRefused::Quota(q) => q.into(),
            })?;
        registry.invalidate(project, name);
        Ok(Deployed {
            function,
            version,
            outcome,
        })
    }

    /// Refuses early (before an upload is read) when a new function would
    /// pass the project's or org's quota; the deploy checks again as it
    /// writes.
    pub async fn room_for_new(&self, project: &Project) -> Result<()> {
        Ok(self.quotas.room_for_one(project, Kind::Functions).await?)
    }

    /// Stores changed settings or active version of `f`, and loads it
    /// afresh on its next call; answers the row as stored, with its active
    /// version.
    pub async fn update(&self, project: &Project, f: &FunctionRow) -> Result<(FunctionRow, VersionRow)> {
        let scope = self.store.in_project(project);
        // The version asked for is the one that serves once stored.
        let Some(v) = scope.version(&f.id, f.active_version).await? else {
            return Err(FunctionError::NoVersion {
                name: f.name.clone(),
                version: f.active_version,
            });
        };
        if f.settings.reuse.is_some() {
            let reusable = self.registry.reusable(&project.org_id, &v).await?;
            let composed = reusable && self.registry.composed(&v).await?;
            refuse_reuse(&f.name, &format!("version {}", v.version), reusable, composed)?;
        }
        scope.update_function(f).await?;
        self.registry.invalidate(project, &f.name);
        let not_found = || FunctionError::NotFound {
            project: project.name.clone(),
            name: f.name.clone(),
        };
        // Read back for the stored update time.
        let f = scope.function(&f.name).await?.ok_or_else(not_found)?;
        Ok((f, v))
    }

    /// Deletes `f`; calls in flight finish, new ones find nothing.
    pub async fn delete(&self, project: &Project, f: &FunctionRow) -> Result<()> {
        self.store.in_project(project).delete_function(&f.id).await?;
        self.registry.invalidate(project, &f.name);
        self.registry.forget(&f.id);
        Ok(())
    }

    /// The version of `f` that serves its calls.
    pub async fn active_version(&self, project: &Project, f: &FunctionRow) -> Result<VersionRow> {
        self.store
            .in_project(project)
            .version(&f.id, f.active_version)
            .await?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("function {} lost version {}", f.name, f.active_version)).into()
            })
    }

    /// Runs `target` on `input`: waits at its gate (or is refused), gives
    /// the invocation an id and its context, and answers what the function
    /// returned. Its record and logs go to the function's sink.
    pub async fn invoke(&self, target: &Loaded, input: Input, trigger: Trigger) -> Result<Invoked> {
        let permit = target.gate.admit().await?;
        let invocation_id = crate::util::new_id();
        let ctx = InvocationContext {
            invocation_id: invocation_id.clone(),
            trace_id: trigger.trace_id,
            sink: target.sink.clone(),
            caller: match trigger.caller {
                Some(c) => identity::caller(self.authorizer.clone(), self.store.clone(), Some(c)),
                None => minicloud_runtime::Caller::anonymous(),
            },
            delivery: trigger.delivery,
            task: trigger.task,
        };
        let function = &target.function;
        let output = match input {
            Input::Http(req) => Output::Http(function.handle_http(req, ctx, permit).await?.map(Body::new)),
            Input::Json(text) => Output::Json(function.invoke_json(text, ctx, permit).await?),
            Input::JsonBody(body) => {
                let text = read_json(body, function.limits().max_request_bytes).await?;
                Output::Json(function.invoke_json(text, ctx, permit).await?)
            }
        };
        Ok(Invoked {
            invocation_id,
            output,
        })
    }
}

/// Reads a JSON input of at most `max` bytes. It is checked, not kept:
/// the guest gets the caller's text as it came.
async fn read_json(body: Body, max: u64) -> Result<String> {
    let bytes = http_body_util::Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX))
        .collect()
        .await
        .map_err(|e| match e.downcast_ref::<http_body_util::LengthLimitError>() {
            Some(_) => FunctionError::InputTooLarge(max),
            None => FunctionError::InputUnreadable(e.to_string()),
        })?
        .to_bytes();
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| FunctionError::InputNotJson("the input is not UTF-8 JSON".into()))?;
    serde_json::from_str::<serde::de::IgnoredAny>(&text)
        .map_err(|e| FunctionError::InputNotJson(format!("the input is not JSON: {e}")))?;
    Ok(text)
}
