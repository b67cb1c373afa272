//! Invoking `wasi:http/incoming-handler`, with bodies streaming both ways.

use crate::error::InvokeError;
use crate::function::{Function, Prepared};
use crate::invocation::{Invocation, InvocationContext, with_deadline};
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// A boxed error of a streaming body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of a response streaming out of a guest.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// Gives a request an absolute URI (wasi:http requires an authority), taking
/// the authority from the Host header or falling back to `localhost`.
fn absolutize<B>(req: &mut http::Request<B>) -> Result<(), InvokeError> {
    if req.uri().authority().is_some() {
        return Ok(());
    }
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.parse::<http::uri::Authority>().is_ok())
        .unwrap_or("localhost")
        .to_owned();
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    *req.uri_mut() = format!("http://{host}{path}")
        .parse()
        .map_err(|e| InvokeError::BadRequest(format!("invalid request URI: {e}")))?;
    Ok(())
}

impl Function {
    /// Runs one HTTP request through the guest.
    ///
    /// Returns once the guest has sent its response head; the body then
    /// streams while the guest keeps running in its own task, which owns the
    /// store (so a guest that traps before answering cannot deadlock the
    /// caller) and holds `guard` until the instance is gone.
    pub async fn handle_http<B>(
        &self,
        mut req: http::Request<B>,
        ctx: InvocationContext,
        guard: impl Send + 'static,
    ) -> Result<http::Response<Body>, InvokeError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let Prepared::Http(pre) = &*self.prepared else {
            return Err(InvokeError::BadRequest(
                "this function serves the handler world: call it through the invoke API".into(),
            ));
        };
        let pre = pre.clone();
        absolutize(&mut req)?;
        let limits = self.limits;
        let max_request = limits.max_request_bytes;
        let req = req.map(move |body| {
            Limited::new(body, max_request as usize).map_err(move |e| {
                if e.is::<LengthLimitError>() {
                    wasmtime_wasi_http::Error::HttpRequestBodySize(Some(max_request))
                } else {
                    wasmtime_wasi_http::Error::ConnectionTerminated
                }
            })
        });

        let mut inv = Invocation::new(self, ctx);
        let status = Arc::new(AtomicU16::new(0));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let seen = status.clone();
        let (req, out) = {
            let mut http = inv.store.data_mut().http();
            let req = http
                .new_incoming_request(wasmtime_wasi_http::p2::bindings::http::types::Scheme::Http, req)
                .map_err(|e| InvokeError::BadRequest(format!("{e:#}")))?;
            let out = http
                .new_response_outparam_from_callback(move |resp| {
                    if let Ok(r) = &resp {
                        seen.store(r.status().as_u16(), Ordering::Relaxed);
                    }
                    let _ = tx.send(resp);
                })
                .map_err(|e| InvokeError::Internal(format!("{e:#}")))?;
            (req, out)
        };

        // Set when the host refuses or cuts off the response, so the record
        // tells what the client saw even if the guest thinks it succeeded.
        let verdict: Verdict = Arc::default();
        let host_verdict = verdict.clone();
        let task = tokio::spawn(async move {
            let _guard = guard;
            let t0 = Instant::now();
            let mut instantiate = Duration::ZERO;
            let deadline = inv.deadline();
            let result = {
                let Invocation { store, .. } = &mut inv;
                let run = async {
                    let proxy = pre.instantiate_async(&mut *store).await.map_err(|e| (e, false))?;
                    instantiate = t0.elapsed();
                    proxy
                        .wasi_http_incoming_handler()
                        .call_handle(&mut *store, req, out)
                        .await
                        .map_err(|e| (e, true))
                };
                with_deadline(deadline, run).await
            };
            let error = match result {
                Ok(Ok(())) => None,
                Ok(Err((e, true))) => Some(inv.classify(&e)),
                Ok(Err((e, false))) => Some(inv.classify_instantiate(&e)),
                Err(timeout) => Some(timeout),
            };
            let error = error.or_else(|| host_verdict.lock().unwrap_or_else(|e| e.into_inner()).take());
            let code = status.load(Ordering::Relaxed);
            inv.finish(instantiate, (code != 0).then_some(code), error.clone());
            error
        });

        match rx.await {
            Ok(Ok(resp)) => limit_response(resp, limits.max_response_bytes, verdict),
            Ok(Err(code)) => Err(InvokeError::Guest(format!(
                "the function answered with an HTTP error: {code:?}"
            ))),
            Err(_) => match task.await {
                Ok(Some(err)) => Err(err),
                Ok(None) => Err(InvokeError::NoResponse),
                Err(join) => Err(InvokeError::Internal(format!("invocation task failed: {join}"))),
            },
        }
    }
}

/// The host's own verdict on an invocation, shared with its task.
type Verdict = Arc<std::sync::Mutex<Option<InvokeError>>>;

fn limit_response(
    resp: http::Response<HyperOutgoingBody>,
    max: u64,
    verdict: Verdict,
) -> Result<http::Response<Body>, InvokeError> {
    let refuse = move || {
        *verdict.lock().unwrap_or_else(|e| e.into_inner()) = Some(InvokeError::ResponseTooLarge(max));
    };
    let declared = resp
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        refuse();
        return Err(InvokeError::ResponseTooLarge(max));
    }
    Ok(resp.map(move |body| {
        Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX))
            .map_err(move |e| -> BoxError {
                if e.is::<LengthLimitError>() {
                    refuse();
                    format!("the function's response passed its limit of {max} bytes").into()
                } else {
                    e
                }
            })
            .boxed_unsync()
    }))
}
