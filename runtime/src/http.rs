//! Invoking `wasi:http/incoming-handler`, with bodies streaming both ways.

use crate::error::InvokeError;
use crate::function::{Function, Prepared};
use crate::invocation::{Invocation, InvocationContext, with_deadline};
use crate::state::InstanceState;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};
use wasmtime_wasi_http::p2::{self, bindings::ProxyPre};
use wasmtime_wasi_http::p3::{self, bindings::ServicePre};
use wasmtime_wasi_http::{WasiBody, WasiHttpView};

/// A boxed error of a streaming body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of a response streaming out of a guest.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// Gives a request an absolute URI (wasi:http requires an authority), taking
/// the authority from the Host header or falling back to `localhost`. The
/// path and query are moved, not copied: this runs on every request.
fn absolutize<B>(req: &mut http::Request<B>) -> Result<(), InvokeError> {
    if req.uri().authority().is_some() {
        return Ok(());
    }
    let authority = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| http::uri::Authority::try_from(h.as_bytes()).ok())
        .unwrap_or_else(|| http::uri::Authority::from_static("localhost"));
    let mut parts = std::mem::take(req.uri_mut()).into_parts();
    parts.scheme = Some(http::uri::Scheme::HTTP);
    parts.authority = Some(authority);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    *req.uri_mut() = http::Uri::from_parts(parts)
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
        if let Some(pool) = &self.pool {
            return crate::reuse::serve(pool, self, req, ctx, guard).await;
        }
        // Set when the host refuses or cuts off the response, so the record
        // tells what the client saw even if the guest thinks it succeeded.
        let verdict: Verdict = Arc::default();
        let answered = match &*self.prepared {
            Prepared::Http(pre) => serve_p2(
                pre.clone(),
                Invocation::new(self, ctx),
                req,
                guard,
                verdict.clone(),
            )?,
            Prepared::Http3(pre) => serve_p3(
                pre.clone(),
                Invocation::new(self, ctx),
                req,
                guard,
                verdict.clone(),
            ),
            Prepared::Handler(_) => {
                return Err(InvokeError::BadRequest(
                    "this function serves the handler world: call it through the invoke API".into(),
                ));
            }
        };
        answer(answered, limits.max_response_bytes, verdict).await
    }
}

/// What the task running a guest hands back: the response head (its body
/// streams on), or, if the guest answered with none, the task to ask why.
struct Answer<R> {
    head: tokio::sync::oneshot::Receiver<R>,
    task: tokio::task::JoinHandle<Option<InvokeError>>,
}

/// A guest's answer in the host's terms: the response head, or the HTTP
/// error code it answered with instead.
type Head = Result<http::Response<WasiBody>, String>;

/// How the request's body fared, told to a WASI 0.3 guest.
type RequestIo = std::pin::Pin<Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>>;

async fn answer(
    answer: Answer<Head>,
    max_response: u64,
    verdict: Verdict,
) -> Result<http::Response<Body>, InvokeError> {
    match answer.head.await {
        Ok(Ok(resp)) => limit_response(resp, max_response, verdict),
        Ok(Err(code)) => Err(InvokeError::Guest(format!(
            "the function answered with an HTTP error: {code}"
        ))),
        Err(_) => match answer.task.await {
            Ok(Some(err)) => Err(err),
            Ok(None) => Err(InvokeError::NoResponse),
            Err(join) => Err(InvokeError::Internal(format!("invocation task failed: {join}"))),
        },
    }
}

/// Runs `wasi:http/incoming-handler@0.2` in a task of its own that owns
/// the store, so a guest that traps before answering cannot deadlock the
/// caller.
fn serve_p2<B>(
    pre: ProxyPre<InstanceState>,
    mut inv: Invocation,
    req: http::Request<B>,
    guard: impl Send + 'static,
    verdict: Verdict,
) -> Result<Answer<Head>, InvokeError>
where
    B: http_body::Body<Data = Bytes, Error = wasmtime_wasi_http::Error> + Send + 'static,
{
    let status = Arc::new(AtomicU16::new(0));
    let (tx, head) = tokio::sync::oneshot::channel();
    let seen = status.clone();
    let (req, out) = {
        let mut http = inv.store.data_mut().http();
        let req = http
            .new_incoming_request(p2::bindings::http::types::Scheme::Http, req)
            .map_err(|e| InvokeError::BadRequest(format!("{e:#}")))?;
        let out = http
            .new_response_outparam_from_callback(move |resp| {
                if let Ok(r) = &resp {
                    seen.store(r.status().as_u16(), Ordering::Relaxed);
                }
                let _ = tx.send(resp.map_err(|code| format!("{code:?}")));
            })
            .map_err(|e| InvokeError::Internal(format!("{e:#}")))?;
        (req, out)
    };
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
        end(inv, instantiate, status.load(Ordering::Relaxed), result, &verdict)
    });
    Ok(Answer { head, task })
}

