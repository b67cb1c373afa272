//! A loaded function: a pre-instantiated component plus its settings.

use crate::caps::Capabilities;
use crate::cpu::CpuShare;
use crate::engine::Runtime;
use crate::error::CompileError;
use crate::handler::bindings::HandlerPre;
use crate::limits::Limits;
use crate::reuse::{InstanceQuota, Instances, Pool, Reuse};
use crate::state::InstanceState;
use crate::world::{self, HttpVersion, World};
use std::sync::Arc;
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p3::bindings::ServicePre;

/// A component linked and pre-instantiated for its world.
pub(crate) enum Prepared {
    /// `wasi:http/incoming-handler@0.2`.
    Http(ProxyPre<InstanceState>),
    /// `wasi:http/handler@0.3`.
    Http3(ServicePre<InstanceState>),
    Handler(HandlerPre<InstanceState>),
}

impl Prepared {
    /// The engine the component was compiled for: its stores are made on it.
    pub(crate) fn engine(&self) -> &Engine {
        match self {
            Prepared::Http(pre) => pre.engine(),
            Prepared::Http3(pre) => pre.engine(),
            Prepared::Handler(pre) => pre.engine(),
        }
    }
}

/// A function ready to invoke. Cheap to clone; every invocation gets a fresh
/// instance from the pre-instantiated component.
#[derive(Clone)]
pub struct Function {
    pub(crate) runtime: Runtime,
    pub(crate) prepared: Arc<Prepared>,
    pub(crate) world: World,
    pub(crate) limits: Limits,
    pub(crate) env: Arc<[(String, String)]>,
    pub(crate) caps: Arc<Capabilities>,
    /// Whose CPU turns its long-running instances take (`cpu`).
    pub(crate) cpu: Option<CpuShare>,
    /// Its instances, when it reuses them (`reuse`).
    pub(crate) pool: Option<Arc<Pool>>,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("world", &self.world)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    pub(crate) fn prepare(&self, component: &Component, world: World) -> wasmtime::Result<Prepared> {
        let pre = self.host_of(component).linker.instantiate_pre(component)?;
        Ok(match world {
            World::Http => match world::http_version(component.engine(), component) {
                Some(HttpVersion::P3) => Prepared::Http3(ServicePre::new(pre)?),
                Some(HttpVersion::P2) | None => Prepared::Http(ProxyPre::new(pre)?),
            },
            World::Handler => Prepared::Handler(HandlerPre::new(pre)?),
        })
    }

    /// Links and pre-instantiates a component so that each invocation only
    /// has to instantiate. Functions of the same component and world can
    /// share the result: see [`Function::with_settings`].
    pub fn function(
        &self,
        component: &Component,
        world: World,
        limits: Limits,
        env: Vec<(String, String)>,
    ) -> Result<Function, CompileError> {
        let prepared = self
            .prepare(component, world)
            .map_err(|e| CompileError::Invalid(format!("{e:#}")))?;
        Ok(Function {
            runtime: self.clone(),
            prepared: Arc::new(prepared),
            world,
            limits,
            env: env.into(),
            caps: Arc::new(Capabilities::default()),
            cpu: None,
            pool: None,
        })
    }
}

impl Function {
    /// The world this function serves.
    pub fn world(&self) -> World {
        self.world
    }

    /// The `wasi:http` version an HTTP function exports.
    pub fn http_version(&self) -> Option<HttpVersion> {
        match &*self.prepared {
            Prepared::Http(_) => Some(HttpVersion::P2),
            Prepared::Http3(_) => Some(HttpVersion::P3),
            Prepared::Handler(_) => None,
        }
    }

    /// Whether it runs Winch's code, the quick tier's, until Cranelift's
    /// is swapped in (see [`Runtime::compile_quick`]).
    pub fn is_quick(&self) -> bool {
        self.runtime.is_quick_engine(self.prepared.engine())
    }

    /// The limits each invocation runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// What its instances may use of the platform.
    pub fn capabilities(&self) -> &Arc<Capabilities> {
        &self.caps
    }

    /// The same code with other capabilities (grants, backends, settings).
    /// Long-running instances of this function take turns of `share`
    /// with the other functions given it (one tenant's).
    pub fn with_cpu_share(mut self, share: CpuShare) -> Function {
        self.cpu = Some(share);
        self
    }

    /// The same linked code with other limits and environment: functions
    /// of one component share its pre-instantiation (made once, the
    /// imports checked once) instead of each linking it again.
    pub fn with_settings(mut self, limits: Limits, env: Vec<(String, String)>) -> Function {
        self.limits = limits;
        self.env = env.into();
        self
    }

    /// The same function with capabilities.
    pub fn with_capabilities(mut self, caps: Capabilities) -> Function {
        self.caps = Arc::new(caps);
        self
    }

    /// The same function serving requests with reused instances (`None`: a
    /// fresh instance per request), each holding its memory in `quota`
    /// while it lives. Only WASI 0.3 HTTP components can: the refusal says
    /// why. Call it after the other `with_*`: the instances are made with
    /// the function as it is now.
    pub fn with_reuse(
        mut self,
        reuse: Option<Reuse>,
        quota: Arc<dyn InstanceQuota>,
    ) -> Result<Function, CompileError> {
        self.pool = None;
        let Some(reuse) = reuse else {
            return Ok(self);
        };
        reuse.check().map_err(CompileError::Invalid)?;
        let Prepared::Http3(pre) = &*self.prepared else {
            return Err(CompileError::Invalid(
                "instance reuse needs a WASI 0.3 HTTP component (one that exports wasi:http/handler@0.3.0)"
                    .into(),
            ));
        };
        self.pool = Some(Arc::new(Instances::pool(self.clone(), pre.clone(), reuse, quota)));
        Ok(self)
    }

    /// How its instances are reused, if they are.
    pub fn reuse(&self) -> Option<Reuse> {
        self.pool.as_ref().map(|pool| pool.reuse())
    }
}
