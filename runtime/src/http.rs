//! Invoking `wasi:http/incoming-handler`, with bodies streaming both ways.

use crate::error::InvokeError;
use crate::function::{Function, Prepared};
use crate::invocation::{Invocation, InvocationContext, with_deadline};
use crate::state::InstanceState;
use bytes::Bytes;
use futures::StreamExt as _;
use http_body::{Body as _, Frame};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, BodyStream, Empty, Full, LengthLimitError, Limited, StreamBody};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::Poll;
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
        guard: impl Send + Unpin + 'static,
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
            return gather(crate::reuse::serve(pool, self, req, ctx, guard).await?).await;
        }
        // Set when the host refuses or cuts off the response, so the record
        // tells what the client saw even if the guest thinks it succeeded.
        let verdict: Verdict = Arc::default();
        // Dropped with the response's body: the record waits for it.
        let (body_done, body_gone) = tokio::sync::oneshot::channel::<()>();
        let answered = match &*self.prepared {
            Prepared::Http(pre) => serve_p2(
                pre.clone(),
                Invocation::new(self, ctx),
                req,
                guard,
                (verdict.clone(), body_gone),
            )?,
            Prepared::Http3(pre) => serve_p3(
                pre.clone(),
                Invocation::new(self, ctx),
                req,
                guard,
                (verdict.clone(), body_gone),
            ),
            Prepared::Handler(_) => {
                return Err(InvokeError::BadRequest(
                    "this function serves the handler world: call it through the invoke API".into(),
                ));
            }
        };
        let resp = answer(answered, limits.max_response_bytes, verdict, body_done).await?;
        match &*self.prepared {
            Prepared::Http3(_) => gather(resp).await,
            _ => Ok(resp),
        }
    }
}

/// Bytes of a WASI 0.3 response's body held back, at most, so that the
/// body goes out with its head.
const GATHER_BYTES: usize = 64 * 1024;
/// Frames held back at most (a guest may write empty ones).
const GATHER_FRAMES: usize = 64;
/// Turns of the scheduler a WASI 0.3 response's head waits for the rest of
/// its body.
const GATHER_TURNS: u32 = 4;

