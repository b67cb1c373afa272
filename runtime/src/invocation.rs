//! One invocation: its store, its deadline, how its failure is judged, and
//! its report.

use crate::caps::{Caller, CapState};
use crate::error::InvokeError;
use crate::function::Function;
use crate::logs::{LogCapture, now_ms};
use crate::report::{InvocationReport, ReportSink};
use crate::state::InstanceState;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{CallHook, Store, Trap, UpdateDeadline};

/// Who is invoking, for the report and the logs.
#[derive(Clone)]
pub struct InvocationContext {
    /// Unique id of this invocation.
    pub invocation_id: String,
    /// The trace id of the request that caused it (shared: the capabilities
    /// and the report carry it too).
    pub trace_id: Arc<str>,
    /// Where the report goes when the invocation ends.
    pub sink: Arc<dyn ReportSink>,
    /// Who called, for `identity`.
    pub caller: Arc<Caller>,
    /// The event delivery it serves, for `events.current-delivery`.
    pub delivery: Option<Arc<crate::caps::backend::DeliveryInfo>>,
    /// The workflow task it runs, for `workflows.current-task`.
    pub task: Option<Arc<crate::caps::backend::TaskInfo>>,
}

impl std::fmt::Debug for InvocationContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvocationContext")
            .field("invocation_id", &self.invocation_id)
            .field("trace_id", &self.trace_id)
            .finish_non_exhaustive()
    }
}

/// Runs a guest's future under the wall-clock deadline. The epoch catches a
/// spinning guest; this timer catches one waiting on I/O.
pub(crate) async fn with_deadline<T>(
    (deadline, timeout): (Instant, Duration),
    fut: impl Future<Output = T>,
) -> Result<T, InvokeError> {
    let grace = Duration::from_millis(50);
    tokio::time::timeout_at((deadline + grace).into(), fut)
        .await
        .map_err(|_| InvokeError::Timeout(timeout))
}

/// How much of stderr an error message quotes.
const STDERR_IN_ERROR: usize = 512;

pub(crate) struct Invocation {
    pub(crate) store: Store<InstanceState>,
    /// Its hold on its tenant's CPU turns, if it has a share.
    pub(crate) turn: Option<crate::cpu::Turn>,
    deadline: Instant,
    started: Instant,
    started_ms: i64,
    logs: LogCapture,
    ctx: InvocationContext,
    timeout: Duration,
    memory_limit: u64,
}

/// A store for one instance of `func`: its memory limiter, and an epoch
/// callback that traps past `deadline()` and otherwise yields each tick, so
/// a spinning guest never holds a runtime thread for long.
pub(crate) fn sandbox(
    func: &Function,
    state: InstanceState,
    turn: Option<crate::cpu::Turn>,
    deadline: impl Fn() -> Instant + Send + Sync + 'static,
) -> Store<InstanceState> {
    let mut store = Store::new(func.prepared.engine(), state);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(1);
    // With a CPU share, past its first ticks of computing the guest
    // computes only in its tenant's turns; it gives its turn back at each
    // capability call, and a tick after a long host call does not count
    // (see `cpu`). A reused instance's host calls act for the request
    // whose task makes them (see `reuse`).
    let by_request = store.data().requests.is_some();
    if turn.is_some() || by_request {
        let turn = turn.clone();
        store.call_hook(move |mut store, hook| {
            match hook {
                CallHook::CallingHost => {
                    if by_request {
                        crate::reuse::act_for_caller(&mut store)?;
                    }
                    if let Some(turn) = &turn {
                        turn.leave_wasm();
                    }
                }
                CallHook::ReturningFromHost => {
                    if let Some(turn) = &turn {
                        turn.back_in_wasm();
                    }
                }
                CallHook::CallingWasm | CallHook::ReturningFromWasm => {}
            }
            Ok(())
        });
    }
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline() {
            return Ok(UpdateDeadline::Interrupt);
        }
        Ok(match &turn {
            Some(turn) if turn.needs_turn() => UpdateDeadline::YieldCustom(1, Box::pin(turn.clone().next())),
            _ => UpdateDeadline::Yield(1),
        })
    });
    store
}

