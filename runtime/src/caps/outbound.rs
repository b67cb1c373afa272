//! `wasi:http/outgoing-handler`, allowed only to granted hosts: `http:Fetch`
//! on `mrn:http:<org>:<project>:host/<host>` (the host without its port).
//! A refusal is the standard `http-request-denied` error code; a request past
//! the invocation's cap is `connection-limit-reached`.
//!
//! Granted hosts are then reached only at addresses the platform's
//! [`NetworkPolicy`](super::net::NetworkPolicy) allows (public ones unless
//! the operator allowed more): `net` resolves, checks and connects, and this
//! file speaks HTTP/1.1 over the connection. An address refusal is
//! `destination-IP-prohibited`, counted, audited and explained in the
//! function's logs like a refused grant.

use super::net::{self, AddressClass, NetError, Target};
use super::{CapError, CapState, DENIALS_REPORTED_PER_INVOCATION};
use crate::caps::backend::DenialSink;
use crate::logs::{Level, LogCapture};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// What the connection does after the response head: it carries the body.
type Driver = Box<dyn Future<Output = Result<(), Error>> + Send>;

type Sent = Box<dyn Future<Output = Result<(http::Response<WasiBody>, Driver), Error>> + Send>;

/// Resolving, connecting and the TLS handshake take at most this long
/// unless the guest asks for less.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Waits for the response head and between body frames when the guest sets
/// none. Generous: the invocation's own deadline is the real bound.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(600);

const ACTION: &str = "http:Fetch";

impl WasiHttpHooks for CapState {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Sent {
        let host = request.uri().host().unwrap_or_default().to_ascii_lowercase();
        let path = format!("host/{host}");
        let checked = self
            .count_outbound()
            .and_then(|()| self.check("http", ACTION, &path));
        if let Err(e) = checked {
            let code = match e {
                CapError::Limit(_) => Error::ConnectionLimitReached,
                _ => Error::HttpRequestDenied,
            };
            return failed(code);
        }
        let target = match Target::from_uri(request.uri()) {
            Ok(target) => target,
            Err(e) => return failed(e.into()),
        };
        let timeouts = Timeouts::new(options);
        let network = self.caps.network.clone();

        // An address written in the URI is judged here, before anything
        // runs; a name only once it is resolved, inside the future.
        if let Some(ip) = target.literal()
            && let Err(class) = network.check(ip)
        {
            self.usage.denials += 1;
            let audit = self.usage.denials <= DENIALS_REPORTED_PER_INVOCATION;
            self.address_refusal(&path, audit).record(ip, class);
            return failed(Error::DestinationIpProhibited);
        }
        // The future cannot count into this invocation's usage, so the
        // audit decision is taken now; the outbound-request cap bounds how
        // many refusals found after a lookup one invocation can report.
        let refusal = self.address_refusal(&path, self.usage.denials < DENIALS_REPORTED_PER_INVOCATION);
        Box::new(async move {
            let io = match net::connect(&target, &network, timeouts.connect).await {
                Ok(io) => io,
                Err(NetError::Forbidden { addr, class }) => {
                    refusal.record(addr, class);
                    return Err(Error::DestinationIpProhibited);
                }
                Err(e) => return Err(e.into()),
            };
            exchange(io, request, timeouts).await
        })
    }
}

fn failed(code: Error) -> Sent {
    Box::new(async move { Err(code) })
}

impl CapState {
    fn address_refusal(&self, path: &str, audit: bool) -> AddressRefusal {
        AddressRefusal {
            resource: self.caps.scope.mrn("http", path),
            denials: self.caps.denials.clone(),
            trace_id: self.trace_id.clone(),
            logs: self.logs.clone(),
            audit,
        }
    }
}

/// What reporting one refused address needs, detached from the instance
/// so that the request's future can do it after a lookup.
struct AddressRefusal {
    resource: String,
    denials: Arc<dyn DenialSink>,
    trace_id: Arc<str>,
    logs: LogCapture,
    audit: bool,
}

impl AddressRefusal {
    /// Counts, audits and tells the function's developer, whose guest only
    /// sees an error code, why.
    fn record(self, addr: IpAddr, class: AddressClass) {
        metrics::counter!("minicloud_capability_denied_total", "action" => ACTION).increment(1);
        if self.audit {
            self.denials.denied(ACTION, &self.resource, &self.trace_id);
        }
        let why = NetError::Forbidden { addr, class };
        self.logs.leveled(
            Level::Warn,
            "outbound",
            &format!(
                "request to {} refused: {why}; the platform allows public addresses only, \
                 and other ranges its operator allows",
                self.resource
            ),
        );
    }
}