/// Sends a WASI 0.3 response in one write when its guest ends it at once.
///
/// A 0.3 guest hands its body over through a stream that the host reads
/// as hyper polls it, and hyper writes out what it holds whenever the body
/// answers `Pending`: the head and first chunk went out, then the end, two
/// writes (each waking the client) for a body the guest's task ended a
/// moment later. This reads what the body has ready and lets the guest's
/// task run for a few turns of the scheduler: a body that ends by then
/// goes out whole, with its length; one that fails by then (past the
/// function's response limit, say) is answered with the error, as one
/// that declared too large a length is, not with a head and a cut; one
/// still going (a guest that waits, or a body past [`GATHER_BYTES`] or
/// [`GATHER_FRAMES`]) goes out as it comes, after what was read.
pub(crate) async fn gather(resp: http::Response<Body>) -> Result<http::Response<Body>, InvokeError> {
    let (parts, mut body) = resp.into_parts();
    let mut frames = VecDeque::new();
    let mut bytes = 0;
    let mut turns = 0;
    let mut failed = None;
    let ended = std::future::poll_fn(|cx| {
        loop {
            match Pin::new(&mut body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    bytes += frame.data_ref().map_or(0, Bytes::len);
                    frames.push_back(frame);
                    if bytes > GATHER_BYTES || frames.len() >= GATHER_FRAMES {
                        return Poll::Ready(false);
                    }
                }
                Poll::Ready(None) => return Poll::Ready(true),
                Poll::Ready(Some(Err(e))) => {
                    failed = Some(e);
                    return Poll::Ready(false);
                }
                Poll::Pending if turns < GATHER_TURNS => {
                    // To the back of the queue, behind the guest's task.
                    turns += 1;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Pending => return Poll::Ready(false),
            }
        }
    })
    .await;
    // A body whole and as long as any length its guest declared goes out
    // with that length. One of another length (a HEAD's answer, or a guest
    // that ended short) is left to hyper and its header, as streamed: hyper
    // would send the declared length before a shorter body, and the
    // connection's next response would be read as the rest of this one.
    let declared = parts.headers.get(http::header::CONTENT_LENGTH);
    let as_declared =
        declared.is_none_or(|v| v.to_str().ok().and_then(|v| v.parse::<usize>().ok()) == Some(bytes));
    if ended && as_declared && frames.iter().all(Frame::is_data) {
        let held = futures::stream::iter(frames.into_iter().map(Ok::<_, Infallible>));
        let whole = match BodyExt::collect(StreamBody::new(held)).await {
            Ok(collected) => collected.to_bytes(),
            Err(never) => match never {},
        };
        let full = Full::new(whole).map_err(|never| match never {});
        return Ok(http::Response::from_parts(parts, full.boxed_unsync()));
    }
    // The head has not gone out: a body that failed by now is answered
    // with the error, not with a head and a cut.
    if let Some(e) = failed {
        return Err(match e.downcast::<InvokeError>() {
            Ok(too_large) if matches!(*too_large, InvokeError::ResponseTooLarge(_)) => *too_large,
            Ok(other) => InvokeError::Trap(format!("the response's body failed: {other}")),
            Err(e) => InvokeError::Trap(format!("the response's body failed: {e}")),
        });
    }
    let rest = if ended {
        Empty::new().map_err(|never| match never {}).boxed_unsync()
    } else {
        body
    };
    // What was read, then the rest, with no length of its own: the rest's
    // hint may be one the response's limit made up (`Limited` tells a
    // length of 0 once its limit is used up), and a body that fails later
    // must go out chunked, so that a cut tells the client it is short; one
    // with trailers needs chunks too. A length the guest declared still
    // frames the body.
    let held = futures::stream::iter(frames.into_iter().map(Ok));
    let replay = StreamBody::new(held.chain(BodyStream::new(rest)));
    Ok(http::Response::from_parts(parts, replay.boxed_unsync()))
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
    body_done: impl Send + 'static,
) -> Result<http::Response<Body>, InvokeError> {
    match answer.head.await {
        Ok(Ok(resp)) => limit_response(resp, max_response, verdict, body_done),
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
    (verdict, body_gone): (Verdict, BodyGone),
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
        let status = status.load(Ordering::Relaxed);
        wait_for_body(&result, status, body_gone, deadline.0).await;
        end(inv, instantiate, status, result, &verdict)
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
    (verdict, body_gone): (Verdict, BodyGone),
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
        let status = status.load(Ordering::Relaxed);
        wait_for_body(&result, status, body_gone, deadline.0).await;
        end(inv, instantiate, status, result, &verdict)
    });
    Answer { head, task }
}

/// Resolves when the response's body is done with (ended, failed, or
/// dropped with the client's connection).
type BodyGone = tokio::sync::oneshot::Receiver<()>;

/// Once a guest that answered has ended, waits (until its deadline at
/// most) for the host to be done with the response's body: the host's
/// verdict on it (a body past its limit) may come after the guest's last
/// write, and the record must say what the client got.
async fn wait_for_body(outcome: &Outcome, status: u16, body_gone: BodyGone, deadline: Instant) {
    if status != 0 && matches!(outcome, Ok(Ok(()))) {
        let _ = tokio::time::timeout_at(deadline.into(), body_gone).await;
    }
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
    body_done: impl Send + 'static,
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
                // Kept by the body, so dropped when it is.
                let _ = &body_done;
                if e.is::<LengthLimitError>() {
                    refuse();
                    Box::new(InvokeError::ResponseTooLarge(max))
                } else {
                    e
                }
            })
            .boxed_unsync()
    }))
}

#[cfg(test)]
mod tests {
    use super::{Body, BoxError, InvokeError, absolutize, gather};
    use bytes::Bytes;
    use http_body::{Body as _, Frame};
    use http_body_util::{BodyExt, StreamBody};
    use tokio::sync::mpsc;

    /// Sends a test body's chunks (or its failure).
    type BodySender = mpsc::UnboundedSender<Result<&'static str, &'static str>>;

    /// A body of the chunks sent on a channel, ending when its sender goes,
    /// with no length known beforehand.
    fn channel_body() -> (BodySender, Body) {
        let (tx, rx): (BodySender, _) = mpsc::unbounded_channel();
        let frames = futures::stream::unfold(rx, |mut rx| async move {
            let item = rx.recv().await?;
            let frame = item
                .map(|text: &str| Frame::data(Bytes::from(text)))
                .map_err(BoxError::from);
            Some((frame, rx))
        });
        (tx, StreamBody::new(frames).boxed_unsync())
    }

    fn response(body: Body) -> http::Response<Body> {
        http::Response::new(body)
    }

