//! Errors of the data plane, each with a stable machine-readable code.

use std::time::Duration;

/// Why a component was refused at deploy time.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// No bytes were uploaded.
    #[error("the upload is empty: send the component's bytes as the request body")]
    Empty,
    /// The bytes do not start with the WebAssembly magic number.
    #[error("the upload is not WebAssembly: it does not start with the bytes `\\0asm`")]
    NotWasm,
    /// A core module was uploaded where a component is required.
    #[error(
        "the upload is a core WebAssembly module, not a component: build it for \
         the wasm32-wasip2 target, or wrap it with `wasm-tools component new`"
    )]
    CoreModule,
    /// The binary's version/layer field is neither a module nor a component.
    #[error("the upload has an unknown WebAssembly version/layer field {0:#010x}")]
    UnknownVersion(u32),
    /// The component failed validation or compilation.
    #[error("the component is not valid: {0}")]
    Invalid(String),
    /// The component exports no world the platform can invoke.
    #[error(
        "the component exports none of the worlds this platform serves: export \
         `wasi:http/incoming-handler@0.2.x` (HTTP) or `minicloud:platform/json-handler@0.1.0` \
         (the handler world); it exports: {0}"
    )]
    NoKnownWorld(String),
    /// The component imports an interface the platform does not provide.
    #[error("the component imports `{0}`, which this platform does not provide")]
    UnsupportedImport(String),
}

impl CompileError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty_body",
            Self::NotWasm => "not_wasm",
            Self::CoreModule => "core_module",
            Self::UnknownVersion(_) => "not_wasm",
            Self::Invalid(_) => "invalid_component",
            Self::NoKnownWorld(_) => "unknown_world",
            Self::UnsupportedImport(_) => "unsupported_import",
        }
    }
}

/// Why an invocation did not produce a result.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InvokeError {
    /// The guest ran past its wall-clock limit.
    #[error("the function ran past its time limit of {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The guest tried to grow its memory past its limit.
    #[error("the function tried to use more than its memory limit of {} MiB", .0 / (1024 * 1024))]
    MemoryLimit(u64),
    /// The guest overflowed its stack.
    #[error("the function overflowed its stack")]
    StackOverflow,
    /// The guest trapped (a panic, an `unreachable`, a bad memory access...).
    #[error("the function trapped: {0}")]
    Trap(String),
    /// The guest returned an error value on purpose.
    #[error("{0}")]
    Guest(String),
    /// An HTTP guest returned without setting a response.
    #[error("the function returned without sending a response")]
    NoResponse,
    /// The guest's response was larger than allowed.
    #[error("the function's response is larger than its limit of {0} bytes")]
    ResponseTooLarge(u64),
    /// The request could not be handed to the guest.
    #[error("{0}")]
    BadRequest(String),
    /// The function's tenant has no room under its quota for another
    /// instance; it passes with time.
    #[error("{0}")]
    Quota(String),
    /// Anything else: a fault of the platform, not of the guest or client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl InvokeError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::MemoryLimit(_) => "memory_limit",
            Self::StackOverflow => "stack_overflow",
            Self::Trap(_) => "trap",
            Self::Guest(_) => "function_error",
            Self::NoResponse => "no_response",
            Self::ResponseTooLarge(_) => "response_too_large",
            Self::BadRequest(_) => "bad_request",
            Self::Quota(_) => "quota_exceeded",
            Self::Internal(_) => "internal",
        }
    }
}