/// Blames a failed call on the guest with a typed reason: the memory limit
/// if a growth was refused, else the trap, quoting stderr for aborts.
pub(crate) fn classify(
    err: &wasmtime::Error,
    memory_denied: bool,
    logs: &LogCapture,
    timeout: Duration,
    memory_limit: u64,
) -> InvokeError {
    if memory_denied {
        return InvokeError::MemoryLimit(memory_limit);
    }
    let trap = err
        .downcast_ref::<Trap>()
        .or_else(|| err.root_cause().downcast_ref::<Trap>());
    match trap {
        Some(Trap::Interrupt) => InvokeError::Timeout(timeout),
        Some(Trap::StackOverflow) => InvokeError::StackOverflow,
        Some(Trap::UnreachableCodeReached) => {
            let tail = logs.stderr_tail(STDERR_IN_ERROR);
            if tail.is_empty() {
                InvokeError::Trap("wasm `unreachable` executed (the guest aborted)".into())
            } else {
                InvokeError::Trap(format!("the guest panicked or aborted: {tail}"))
            }
        }
        // Rust and C guests keep large locals on a shadow stack in linear
        // memory; overflowing it shows as an access below address 0.
        Some(Trap::MemoryOutOfBounds) => InvokeError::Trap(format!(
            "{} (in Rust and C guests, also the sign of a stack overflow in linear memory)",
            Trap::MemoryOutOfBounds
        )),
        Some(trap) => InvokeError::Trap(trap.to_string()),
        None => InvokeError::Trap(format!("{:#}", err.root_cause())),
    }
}

impl Invocation {
    pub(crate) fn new(func: &Function, ctx: InvocationContext) -> Self {
        let logs = LogCapture::new(func.runtime.config().log_bytes_per_invocation);
        let limits = func.limits;
        let turn = func.cpu.clone().map(crate::cpu::Turn::new);
        let caps = CapState::new(
            func.caps.clone(),
            ctx.caller.clone(),
            ctx.delivery.clone(),
            ctx.task.clone(),
            ctx.trace_id.clone(),
            logs.clone(),
        )
        .with_turn(turn.clone());
        let state = InstanceState::new(&func.env, &logs, limits.memory_bytes, caps);
        let started = Instant::now();
        let deadline = started + limits.timeout;
        let store = sandbox(func, state, turn.clone(), move || deadline);
        Self {
            store,
            turn,
            deadline,
            started,
            started_ms: now_ms(),
            logs,
            ctx,
            timeout: limits.timeout,
            memory_limit: limits.memory_bytes,
        }
    }

    /// The wall-clock deadline and the timeout it came from.
    pub(crate) fn deadline(&self) -> (Instant, Duration) {
        (self.deadline, self.timeout)
    }

    /// Blames a failed call on the guest with a typed reason.
    pub(crate) fn classify(&self, err: &wasmtime::Error) -> InvokeError {
        let denied = self.store.data().limiter.denied;
        classify(err, denied, &self.logs, self.timeout, self.memory_limit)
    }

    /// Blames a failed instantiation: the memory limit, or the platform
    /// (for example an exhausted instance pool).
    pub(crate) fn classify_instantiate(&self, err: &wasmtime::Error) -> InvokeError {
        if self.store.data().limiter.denied {
            InvokeError::MemoryLimit(self.memory_limit)
        } else {
            InvokeError::Internal(format!("cannot instantiate the function: {err:#}"))
        }
    }

    /// Ends the invocation and hands its report to the sink.
    pub(crate) fn finish(self, instantiate: Duration, http_status: Option<u16>, error: Option<InvokeError>) {
        let peak_memory = self.store.data().limiter.peak;
        let duration = self.started.elapsed();
        drop(self.store);
        let (logs, logs_dropped) = self.logs.finish();
        self.ctx.sink.report(InvocationReport {
            invocation_id: self.ctx.invocation_id,
            trace_id: self.ctx.trace_id,
            started_ms: self.started_ms,
            duration,
            instantiate,
            peak_memory,
            http_status,
            error,
            logs,
            logs_dropped,
            delivery: self.ctx.delivery,
            task: self.ctx.task,
        });
    }
}