impl From<NetError> for Error {
    fn from(e: NetError) -> Self {
        let dns = |rcode: &str| Error::DnsError {
            rcode: Some(rcode.to_owned()),
            info_code: None,
        };
        match e {
            NetError::Scheme(_) => Error::HttpProtocolError,
            NetError::NoHost => Error::HttpRequestUriInvalid,
            NetError::Forbidden { .. } => Error::DestinationIpProhibited,
            NetError::DnsTimeout(_) => Error::DnsTimeout,
            NetError::Lookup { .. } => dns("address not available"),
            NetError::NoAddress(_) => Error::DestinationNotFound,
            NetError::ConnectTimeout => Error::ConnectionTimeout,
            NetError::Connect(e) => Error::Connect(e),
            NetError::ServerName(_) => dns("invalid dns name"),
            NetError::Tls(e) => Error::Tls(e),
            e @ NetError::TlsSetup(_) => Error::InternalError(Some(e.to_string())),
        }
    }
}

/// The guest's timeouts, the connect one capped by ours.
#[derive(Clone, Copy)]
struct Timeouts {
    connect: Duration,
    first_byte: Duration,
    between_bytes: Duration,
}

impl Timeouts {
    fn new(options: Option<RequestOptions>) -> Self {
        let options = options.unwrap_or_default();
        Self {
            connect: options
                .connect_timeout
                .map_or(CONNECT_TIMEOUT, |t| t.min(CONNECT_TIMEOUT)),
            first_byte: options.first_byte_timeout.unwrap_or(RESPONSE_TIMEOUT),
            between_bytes: options.between_bytes_timeout.unwrap_or(RESPONSE_TIMEOUT),
        }
    }
}

/// Sends `request` over `io` with HTTP/1.1. Returns the response once its
/// head arrived, and the connection's future, which must keep running for
/// the body to arrive.
async fn exchange(
    io: Box<dyn net::Io>,
    mut request: http::Request<WasiBody>,
    timeouts: Timeouts,
) -> Result<(http::Response<WasiBody>, Driver), Error> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(hyper_error)?;
    // Not talking to a proxy: the request line carries the path only (the
    // host is in the Host header wasmtime added).
    let origin = request
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    *request.uri_mut() = http::Uri::from(origin);

    let mut conn = Box::pin(conn);
    let mut ended: Option<Result<(), hyper::Error>> = None;
    // The connection must be polled for the request to go out and the
    // head to come back; it may also end first (the server closed).
    let head = tokio::time::timeout(timeouts.first_byte, async {
        let send = sender.send_request(request);
        tokio::pin!(send);
        loop {
            tokio::select! {
                biased;
                head = &mut send => return head,
                end = &mut conn, if ended.is_none() => ended = Some(end),
            }
        }
    })
    .await
    .map_err(|_| Error::ConnectionReadTimeout)?;
    let head = match head {
        Ok(head) => head,
        // The connection's own error says more than "connection closed".
        Err(e) => {
            return Err(match ended {
                Some(Err(conn_err)) => hyper_error(conn_err),
                _ => hyper_error(e),
            });
        }
    };
    let driver: Driver = match ended {
        Some(end) => Box::new(std::future::ready(end.map_err(hyper_error))),
        None => Box::new(async move { conn.await.map_err(hyper_error) }),
    };
    let idle = timeouts.between_bytes;
    Ok((head.map(|body| TimedBody::new(body, idle).boxed_unsync()), driver))
}

fn hyper_error(e: hyper::Error) -> Error {
    if e.is_timeout() {
        Error::HttpResponseTimeout
    } else {
        Error::Hyper(e)
    }
}

/// A response body that fails when no frame arrives for `idle`.
struct TimedBody {
    inner: hyper::body::Incoming,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
}

impl TimedBody {
    fn new(inner: hyper::body::Incoming, idle: Duration) -> Self {
        Self {
            inner,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.timer.as_mut().reset(Instant::now() + this.idle);
                Poll::Ready(frame.map(|f| f.map_err(hyper_error)))
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
