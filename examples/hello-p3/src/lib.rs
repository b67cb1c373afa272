//! `hello-p3`: an HTTP function for WASI 0.3 (`wasi:http/handler@0.3.0`).
//!
//! `GET` answers with a greeting, written to the body after the handler has
//! returned the response; any other method echoes the request's body back,
//! streamed straight through. Every answer says, in `x-instance-requests`,
//! how many requests this instance has served: 1 unless the function opted
//! in to instance reuse.

use std::sync::atomic::{AtomicU64, Ordering};
use wasip3::http::types::{ErrorCode, Fields, Method, Request, Response};
use wasip3::{wit_future, wit_stream};

wasip3::http::service::export!(Hello);

struct Hello;

/// Requests this instance has served, this one included.
static SERVED: AtomicU64 = AtomicU64::new(0);

impl wasip3::exports::http::handler::Guest for Hello {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let served = SERVED.fetch_add(1, Ordering::Relaxed) + 1;
        let path = request.get_path_with_query().unwrap_or_default();
        let method = request.get_method();
        println!("hello-p3: {} {path}", method_name(&method));
        let headers = Fields::new();
        headers
            .set("x-instance-requests", &[served.to_string().into_bytes()])
            .map_err(|e| ErrorCode::InternalError(Some(format!("{e:?}"))))?;
        if !matches!(method, Method::Get | Method::Head) {
            // The request's body becomes the response's, unread by the guest.
            let (done_tx, done_rx) = wit_future::new(|| Ok(()));
            let (body, trailers) = Request::consume_body(request, done_rx);
            drop(done_tx);
            let (response, _sent) = Response::new(headers, Some(body), trailers);
            return Ok(response);
        }
        let name = query_param(&path, "name").unwrap_or("world");
        let greeting = format!("Hello, {name}! (from MiniCloud, WASI 0.3)\n");
        let (mut body, contents) = wit_stream::new();
        let (trailers_tx, trailers) = wit_future::new(|| Ok(None));
        let (response, _sent) = Response::new(headers, Some(contents), trailers);
        wasip3::spawn(async move {
            body.write_all(greeting.into_bytes()).await;
            drop(body);
            trailers_tx.write(Ok(None)).await.ok();
        });
        Ok(response)
    }
}

/// The first value of `key` in the query of `path`, undecoded.
fn query_param<'a>(path: &'a str, key: &str) -> Option<&'a str> {
    let (_, query) = path.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The method as it appears on the wire.
fn method_name(method: &Method) -> &str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(other) => other,
    }
}
