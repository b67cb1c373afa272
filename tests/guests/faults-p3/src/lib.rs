//! `faults-p3`: a WASI 0.3 HTTP guest that misbehaves on request, for the
//! instance reuse tests. Every answer carries `x-instance-requests`, the
//! requests its instance has served (this one included), and the body
//! `<path> <n>`.
//!
//! - `/count`: answers.
//! - `/panic`: panics (a trap).
//! - `/loop`: spins forever.
//! - `/sleep?ms=N`: waits N ms on the WASI clock, then answers.
//! - `/alloc`: allocates 1 MiB blocks forever.
//! - `/keep?mb=N`: adds N MiB to memory the instance keeps, then answers.
//! - `/trickle?ms=N`: answers `first\n` at once, then waits N ms before it
//!   writes `second\n` and ends the body.
//! - `/whoami?ms=N&after=M`: waits N ms, asks the platform who called
//!   (`minicloud:platform/identity`), logs `whoami: <kind> <id>` through
//!   `wasi:logging` and answers `<kind> <id>`; with
//!   `after=M` it asks again M ms after its response has ended and answers
//!   that on its next `/later` request (an instance's requests share
//!   it): `/later` answers `<kind> <id>` of the last such question, or
//!   `none`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use wasip3::http::types::{ErrorCode, Fields, Request, Response};
use wasip3::{wit_future, wit_stream};

wasip3::http::service::export!(Faults);

mod platform {
    wit_bindgen::generate!({
        inline: "
            package test:faults-p3;
            world platform {
                import minicloud:platform/identity@0.1.0;
                import wasi:logging/logging@0.1.0-draft;
            }
        ",
        path: "../../../wit",
        generate_all,
    });
}

use platform::minicloud::platform::identity;
use platform::wasi::logging::logging;

/// `<kind> <id>` of the caller the platform names, also logged through
/// `wasi:logging`.
fn whoami() -> String {
    let caller = identity::caller();
    let kind = match caller.kind {
        identity::PrincipalKind::User => "user",
        identity::PrincipalKind::ApiKey => "api-key",
        identity::PrincipalKind::Anonymous => "anonymous",
    };
    let text = format!("{kind} {}", caller.id);
    logging::log(logging::Level::Info, "whoami", &text);
    text
}

static LATER: Mutex<Option<String>> = Mutex::new(None);

struct Faults;

static SERVED: AtomicU64 = AtomicU64::new(0);
static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

impl wasip3::exports::http::handler::Guest for Faults {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let served = SERVED.fetch_add(1, Ordering::Relaxed) + 1;
        let target = request.get_path_with_query().unwrap_or_default();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let number = |key: &str| {
            query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        println!("faults-p3: {path} (request {served} of this instance)");
        match path {
            "/panic" => panic!("deliberate panic"),
            "/loop" => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "/sleep" => {
                let ns = number("ms").saturating_mul(1_000_000);
                wasip3::clocks::monotonic_clock::wait_for(ns).await;
            }
            "/alloc" => {
                let mut blocks = Vec::new();
                loop {
                    blocks.push(std::hint::black_box(vec![1u8; 1 << 20]));
                }
            }
            "/keep" => {
                let mb = number("mb") as usize;
                KEPT.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(vec![1u8; mb << 20]);
            }
            "/whoami" => {
                let ns = number("ms").saturating_mul(1_000_000);
                wasip3::clocks::monotonic_clock::wait_for(ns).await;
            }
            _ => {}
        }
        let headers = Fields::new();
        headers
            .set("x-instance-requests", &[served.to_string().into_bytes()])
            .map_err(|e| ErrorCode::InternalError(Some(format!("{e:?}"))))?;
        let (mut body, contents) = wit_stream::new();
        let (_, trailers) = wit_future::new(|| Ok(None));
        let (response, _sent) = Response::new(headers, Some(contents), trailers);
        if path == "/trickle" {
            let ns = number("ms").saturating_mul(1_000_000);
            wasip3::spawn(async move {
                body.write_all(b"first\n".to_vec()).await;
                wasip3::clocks::monotonic_clock::wait_for(ns).await;
                body.write_all(b"second\n".to_vec()).await;
            });
            return Ok(response);
        }
        if path == "/whoami" {
            let text = whoami();
            let after = number("after").saturating_mul(1_000_000);
            wasip3::spawn(async move {
                body.write_all(text.into_bytes()).await;
                drop(body);
                if after > 0 {
                    wasip3::clocks::monotonic_clock::wait_for(after).await;
                    *LATER.lock().unwrap_or_else(|e| e.into_inner()) = Some(whoami());
                }
            });
            return Ok(response);
        }
        if path == "/later" {
            let text = LATER.lock().unwrap_or_else(|e| e.into_inner()).take();
            let text = text.unwrap_or_else(|| "none".into());
            wasip3::spawn(async move {
                body.write_all(text.into_bytes()).await;
            });
            return Ok(response);
        }
        let text = format!("{path} {served}\n");
        wasip3::spawn(async move {
            body.write_all(text.into_bytes()).await;
        });
        Ok(response)
    }
}
