//! The state each instance's `Store` holds.
//!
//! Deny by default, as wasmtime's `WasiCtxBuilder` does: no preopened
//! directories, no sockets, no name lookups, outbound HTTP only to hosts the
//! function's role grants, and only the environment variables configured
//! for the function.

use crate::caps::CapState;
use crate::limits::MemoryLimiter;
use crate::logs::{LogCapture, LogStream};
use crate::reuse::RequestCaps;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Per-instance state: WASI contexts, the resource table, the limiter and
/// the capabilities with what this invocation used of them.
pub struct InstanceState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    pub(crate) caps: CapState,
    /// A reused instance's other requests' capabilities, swapped into
    /// `caps` for the request whose task makes a host call (`crate::reuse`).
    pub(crate) requests: Option<Box<RequestCaps>>,
    pub(crate) limiter: MemoryLimiter,
}

impl InstanceState {
    pub(crate) fn new(
        env: &[(String, String)],
        logs: &LogCapture,
        memory_limit: u64,
        caps: CapState,
    ) -> Self {
        let wasi = WasiCtxBuilder::new()
            .stdout(logs.stream(LogStream::Stdout))
            .stderr(logs.stream(LogStream::Stderr))
            .envs(env)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            caps,
            requests: None,
            limiter: MemoryLimiter::new(memory_limit),
        }
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    /// Outbound requests go through the capability state, which refuses
    /// hosts the function's role does not grant.
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.caps,
        }
    }
}
