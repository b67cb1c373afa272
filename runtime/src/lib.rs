//! # minicloud-runtime: the data plane
//!
//! The runtime is handed a function (a compiled component plus its limits and
//! settings) and runs invocations of it, each in a fresh sandbox. It knows
//! nothing of tenants, SQL or the HTTP API: what it needs from outside it asks
//! through small traits ([`report::ReportSink`], and the backends in
//! [`caps::backend`]).
//!
//! - [`engine`]: the two wasmtime [`wasmtime::Engine`]s (with and without the
//!   component model's async ABI; pooling allocator,
//!   epoch interruption driven by a single ticker) and the shared linker.
//! - [`artifact`]: deploy-time validation and compilation of components, and
//!   loading of compiled artifacts.
//! - [`caps`]: the host interfaces beyond WASI (storage, key-value, config,
//!   secrets, logging, identity, events, workflows, outbound HTTP), each
//!   checked against the function's grants; the backend traits the control
//!   plane implements.
//! - [`world`]: which platform world a component serves, and which imports
//!   the platform provides.
//! - [`function`]: a loaded, pre-instantiated function ready to invoke.
//! - [`limits`]: per-function limits, and the resource limiter that
//!   enforces memory.
//! - [`state`]: the per-instance store state: WASI contexts and the
//!   resource limiter; no filesystem, sockets or ambient environment.
//! - [`logs`]: capture of guest stdout and stderr into capped log lines.
//! - [`names`]: the name rules of resources and object keys, shared with
//!   the API.
//! - [`invocation`]: one invocation's store, deadline and report.
//! - [`cpu`]: CPU turns, so one tenant's long-running guests take at most
//!   its share of the CPU from the others.
//! - [`http`]: invoking `wasi:http/incoming-handler` (0.2) and
//!   `wasi:http/handler` (0.3) with streaming bodies.
//! - [`reuse`]: instance reuse across requests for WASI 0.3 HTTP
//!   functions that opt in.
//! - [`handler`]: invoking the `minicloud:platform/handler` world.
//! - [`report`]: what every invocation reports when it ends.
//! - [`error`]: compile and invocation errors, with stable codes.
#![deny(missing_docs)]

pub mod artifact;
pub mod caps;
pub mod cpu;
pub mod engine;
pub mod error;
pub mod function;
pub mod handler;
pub mod http;
pub mod invocation;
pub mod limits;
pub mod logs;
pub mod names;
pub mod report;
pub mod reuse;
pub mod state;
pub mod world;

pub use artifact::Compiled;
pub use caps::{Caller, CallerKind, Capabilities, HostLimits, Scope};
pub use cpu::CpuShare;
pub use engine::{Runtime, RuntimeConfig};
pub use error::{CompileError, InvokeError};
pub use function::Function;
pub use invocation::InvocationContext;
pub use limits::Limits;
pub use report::{InvocationReport, ReportSink};
pub use reuse::{InstanceQuota, Reuse, Room};
/// A compiled component, as loaded by [`Runtime::load_artifact`].
pub use wasmtime::component::Component;
pub use world::World;
