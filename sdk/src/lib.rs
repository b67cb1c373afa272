//! # minicloud-sdk: MiniCloud functions in Rust
//!
//! Build for `wasm32-wasip2` as a `cdylib`, then deploy the `.wasm` file.
//!
//! - [`http`]: an HTTP function in a few lines, with [`http_handler!`]. The
//!   result is a standard `wasi:http/proxy` component: it runs unchanged
//!   under `wasmtime serve` and Spin too.
//! - [`handler`]: a JSON function (the `minicloud:platform/handler` world)
//!   with [`json_handler!`], for the invoke API, events and workflow tasks.
//! - [`storage`]: buckets and objects (`storage::Bucket::open("raw")?`).
//! - [`kv`]: the key-value store, with typed JSON values.
//! - [`config`] and [`secrets`]: the function's settings and the project's
//!   secrets.
//! - [`identity`]: who called, and may they.
//! - [`events`]: publish events; the delivery being handled.
//! - [`workflows`]: the workflow task being run, with its idempotency key.
//! - [`log`]: leveled log lines.
//! - [`fetch`]: outbound HTTP to the hosts the role grants.
//! - [`Error`] (`error`): what every platform call can fail with; `AccessDenied` when
//!   the function's execution role does not allow the call. [`Error::named`]
//!   fails a handler with an error name a workflow can retry or catch.
//! - [`wasi`]: the standard WASI 0.2 bindings, for streaming bodies,
//!   outbound HTTP and anything the helpers do not cover.
//!
//! ```no_run
//! use minicloud_sdk::http::{Request, Response};
//!
//! fn hello(req: Request) -> Response {
//!     Response::text(200, format!("Hello from {}\n", req.path()))
//! }
//!
//! minicloud_sdk::http_handler!(hello);
//! ```
#![deny(missing_docs)]

pub mod config;
pub mod error;
pub mod events;
pub mod fetch;
pub mod handler;
pub mod http;
pub mod identity;
pub mod kv;
pub mod log;
pub mod secrets;
pub mod storage;
pub mod workflows;

pub use error::{Error, Result};
pub use wasi;

/// Bindings generated from the platform's WIT (`wit/` at the repository
/// root), sharing the WASI types of the [`wasi`] crate. Used by the
/// wrappers and macros; not needed by function code.
#[doc(hidden)]
#[allow(missing_docs, reason = "generated code")]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "handler",
        pub_export_macro: true,
        export_macro_name: "__export_handler_world",
        default_bindings_module: "minicloud_sdk::bindings",
        generate_all,
        with: {
            "wasi:io/error@0.2.12": crate::wasi::io::error,
            "wasi:io/poll@0.2.12": crate::wasi::io::poll,
            "wasi:io/streams@0.2.12": crate::wasi::io::streams,
            "wasi:clocks/monotonic-clock@0.2.12": crate::wasi::clocks::monotonic_clock,
            "wasi:http/types@0.2.12": crate::wasi::http::types,
            "wasi:http/outgoing-handler@0.2.12": crate::wasi::http::outgoing_handler,
        },
    });
}

#[doc(hidden)]
pub use serde_json as __serde_json;
