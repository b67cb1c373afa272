//! `echo`: streams the request body back as the response body, chunk by
//! chunk, without holding it whole; keeps the request's content type.

use minicloud_sdk::wasi::exports::http::incoming_handler::Guest;
use minicloud_sdk::wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use minicloud_sdk::wasi::io::streams::StreamError;

struct Echo;

impl Guest for Echo {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let headers = Fields::new();
        for (name, value) in request.headers().entries() {
            if name.eq_ignore_ascii_case("content-type") {
                let _ = headers.append(&name, &value);
            }
        }
        let response = OutgoingResponse::new(headers);
        let Ok(out_body) = response.body() else { return };
        ResponseOutparam::set(out, Ok(response));
        let Ok(in_body) = request.consume() else { return };
        let (Ok(input), Ok(output)) = (in_body.stream(), out_body.write()) else {
            return;
        };
        let writable = output.subscribe();
        loop {
            match input.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    // check-write tells how much the host takes now.
                    let mut rest = &chunk[..];
                    while !rest.is_empty() {
                        writable.block();
                        let Ok(n) = output.check_write() else { return };
                        let n = (n as usize).min(rest.len());
                        if output.write(&rest[..n]).is_err() {
                            return;
                        }
                        rest = &rest[n..];
                    }
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(_)) => return,
            }
        }
        let _ = output.blocking_flush();
        drop(writable);
        drop(input);
        drop(output);
        IncomingBody::finish(in_body);
        let _ = OutgoingBody::finish(out_body, None);
    }
}

minicloud_sdk::wasi::http::proxy::export!(Echo);
