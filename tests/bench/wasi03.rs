//! WASI 0.3 HTTP components (issue 19, part 2): MiniCloud serving
//! `hello-p3` with a fresh instance per request
//! and with instance reuse (`wasmtime serve`'s defaults for 0.3: 128
//! requests an instance, 16 at once), against `wasmtime serve` running the same component in its
//! default mode (which reuses), and a native axum handler, in one run; and
//! the Python hello for WASI 0.3 (`hello-p3-py`, componentize-py: CPython
//! in the component) fresh and reused, where reuse skips the interpreter's
//! start.

use super::{
    CONNECTIONS, free_port, guests, load, load_with_cpu, native_server_rps, row, serve_command, spawn_until,
    stop, us, wait_for_200, wasmtime_serve,
};

/// The reuse setting, in a deploy's query: `wasmtime serve`'s defaults
/// for WASI 0.3 components.
const REUSE: &str = "?reuse=128,16,60000";

pub(crate) async fn wasi_03(native: Option<f64>) {
    let native = match native {
        Some(rps) => rps,
        None => native_server_rps().await,
    };
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let serve = serve_command(data.path(), port);
    let (child, url) = spawn_until(serve, "minicloud listening on http://");
    let http = reqwest::Client::new();
    let token = std::fs::read_to_string(data.path().join("admin-token"))
        .unwrap()
        .trim()
        .to_owned();
    let rust = std::fs::read(guests::HELLO_P3).unwrap();
    let python = std::fs::read(guests::HELLO_P3_PY).unwrap();
    for (name, query, bytes) in [
        ("p3fresh", "", &rust),
        ("p3reuse", REUSE, &rust),
        ("pyfresh", "", &python),
        ("pyreuse", REUSE, &python),
    ] {
        let resp = http
            .put(format!(
                "http://{url}/api/v1/projects/default/functions/{name}{query}"
            ))
            .bearer_auth(&token)
            .header("content-type", "application/wasm")
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "deploy {name}: {}", resp.status());
        wait_for_200(&http, &format!("http://{url}/fn/default/{name}/")).await;
    }
    let fresh = load(&url, "/fn/default/p3fresh/").await;
    let (reused, reused_cpu) = load_with_cpu(&url, "/fn/default/p3reuse/", child.id()).await;
    let py_fresh = load(&url, "/fn/default/pyfresh/").await;
    let py_reused = load(&url, "/fn/default/pyreuse/").await;
    stop(child);
    let wasmtime = wasmtime_serve(guests::HELLO_P3).await;

    println!("throughput and latency, WASI 0.3 hello component ({CONNECTIONS} connections):");
    match &wasmtime {
        Some((version, l, _)) => row(&format!("wasmtime serve ({version}), reuse"), l, native),
        None => println!(
            "wasmtime serve: not installed ({}), skipped",
            crate::WASMTIME_INSTALL
        ),
    }
    row("MiniCloud, fresh instances", &fresh, native);
    row("MiniCloud, reuse", &reused, native);
    if let Some((_, l, cpu)) = &wasmtime {
        println!(
            "  MiniCloud reuse / wasmtime serve reuse: {:.2}x (p99 {:.2}x theirs); fresh / wasmtime serve: {:.2}x",
            reused.rps / l.rps,
            reused.p99.as_secs_f64() / l.p99.as_secs_f64(),
            fresh.rps / l.rps
        );
        println!(
            "  CPU per reused request: MiniCloud {:.1} µs, wasmtime serve {:.1} µs ({:.2}x)",
            us(reused_cpu),
            us(*cpu),
            us(reused_cpu) / us(*cpu)
        );
    }
    println!(
        "  MiniCloud reuse / native axum: {:.2}x (target at least 0.5x)",
        reused.rps / native
    );
    row("Python, fresh instances", &py_fresh, native);
    row("Python, reuse", &py_reused, native);
    println!(
        "  Python reuse / fresh: {:.1}x the requests a second\n",
        py_reused.rps / py_fresh.rps
    );
}