    async fn text(body: Body) -> String {
        let bytes = body.collect().await.expect("a whole body").to_bytes();
        String::from_utf8(bytes.to_vec()).expect("text")
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_its_guest_ends_within_a_few_turns_goes_out_whole() {
        let (tx, body) = channel_body();
        // The writer needs turns of the scheduler between its chunks, as a
        // guest's task does between its writes and its end.
        tokio::spawn(async move {
            tx.send(Ok("Hello, ")).expect("sent");
            tokio::task::yield_now().await;
            tx.send(Ok("world\n")).expect("sent");
        });
        let resp = gather(response(body)).await.expect("an answer");
        assert_eq!(resp.body().size_hint().exact(), Some(13), "with its length");
        assert_eq!(text(resp.into_body()).await, "Hello, world\n");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_whose_guest_waits_sends_its_head_with_what_was_read() {
        let (tx, body) = channel_body();
        tx.send(Ok("first\n")).expect("sent");
        // The sender stays: the guest waits (for a minute, say).
        let mut resp = gather(response(body)).await.expect("an answer");
        assert_eq!(
            resp.body().size_hint().exact(),
            None,
            "the length is not known yet"
        );
        let first = resp.body_mut().frame().await.expect("a frame").expect("data");
        assert_eq!(first.into_data().expect("data"), "first\n");
        tx.send(Ok("second\n")).expect("sent");
        drop(tx);
        assert_eq!(text(resp.into_body()).await, "second\n");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_that_fails_before_its_head_went_out_is_an_error() {
        let (tx, body) = channel_body();
        tx.send(Ok("part")).expect("sent");
        tx.send(Err("the guest's stream broke")).expect("sent");
        let refused = gather(response(body)).await.expect_err("refused");
        assert!(
            matches!(&refused, InvokeError::Trap(m) if m == "the response's body failed: the guest's stream broke"),
            "{refused:?}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_with_trailers_keeps_them_and_goes_out_in_chunks() {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-checksum", http::HeaderValue::from_static("abc"));
        let frames = [Frame::data(Bytes::from("data")), Frame::trailers(trailers)];
        let body = StreamBody::new(futures::stream::iter(frames.map(Ok::<_, BoxError>))).boxed_unsync();
        let resp = gather(response(body)).await.expect("an answer");
        assert_eq!(resp.body().size_hint().exact(), None, "trailers need chunks");
        let collected = resp.into_body().collect().await.expect("a whole body");
        assert_eq!(
            collected.trailers().map(|t| &t["x-checksum"]),
            Some(&http::HeaderValue::from_static("abc"))
        );
        assert_eq!(collected.to_bytes(), "data");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_not_as_long_as_it_declared_is_left_to_its_header() {
        let (tx, body) = channel_body();
        tx.send(Ok("hello")).expect("sent");
        drop(tx);
        let mut resp = response(body);
        resp.headers_mut()
            .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from_static("10"));
        let resp = gather(resp).await.expect("an answer");
        // No length of its own: hyper frames it by the header, and cuts
        // the connection when the body ends short.
        assert_eq!(resp.body().size_hint().exact(), None);
        assert_eq!(resp.headers()[http::header::CONTENT_LENGTH], "10");
        assert_eq!(text(resp.into_body()).await, "hello");
    }

    /// A guest's response, limited to 5 bytes, whose body has sent `first`
    /// and stays open while the sender is kept.
    fn limited_to_5(first: &'static str) -> (BodySender, http::Response<Body>) {
        let (tx, body) = channel_body();
        tx.send(Ok(first)).expect("sent");
        let body = body
            .map_err(|_| wasmtime_wasi_http::Error::ConnectionTerminated)
            .boxed_unsync();
        let limited = super::limit_response(http::Response::new(body), 5, Default::default(), ())
            .expect("no length declared");
        (tx, limited)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_at_its_limit_that_goes_on_tells_no_length() {
        // The limit is used up by what was read; the guest waits to write
        // more, which the limit will refuse.
        let (_tx, limited) = limited_to_5("hello");
        let resp = gather(limited).await.expect("an answer");
        assert_eq!(
            resp.body().size_hint().exact(),
            None,
            "a length of 5 would pass the cut for the whole"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_past_its_limit_before_the_head_went_out_is_an_error() {
        let (_tx, limited) = limited_to_5("Hello, world");
        let refused = gather(limited).await.expect_err("refused");
        assert!(matches!(refused, InvokeError::ResponseTooLarge(5)), "{refused:?}");
    }

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
