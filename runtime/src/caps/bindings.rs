//! Host bindings of the platform's `imports` world: every interface a
//! function may import beyond WASI itself.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "minicloud:platform/imports",
    imports: { default: async | trappable },
    require_store_data_send: true,
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:keyvalue/store.bucket": super::keyvalue::KvBucket,
        "wasi:keyvalue/atomics.cas": super::keyvalue::KvCas,
        "minicloud:platform/storage.bucket": super::storage::StorageBucket,
        "minicloud:platform/storage.object-writer": super::storage::ObjectWriter,
    },
});

pub(crate) use minicloud::platform::{events, identity, secrets, storage, types, workflows};
pub(crate) use wasi::config::store as config;
pub(crate) use wasi::keyvalue::{atomics, store as kv};
pub(crate) use wasi::logging::logging;