/// Runs `wasi:http/handler@0.3`: the handler's async call returns the
/// response, whose body the guest goes on writing in tasks of its own; the
/// store's event loop runs (in this task, which owns the store) until the
/// last of them ends, under the same deadline.
fn serve_p3<B>(
    pre: ServicePre<InstanceState>,
    mut inv: Invocation,
    req: http::Request<B>,
    guard: impl Send + 'static,
    verdict: Verdict,
) -> Answer<Head>
where
    B: http_body::Body<Data = Bytes, Error = wasmtime_wasi_http::Error> + Send + 'static,
{
    let (tx, head) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let _guard = guard;
        let t0 = Instant::now();
        let mut instantiate = Duration::ZERO;
        let status = AtomicU16::new(0);
        let deadline = inv.deadline();
        let turn = inv.turn.clone();
        let result = {
            let Invocation { store, .. } = &mut inv;
            let run = async {
                let service = pre.instantiate_async(&mut *store).await.map_err(|e| (e, false))?;
                instantiate = t0.elapsed();
                let status = &status;
                let served = store.run_concurrent(async move |guest| {
                    let (req, io) = guest.with(|mut s| {
                        let (req, io) = p3::Request::from_http(s.data_mut().http().hooks, req);
                        (req, Box::pin(io) as RequestIo)
                    });
                    match service.handle(guest, req).await? {
                        Ok(resp) => {
                            status.store(resp.status.as_u16(), Ordering::Relaxed);
                            let resp = guest.with(|mut s| resp.into_http(&mut s, io))?;
                            let _ = tx.send(Ok(resp));
                        }
                        Err(code) => {
                            let _ = tx.send(Err(format!("{code:?}")));
                        }
                    }
                    // The body: the guest writes it in tasks that outlive
                    // the call.
                    std::future::poll_fn(|cx| guest.poll_no_interesting_tasks(cx)).await;
                    wasmtime::Result::Ok(())
                });
                crate::cpu::give_back_when_waiting(turn, served)
                    .await
                    .and_then(|r| r)
                    .map_err(|e| (e, true))
            };
            with_deadline(deadline, run).await
        };
        end(inv, instantiate, status.load(Ordering::Relaxed), result, &verdict)
    });
    Answer { head, task }
}

/// The host's own verdict on an invocation, shared with its task.
pub(crate) type Verdict = Arc<std::sync::Mutex<Option<InvokeError>>>;

/// How a guest's call ended: its error, and whether it came from the call
/// (`true`) or from instantiating (`false`); or the deadline.
type Outcome = Result<Result<(), (wasmtime::Error, bool)>, InvokeError>;

/// Judges how an HTTP invocation ended (the guest's fault first, then the
/// host's verdict on its response), reports it, and returns the error.
fn end(
    inv: Invocation,
    instantiate: Duration,
    status: u16,
    outcome: Outcome,
    verdict: &Verdict,
) -> Option<InvokeError> {
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err((e, true))) => Some(inv.classify(&e)),
        Ok(Err((e, false))) => Some(inv.classify_instantiate(&e)),
        Err(timeout) => Some(timeout),
    };
    let error = error.or_else(|| verdict.lock().unwrap_or_else(|e| e.into_inner()).take());
    inv.finish(instantiate, (status != 0).then_some(status), error.clone());
    error
}

pub(crate) fn limit_response(
    resp: http::Response<WasiBody>,
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
            .map_err(move |e: BoxError| -> BoxError {
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

#[cfg(test)]
mod tests {
    use super::absolutize;

    fn absolute(uri: &str, host: Option<&str>) -> String {
        let mut req = http::Request::get(uri);
        if let Some(host) = host {
            req = req.header(http::header::HOST, host);
        }
        let mut req = req.body(()).expect("a request");
        absolutize(&mut req).expect("absolutized");
        req.uri().to_string()
    }

    #[test]
    fn a_request_gets_the_authority_of_its_host_header() {
        assert_eq!(
            absolute("/a/b?x=1&y", Some("shop.example:8080")),
            "http://shop.example:8080/a/b?x=1&y"
        );
        // No Host, or one that is not an authority: `localhost`.
        assert_eq!(absolute("/a", None), "http://localhost/a");
        assert_eq!(absolute("/a", Some("bad host/x")), "http://localhost/a");
        // An absolute URI is left as it came.
        assert_eq!(
            absolute("http://other.example/p", Some("shop.example")),
            "http://other.example/p"
        );
    }
}
