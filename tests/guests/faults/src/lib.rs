//! `faults`: one HTTP guest that misbehaves in the way its path names.
//! See `tests/guests/README.md`.

use minicloud_sdk::http::{Request, Response};
use minicloud_sdk::wasi::exports::http::incoming_handler::Guest;
use minicloud_sdk::wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use std::hint::black_box;

fn param(req: &Request, name: &str, default: u64) -> u64 {
    req.query_param(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Recursion whose frames live on the wasm stack (no locals in memory).
fn recurse(n: u64) -> u64 {
    if n == u64::MAX {
        return 0;
    }
    recurse(n + 1).wrapping_mul(3).wrapping_add(n)
}

/// Recursion with large frames, which live on the shadow stack in linear
/// memory.
fn recurse_big(n: u64) -> u64 {
    if n == u64::MAX {
        return 0;
    }
    let buf = black_box([n; 64]);
    black_box(recurse_big(buf[3] + 1)) + buf[7]
}

fn buffered(req: Request) -> Response {
    match req.path() {
        "/ok" => Response::text(200, "ok"),
        "/loop" => {
            let mut x = 0u64;
            loop {
                x = black_box(x.wrapping_add(1));
            }
        }
        "/sleep" | "/slow" => {
            std::thread::sleep(std::time::Duration::from_millis(param(&req, "ms", 100)));
            Response::text(200, "slept")
        }
        "/alloc" => {
            let mut blocks = Vec::new();
            loop {
                blocks.push(black_box(vec![1u8; 1024 * 1024]));
            }
        }
        "/stack" => Response::text(200, recurse(param(&req, "from", 1)).to_string()),
        "/stack-frames" => Response::text(200, recurse_big(1).to_string()),
        "/panic" => panic!("deliberate panic"),
        "/env" => {
            let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
            Response::text(200, vars.join("\n"))
        }
        "/fs" => {
            let root = std::fs::read_dir("/").map(|d| d.count());
            let passwd = std::fs::read_to_string("/etc/passwd").map(|s| s.len());
            Response::text(
                200,
                format!("read_dir: {}\nread: {}", root.is_ok(), passwd.is_ok()),
            )
        }
        "/net" => {
            let tcp = std::net::TcpStream::connect("127.0.0.1:4222");
            Response::text(200, format!("connect: {}", tcp.is_ok()))
        }
        "/logs" => {
            for i in 0..param(&req, "n", 3) {
                println!("line {i}");
            }
            eprintln!("to stderr");
            Response::text(200, "logged")
        }
        "/nul" => {
            println!("before\0after");
            Response::text(200, "logged a NUL")
        }
        "/headers" => {
            let lines: Vec<String> = req
                .headers()
                .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v)))
                .collect();
            Response::text(200, lines.join("\n"))
        }
        "/cookies" => Response::text(200, "cookies set")
            .header("set-cookie", "theme=dark; Path=/")
            .header("set-cookie", "mc_console=planted; Domain=localhost; Path=/console")
            .header("set-cookie", "__Host-mc_console=planted; Path=/; Secure"),
        other => Response::text(404, format!("no fault named {other}")),
    }
}

/// Writes `mb` MiB of `x`, declaring the length or not.
fn stream(out: ResponseOutparam, mb: u64, declare: bool) {
    let headers = Fields::new();
    if declare {
        let _ = headers.append("content-length", (mb * 1024 * 1024).to_string().as_bytes());
    }
    let response = OutgoingResponse::new(headers);
    let Ok(body) = response.body() else { return };
    ResponseOutparam::set(out, Ok(response));
    let Ok(stream) = body.write() else { return };
    let chunk = vec![b'x'; 64 * 1024];
    let writable = stream.subscribe();
    for _ in 0..mb * 16 {
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            writable.block();
            let Ok(n) = stream.check_write() else { return };
            let n = (n as usize).min(rest.len());
            if stream.write(&rest[..n]).is_err() {
                return;
            }
            rest = &rest[n..];
        }
    }
    let _ = stream.blocking_flush();
    drop(writable);
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}

/// Sends its head and `first`, then, unless `ms` is 0, waits `ms` on a
/// WASI clock and sends `second`; it declares no length.
fn trickle(out: ResponseOutparam, ms: u64) {
    let response = OutgoingResponse::new(Fields::new());
    let Ok(body) = response.body() else { return };
    ResponseOutparam::set(out, Ok(response));
    let Ok(stream) = body.write() else { return };
    if stream.blocking_write_and_flush(b"first\n").is_err() {
        return;
    }
    if ms > 0 {
        std::thread::sleep(std::time::Duration::from_millis(ms));
        let _ = stream.blocking_write_and_flush(b"second\n");
    }
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}

struct Faults;

impl Guest for Faults {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let mb = path
            .split_once("mb=")
            .and_then(|(_, v)| v.split('&').next()?.parse().ok())
            .unwrap_or(1);
        if path.starts_with("/big") {
            return stream(out, mb, true);
        }
        if path.starts_with("/stream") {
            return stream(out, mb, false);
        }
        if path.starts_with("/trickle") {
            let ms = path
                .split_once("ms=")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(100);
            return trickle(out, ms);
        }
        minicloud_sdk::http::serve(request, out, buffered)
    }
}

minicloud_sdk::wasi::http::proxy::export!(Faults);
