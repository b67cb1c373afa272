//! Outbound HTTP (`wasi:http/outgoing-handler`), allowed only to hosts the
//! function's execution role grants (`http:Fetch` on
//! `mrn:http:<org>:<project>:host/<host>`); a refused request fails with
//! [`Error::AccessDenied`].
//!
//! ```no_run
//! use minicloud_sdk::fetch;
//!
//! # fn f() -> minicloud_sdk::Result<()> {
//! let resp = fetch::send("POST", "https://hooks.example.com/in", &[("content-type", "application/json")], b"{}")?;
//! assert_eq!(resp.status, 200);
//! # Ok(()) }
//! ```

use crate::Result;
use crate::error::Error;
use crate::wasi::http::outgoing_handler;
use crate::wasi::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use std::io::{Read, Write};

/// A response, its body read whole.
#[derive(Debug, Clone)]
pub struct FetchResponse {
    /// The status code.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl FetchResponse {
    /// The first value of a header, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

fn method(name: &str) -> Method {
    match name.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_owned()),
    }
}

fn failed(code: ErrorCode) -> Error {
    match code {
        ErrorCode::HttpRequestDenied => {
            Error::AccessDenied("the function's execution role does not grant this host (http:Fetch)".into())
        }
        ErrorCode::DestinationIpProhibited => Error::AccessDenied(
            "the platform does not let functions reach this address (loopback, link-local or private; \
             the function's log says which)"
                .into(),
        ),
        ErrorCode::ConnectionLimitReached => {
            Error::LimitExceeded("this invocation made its allowed number of outbound requests".into())
        }
        other => Error::Unavailable(format!("the request failed: {other:?}")),
    }
}

/// Sends a request and reads the whole response.
pub fn send(method_name: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<FetchResponse> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| Error::Invalid(format!("{url:?} is not an absolute URL")))?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(Error::Invalid(format!("unsupported scheme {other:?}"))),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let fields: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&fields).map_err(|e| Error::Invalid(format!("bad header: {e:?}")))?;
    let req = OutgoingRequest::new(fields);
    let bad = |what: &str| Error::Invalid(format!("invalid {what} in {url:?}"));
    req.set_method(&method(method_name)).map_err(|()| bad("method"))?;
    req.set_scheme(Some(&scheme)).map_err(|()| bad("scheme"))?;
    req.set_authority(Some(authority))
        .map_err(|()| bad("authority"))?;
    req.set_path_with_query(Some(path)).map_err(|()| bad("path"))?;
    let outgoing = req.body().map_err(|()| Error::Io("no request body".into()))?;
    let future = outgoing_handler::handle(req, None).map_err(failed)?;
    // A refused request fails its body too: write, then let the response
    // say why before blaming the body.
    let written = outgoing
        .write()
        .map_err(|()| Error::Io("no request body stream".into()))
        .and_then(|mut stream| {
            stream.write_all(body)?;
            Write::flush(&mut stream)?;
            Ok(())
        });
    let finished = OutgoingBody::finish(outgoing, None).map_err(failed);
    future.subscribe().block();
    let resp = match future.get() {
        Some(Ok(Ok(resp))) => resp,
        Some(Ok(Err(code))) => return Err(failed(code)),
        _ => return Err(Error::Unavailable("no response".into())),
    };
    written?;
    finished?;
    let status = resp.status();
    let headers = resp.headers().entries();
    let incoming = resp
        .consume()
        .map_err(|()| Error::Io("no response body".into()))?;
    let mut body = Vec::new();
    {
        let mut stream = incoming
            .stream()
            .map_err(|()| Error::Io("no response body stream".into()))?;
        stream.read_to_end(&mut body)?;
    }
    Ok(FetchResponse {
        status,
        headers,
        body,
    })
}
