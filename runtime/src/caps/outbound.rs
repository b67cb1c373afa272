//! `wasi:http/outgoing-handler`, allowed only to granted hosts: `http:Fetch`
//! on `mrn:http:<org>:<project>:host/<host>` (the host without its port).
//! A refusal is the standard `http-request-denied` error code; a request past
//! the invocation's cap is `connection-limit-reached`.

use super::{CapError, CapState};
use http_body_util::BodyExt;
use std::time::Duration;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

type Sent = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

/// Connecting takes at most this long unless the guest asks for less.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl WasiHttpHooks for CapState {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Sent {
        let host = request.uri().host().unwrap_or_default().to_ascii_lowercase();
        let checked = self
            .count_outbound()
            .and_then(|()| self.check("http", "http:Fetch", &format!("host/{host}")));
        if let Err(e) = checked {
            let code = match e {
                CapError::Limit(_) => Error::ConnectionLimitReached,
                _ => Error::HttpRequestDenied,
            };
            return Box::new(async move { Err(code) });
        }
        let mut options = options.unwrap_or_default();
        options.connect_timeout = Some(
            options
                .connect_timeout
                .unwrap_or(CONNECT_TIMEOUT)
                .min(CONNECT_TIMEOUT),
        );
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}
