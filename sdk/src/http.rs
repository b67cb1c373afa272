//! HTTP functions with buffered bodies, on the standard `wasi:http/proxy`
//! world. For streaming, use [`crate::wasi::http::types`] directly (see the
//! `echo` example).

use crate::wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use std::io::{Read, Write};

/// A request, its body read whole.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    path_with_query: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Request {
    /// `GET`, `POST`, ...
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.path_with_query.split('?').next().unwrap_or("/")
    }

    /// The query string, without `?`.
    pub fn query(&self) -> Option<&str> {
        self.path_with_query.split_once('?').map(|(_, q)| q)
    }

    /// The value of a query parameter (no percent-decoding).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query()?
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The first value of a header, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Every header, in the order received (names in lower case).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// A response, its body in memory.
#[derive(Debug, Clone)]
pub struct Response {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Response {
    /// A response with a status and a body.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self::new(status, body.into()).header("content-type", "text/plain; charset=utf-8")
    }

    /// An `application/json` response.
    pub fn json(status: u16, value: &impl serde::Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::new(status, body).header("content-type", "application/json"),
            Err(e) => Self::text(500, format!("cannot encode JSON: {e}")),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

fn method_name(m: Method) -> String {
    match m {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(s) => s,
    }
}

fn read_body(req: &IncomingRequest) -> Result<Vec<u8>, String> {
    let body = req
        .consume()
        .map_err(|()| "the request body was already taken".to_owned())?;
    let mut bytes = Vec::new();
    {
        let mut stream = body.stream().map_err(|()| "no body stream".to_owned())?;
        stream
            .read_to_end(&mut bytes)
            .map_err(|e| format!("reading the body failed: {e}"))?;
    }
    IncomingBody::finish(body);
    Ok(bytes)
}

fn send(out: ResponseOutparam, resp: Response) {
    let mut headers: Vec<(String, Vec<u8>)> = resp.headers;
    headers.push(("content-length".into(), resp.body.len().to_string().into_bytes()));
    let fields = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
    let outgoing = OutgoingResponse::new(fields);
    let _ = outgoing.set_status_code(resp.status);
    let Ok(body) = outgoing.body() else { return };
    ResponseOutparam::set(out, Ok(outgoing));
    if let Ok(mut stream) = body.write() {
        // A failed write means the client went away: nothing left to do.
        let _ = stream
            .write_all(&resp.body)
            .and_then(|()| Write::flush(&mut stream));
    }
    let _ = OutgoingBody::finish(body, None);
}

/// Reads the request, calls the handler, writes its response. Used by
/// [`http_handler!`].
#[doc(hidden)]
pub fn serve(req: IncomingRequest, out: ResponseOutparam, f: fn(Request) -> Response) {
    let body = match read_body(&req) {
        Ok(body) => body,
        Err(message) => return send(out, Response::text(400, message)),
    };
    let request = Request {
        method: method_name(req.method()),
        path_with_query: req.path_with_query().unwrap_or_else(|| "/".into()),
        headers: req.headers().entries(),
        body,
    };
    send(out, f(request));
}

/// Exports `fn(Request) -> Response` as the component's
/// `wasi:http/incoming-handler`.
#[macro_export]
macro_rules! http_handler {
    ($f:path) => {
        struct __MinicloudHttpHandler;

        impl $crate::wasi::exports::http::incoming_handler::Guest for __MinicloudHttpHandler {
            fn handle(
                request: $crate::wasi::http::types::IncomingRequest,
                response_out: $crate::wasi::http::types::ResponseOutparam,
            ) {
                $crate::http::serve(request, response_out, $f)
            }
        }

        $crate::wasi::http::proxy::export!(__MinicloudHttpHandler);
    };
}
