//! # minicloud-sdk: MiniCloud functions in Rust
//!
//! Build for `wasm32-wasip2` as a `cdylib`, then deploy the `.wasm` file.
//!
//! - [`http`]: an HTTP function in a few lines, with [`http_handler!`]. The
//!   result is a standard `wasi:http/proxy` component: it runs unchanged
//!   under `wasmtime serve` and Spin too.
//! - [`handler`]: a JSON function (the `minicloud:platform/handler` world)
//!   with [`json_handler!`], for the invoke API, events and workflow tasks.
//! - [`wasi`]: the standard WASI 0.2 bindings, for streaming bodies and
//!   anything the helpers do not cover.
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

pub mod handler;
pub mod http;

pub use wasi;

/// Bindings generated from the platform's WIT (`wit/` at the repository
/// root). Used by the macros; not needed by function code.
#[doc(hidden)]
#[allow(missing_docs, reason = "generated code")]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "handler",
        pub_export_macro: true,
        export_macro_name: "__export_handler_world",
        default_bindings_module: "minicloud_sdk::bindings",
    });
}

#[doc(hidden)]
pub use serde_json as __serde_json;
