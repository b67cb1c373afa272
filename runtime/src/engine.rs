//! The one wasmtime engine, its linker and its epoch ticker.

use crate::state::InstanceState;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

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
    /// Serve WASI 0.3 components. Off by default: the component model's
    /// async ABI makes every store carry concurrency support, which costs
    /// each WASI 0.2 invocation about 60 % more in process (BENCHMARKS.md).
    pub wasi_03: bool,
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
            wasi_03: false,
        }
    }
}

/// The data plane's shared core: engine, linker and epoch ticker. Cheap to
/// clone.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<InstanceState>,
    pub(crate) config: RuntimeConfig,
    /// The node's reused instances (`reuse`).
    pub(crate) reused: Arc<crate::reuse::Reused>,
    fingerprint: String,
    stop_ticker: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.inner.config)
            .field("fingerprint", &self.inner.fingerprint)
            .finish()
    }
}

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the WebAssembly runtime: {0}")]
pub struct StartError(String);

impl Runtime {
    /// Builds the engine (Cranelift, pooling allocator, epoch interruption,
    /// with `wasi_03` the component model's async ABI), links WASI 0.2 (and
    /// 0.3), wasi:http of each and the platform's capabilities into one
    /// linker, and starts the ticker.
    pub fn new(config: RuntimeConfig) -> Result<Self, StartError> {
        let engine = build_engine(&config).map_err(|e| StartError(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .and_then(|()| wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker))
            .and_then(|()| match config.wasi_03 {
                true => wasmtime_wasi::p3::add_to_linker(&mut linker)
                    .and_then(|()| wasmtime_wasi_http::p3::add_to_linker(&mut linker)),
                false => Ok(()),
            })
            .and_then(|()| crate::caps::add_to_linker(&mut linker))
            .map_err(|e| StartError(format!("{e:#}")))?;
        let fingerprint = fingerprint(&engine);
        let stop_ticker = Arc::new(AtomicBool::new(false));
        spawn_ticker(&engine, config.epoch_tick, stop_ticker.clone())?;
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                linker,
                config,
                reused: Arc::default(),
                fingerprint,
                stop_ticker,
            }),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The engine settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// A short hex digest of everything that decides whether a compiled
    /// artifact loads into this engine (wasmtime version, target, settings).
    pub fn fingerprint(&self) -> &str {
        &self.inner.fingerprint
    }
}

fn build_engine(config: &RuntimeConfig) -> wasmtime::Result<Engine> {
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
    cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .epoch_interruption(true)
        // WASI 0.3 components: async exports and imports, streams, futures;
        // without them no store pays for concurrency support.
        .wasm_component_model_async(config.wasi_03)
        .concurrency_support(config.wasi_03)
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

/// One engine-wide ticker: a timer per request costs orders of magnitude in
/// throughput (wasmtime issue 11814).
fn spawn_ticker(engine: &Engine, tick: Duration, stop: Arc<AtomicBool>) -> Result<(), StartError> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("minicloud-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .map(drop)
        .map_err(|e| StartError(format!("cannot start the epoch ticker: {e}")))
}
