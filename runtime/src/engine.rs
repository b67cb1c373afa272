//! The wasmtime engines (with and without the component model's async
//! ABI), their linkers and the epoch ticker.

use crate::state::InstanceState;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Strategy};

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Instances that may be alive at once (pool slots).
    pub pool_instances: u32,
    /// The ceiling of any function's memory limit, in bytes; sizes the slots.
    pub max_memory_bytes: u64,
    /// Period of the epoch ticker; deadlines are checked once per tick.
    pub epoch_tick: Duration,
    /// Bytes of wasm stack a guest may use before it traps.
    pub max_wasm_stack: usize,
    /// Bytes of stdout and stderr kept per invocation; the rest is counted.
    pub log_bytes_per_invocation: usize,
    /// Bytes of each linear memory kept resident between instances: the
    /// pages a guest dirtied are reset in place (found with Linux's
    /// `PAGEMAP_SCAN`) instead of being unmapped and faulted in again.
    pub keep_resident_bytes: usize,
    /// Whether new bytes may first be compiled by Winch, wasmtime's
    /// baseline compiler, while Cranelift's optimised compile runs behind
    /// (see [`Runtime::compile_quick`]).
    pub quick_tier: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            pool_instances: 512,
            max_memory_bytes: 1024 * 1024 * 1024,
            epoch_tick: Duration::from_millis(1),
            max_wasm_stack: 1024 * 1024,
            log_bytes_per_invocation: 64 * 1024,
            keep_resident_bytes: 2 * 1024 * 1024,
            quick_tier: true,
        }
    }
}

/// The data plane's shared core: the engines with their linkers, and the
/// epoch ticker that drives them. Cheap to clone.
///
/// Components that use the component model's async ABI (WASI 0.3) need
/// an engine with concurrency support, and every store of such an engine
/// pays for it: a WASI 0.2 invocation costs about 60 % more in process
/// (BENCHMARKS.md, 2026-12-04). So WASI 0.2 components and the handler
/// world run on an engine without it, and each component is compiled for
/// the first of the two that accepts it; its artifact is stored under that
/// engine's fingerprint. The engine with the async ABI is built when first
/// needed: a node that never sees a WASI 0.3 component never pays for its
/// pool's reservations at start.
///
/// A third engine, also built when first needed, compiles with Winch
/// instead of Cranelift (the quick tier): about three times faster to
/// compile, a few percent slower to run (BENCHMARKS.md, 2026-12-07
/// night). A deploy of new bytes answers from its code while Cranelift's
/// compile runs behind it, and the platform swaps Cranelift's in once
/// stored; Winch's code is never stored. It has a pool of its own, as
/// large as the others (virtual reservations, made at its first use).
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
}

/// An engine and the linker of everything the platform provides to it.
pub(crate) struct Host {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<InstanceState>,
    fingerprint: String,
}

pub(crate) struct Inner {
    /// WASI 0.2 and the handler world: no async ABI.
    sync_abi: Host,
    /// The component model's async ABI: WASI 0.3 (and 0.2 beside it);
    /// built on first use, or why it could not be.
    async_abi: OnceLock<Result<Host, String>>,
    /// Winch's (no async ABI): WASI 0.2 and the handler world, compiled
    /// quickly; built on first use, or why it could not be.
    quick: OnceLock<Result<Host, String>>,
    pub(crate) config: RuntimeConfig,
    /// The node's reused instances (`reuse`).
    pub(crate) reused: Arc<crate::reuse::Reused>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.inner.config)
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the WebAssembly runtime: {0}")]
pub struct StartError(String);

impl Runtime {
    /// Builds the engine without the async ABI (Cranelift, pooling
    /// allocator, epoch interruption), links WASI 0.2, wasi:http and the
    /// platform's capabilities into its linker, and starts the ticker.
    pub fn new(config: RuntimeConfig) -> Result<Self, StartError> {
        let sync_abi = Host::new(&config, Kind::Sync)?;
        let inner = Arc::new(Inner {
            sync_abi,
            async_abi: OnceLock::new(),
            quick: OnceLock::new(),
            config,
            reused: Arc::default(),
        });
        spawn_ticker(Arc::downgrade(&inner), inner.config.epoch_tick)?;
        Ok(Self { inner })
    }

    /// The engine of WASI 0.2 components and the handler world.
    pub fn engine(&self) -> &Engine {
        &self.inner.sync_abi.engine
    }

    /// The engine settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// A short hex digest of everything that decides whether a compiled
    /// artifact loads into the engine without the async ABI, which most
    /// components are compiled for (wasmtime version, target, settings).
    pub fn fingerprint(&self) -> &str {
        &self.inner.sync_abi.fingerprint
    }

    /// The same for the engine with the async ABI (built if it was not).
    pub fn async_fingerprint(&self) -> Result<&str, StartError> {
        self.async_abi().map(Host::fingerprint)
    }

    /// The same, if that engine is built (never builds it).
    pub fn async_fingerprint_if_built(&self) -> Option<&str> {
        match self.inner.async_abi.get() {
            Some(Ok(host)) => Some(host.fingerprint()),
            _ => None,
        }
    }

    /// The engine without the async ABI.
    pub(crate) fn sync_abi(&self) -> &Host {
        &self.inner.sync_abi
    }

