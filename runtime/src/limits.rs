//! Per-function limits and the resource limiter that enforces memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Limits of one function, enforced on every invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory a single instance may grow to, in bytes.
    pub memory_bytes: u64,
    /// Wall-clock time an invocation may take, response streaming included.
    pub timeout: Duration,
    /// Largest request body handed to the guest, in bytes.
    pub max_request_bytes: u64,
    /// Largest response body taken from the guest, in bytes.
    pub max_response_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 128 * 1024 * 1024,
            timeout: Duration::from_secs(10),
            max_request_bytes: 10 * 1024 * 1024,
            max_response_bytes: 1024 * 1024 * 1024 * 4,
        }
    }
}

/// Enforces the memory limit and records the peak, so that a refused growth
/// can be blamed on the limit rather than reported as a bare trap.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    pub(crate) limit: u64,
    pub(crate) peak: u64,
    pub(crate) denied: bool,
    /// The same figures for readers outside the store (a reused instance's
    /// requests, reported while the instance lives on).
    pub(crate) shared: Option<Arc<MemoryUse>>,
}

/// An instance's peak memory and whether a growth was refused, readable
/// without the store.
#[derive(Debug, Default)]
pub(crate) struct MemoryUse {
    pub(crate) peak: AtomicU64,
    pub(crate) denied: AtomicBool,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit,
            peak: 0,
            denied: false,
            shared: None,
        }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // The limit applies to each linear memory; Rust and C guests have one.
        if desired as u64 > self.limit {
            self.denied = true;
            if let Some(shared) = &self.shared {
                shared.denied.store(true, Ordering::Relaxed);
            }
            return Ok(false);
        }
        self.peak = self.peak.max(desired as u64);
        if let Some(shared) = &self.shared {
            shared.peak.fetch_max(desired as u64, Ordering::Relaxed);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
