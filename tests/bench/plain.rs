//! The in-process baseline: the plainest wasmtime host that can serve the
//! same component on the same engine settings. No limits, no logs, no
//! reports, no task per request: what the engine itself costs.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use std::time::{Duration, Instant};
use wasmtime::Store;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

struct Hooks;

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        _: http::Request<wasmtime_wasi_http::p2::body::HyperOutgoingBody>,
        _: Option<wasmtime_wasi_http::RequestOptions>,
        _: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::p2::body::HyperOutgoingBody>,
                    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
                )>,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

struct Plain {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Hooks,
}

impl WasiView for Plain {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Plain {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Per-invocation times of the plain host, sorted, after a warm-up.
pub async fn plain_wasmtime(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
) -> Vec<Duration> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
    let pre = ProxyPre::new(linker.instantiate_pre(component).unwrap()).unwrap();
    let mut times = Vec::with_capacity(20_000);
    for i in 0..22_000 {
        let start = Instant::now();
        let mut store = Store::new(
            engine,
            Plain {
                wasi: WasiCtx::builder().build(),
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
                hooks: Hooks,
            },
        );
        store.set_epoch_deadline(u64::MAX / 2);
        let req = http::Request::get("http://localhost/")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)
            .unwrap();
        let out = store.data_mut().http().new_response_outparam(tx).unwrap();
        let proxy = pre.instantiate_async(&mut store).await.unwrap();
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, req, out)
            .await
            .unwrap();
        drop(store);
        let resp = rx.await.unwrap().unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"Hello, world! (from MiniCloud)\n");
        if i >= 2_000 {
            times.push(start.elapsed());
        }
    }
    times.sort();
    times
}