    /// The engine with the async ABI, built on first use.
    pub(crate) fn async_abi(&self) -> Result<&Host, StartError> {
        let built = self
            .inner
            .async_abi
            .get_or_init(|| Host::new(&self.inner.config, Kind::Async).map_err(|e| e.0));
        built.as_ref().map_err(|e| StartError(e.clone()))
    }

    /// Winch's engine, built on first use; `None` when the quick tier is
    /// turned off or Winch cannot build here (it compiles for x86_64
    /// only): then everything is compiled by Cranelift at once.
    pub(crate) fn quick(&self) -> Option<&Host> {
        if !self.inner.config.quick_tier {
            return None;
        }
        let built = self.inner.quick.get_or_init(|| {
            Host::new(&self.inner.config, Kind::Quick).map_err(|e| {
                tracing::warn!(error = %e, "no quick tier: Winch's engine cannot be built here");
                e.0
            })
        });
        built.as_ref().ok()
    }

    /// Whether `component` runs Winch's code (see [`Runtime::compile_quick`]).
    pub fn is_quick(&self, component: &Component) -> bool {
        self.is_quick_engine(component.engine())
    }

    /// Whether `engine` is Winch's.
    pub(crate) fn is_quick_engine(&self, engine: &Engine) -> bool {
        matches!(self.inner.quick.get(), Some(Ok(host)) if Engine::same(engine, &host.engine))
    }

    /// The engine and linker a component was compiled for.
    pub(crate) fn host_of(&self, component: &Component) -> &Host {
        [&self.inner.async_abi, &self.inner.quick]
            .into_iter()
            .find_map(|built| match built.get() {
                Some(Ok(host)) if Engine::same(component.engine(), &host.engine) => Some(host),
                _ => None,
            })
            .unwrap_or(&self.inner.sync_abi)
    }
}

/// Which of the engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Cranelift, no async ABI: WASI 0.2 and the handler world.
    Sync,
    /// Cranelift with the async ABI: WASI 0.3.
    Async,
    /// Winch, no async ABI: the quick tier.
    Quick,
}

impl Host {
    fn new(config: &RuntimeConfig, kind: Kind) -> Result<Self, StartError> {
        let async_abi = kind == Kind::Async;
        let engine = build_engine(config, kind).map_err(|e| StartError(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .and_then(|()| wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker))
            .and_then(|()| match async_abi {
                true => wasmtime_wasi::p3::add_to_linker(&mut linker)
                    .and_then(|()| wasmtime_wasi_http::p3::add_to_linker(&mut linker)),
                false => Ok(()),
            })
            .and_then(|()| crate::caps::add_to_linker(&mut linker))
            .map_err(|e| StartError(format!("{e:#}")))?;
        let fingerprint = fingerprint(&engine);
        Ok(Self {
            engine,
            linker,
            fingerprint,
        })
    }

    /// The engine's fingerprint (see [`Runtime::fingerprint`]).
    pub(crate) fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

fn build_engine(config: &RuntimeConfig, kind: Kind) -> wasmtime::Result<Engine> {
    let async_abi = kind == Kind::Async;
    let n = config.pool_instances.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n * 8)
        .total_memories(n * 2)
        .total_tables(n * 8)
        .total_stacks(n)
        .max_core_instances_per_component(32)
        .max_memories_per_component(4)
        .max_tables_per_component(16)
        .max_memory_size(usize::try_from(config.max_memory_bytes).unwrap_or(usize::MAX))
        // Each instance writes to copy-on-write pages of the memory image;
        // unmapping them afterwards makes the next instance fault them in
        // again, and every fault flushes the TLB on all cores. Resetting the
        // dirty pages in place avoids both.
        .linear_memory_keep_resident(config.keep_resident_bytes)
        .table_keep_resident(64 * 1024)
        .pagemap_scan(wasmtime::Enabled::Auto);
    let mut cfg = Config::new();
    if kind == Kind::Quick {
        cfg.strategy(Strategy::Winch);
    }
    // A pool for each engine, Winch's too: besides reusing slots, the pool
    // refuses at compile what would not fit one (memories and tables per
    // module, table elements, instance size), which no other part checks.
    cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .epoch_interruption(true)
        // WASI 0.3 components: async exports and imports, streams, futures;
        // without them no store pays for concurrency support.
        .wasm_component_model_async(async_abi)
        .concurrency_support(async_abi)
        .max_wasm_stack(config.max_wasm_stack)
        .async_stack_size(config.max_wasm_stack + 1024 * 1024)
        .parallel_compilation(true);
    Engine::new(&cfg)
}

fn fingerprint(engine: &Engine) -> String {
    struct ShaHasher(Sha256);
    impl Hasher for ShaHasher {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(&hasher.0.finalize()[..8])
}

/// One ticker for the engines: a timer per request costs orders of
/// magnitude in throughput (wasmtime issue 11814). It ends with the runtime.
fn spawn_ticker(runtime: Weak<Inner>, tick: Duration) -> Result<(), StartError> {
    std::thread::Builder::new()
        .name("minicloud-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                let Some(inner) = runtime.upgrade() else { break };
                inner.sync_abi.engine.increment_epoch();
                for built in [&inner.async_abi, &inner.quick] {
                    if let Some(Ok(host)) = built.get() {
                        host.engine.increment_epoch();
                    }
                }
            }
        })
        .map(drop)
        .map_err(|e| StartError(format!("cannot start the epoch ticker: {e}")))
}
