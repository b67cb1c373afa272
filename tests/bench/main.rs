//! The platform benchmark: `scripts/bench.sh` (which builds what it needs
//! and pins processes) runs it. Prints figures and ratios against baselines
//! measured in the same run: a native axum handler, and `wasmtime serve`
//! when it is installed. Not a test: nothing here asserts a speed.
#![allow(
    clippy::unwrap_used,
    reason = "a benchmark that cannot run should stop loudly"
)]

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use minicloud_runtime::{InvocationContext, InvocationReport, Limits, ReportSink, Runtime, RuntimeConfig};
use minicloud_tests::guests;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod capabilities;
mod events;
mod neighbours;
mod patterns;
mod plain;
mod policy;
mod python;
mod wasi03;
mod workflows;

const LOAD_SECONDS: u64 = 5;
const CONNECTIONS: usize = 32;
const SERVER_CORE: &str = "0";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("native-server") {
        return native_server();
    }
    if args.get(1).map(String::as_str) == Some("policy") {
        return print_policy();
    }
    if args.get(1).map(String::as_str) == Some("patterns") {
        return patterns::throughput();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Only the in-process part, e.g. under a profiler.
    if args.get(1).map(String::as_str) == Some("in-process") {
        println!("{}", rt.block_on(on_one_worker(in_process())));
        return;
    }
    // Load alone against a running server (`load <host:port> <path>`), e.g.
    // while `perf record` samples the server; `LOAD_BEARER` sends that
    // token on every request (the API's routes).
    if args.get(1).map(String::as_str) == Some("load") {
        let (Some(addr), Some(path)) = (args.get(2), args.get(3)) else {
            panic!("usage: platform load <host:port> <path> [server pid]");
        };
        let server = args.get(4).map(|pid| pid.parse::<u32>().expect("a pid"));
        let (l, cpu) = rt.block_on(on_worker(load_owned(addr.clone(), path.clone(), server)));
        let cpu = cpu.map_or_else(String::new, |cpu| {
            format!(", server CPU {:.1} µs a request", us(cpu))
        });
        println!(
            "{:.0} req/s, p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs{cpu}{}",
            l.rps,
            us(l.p50),
            us(l.p99),
            us(l.p999),
            failures(&l)
        );
        return;
    }
    if args.get(1).map(String::as_str) == Some("host-calls") {
        return rt.block_on(on_worker(capabilities::host_calls()));
    }
    if args.get(1).map(String::as_str) == Some("startup") {
        return rt.block_on(startup());
    }
    if args.get(1).map(String::as_str) == Some("python") {
        return rt.block_on(on_worker(python::python()));
    }
    if args.get(1).map(String::as_str) == Some("events") {
        return rt.block_on(on_worker(events::delivery()));
    }
    if args.get(1).map(String::as_str) == Some("neighbours") {
        return rt.block_on(on_worker(neighbours::neighbours()));
    }
    if args.get(1).map(String::as_str) == Some("wasi03") {
        return rt.block_on(wasi03::wasi_03(None));
    }
    if args.get(1).map(String::as_str) == Some("workflows") {
        // Not spawned: creating its PostgreSQL database holds a sqlx
        // future that is not `Send` for every lifetime.
        return rt.block_on(workflows::workflows());
    }
    rt.block_on(run());
}

fn print_policy() {
    let (p50, p99, allowed) = policy::decisions();
    println!("policy evaluation, realistic principal (5 policies, 20 statements, conditions):");
    println!(
        "  per decision p50 {:.2} µs, p99 {:.2} µs ({allowed}% of the requests allowed)\n",
        us(p50),
        us(p99)
    );
}

/// The baseline: the same handler written natively in axum.
fn native_server() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = axum::Router::new().fallback(|| async { "Hello, world! (from MiniCloud)\n" });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("listening on http://{}", listener.local_addr().unwrap());
        axum::serve(listener, app).await.unwrap();
    });
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The middle of some samples.
fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The reports of benchmark invocations (which must all succeed).
#[derive(Debug, Default)]
struct Collect {
    /// Each report's instantiation time, in the order reported.
    instantiate: Mutex<Vec<Duration>>,
    /// Told at each report.
    reported: tokio::sync::Notify,
}

impl ReportSink for Collect {
    fn report(&self, r: InvocationReport) {
        assert!(r.error.is_none(), "benchmark invocation failed: {:?}", r.error);
        self.instantiate.lock().unwrap().push(r.instantiate);
        self.reported.notify_one();
    }
}

/// The context of an anonymous benchmark invocation reporting to `sink`.
fn anonymous_context(sink: Arc<dyn ReportSink>) -> InvocationContext {
    InvocationContext {
        invocation_id: String::new(),
        trace_id: "".into(),
        sink,
        caller: minicloud_runtime::Caller::anonymous(),
        delivery: None,
        task: None,
    }
}

/// Runs a future on a runtime worker, where a server's request handlers
/// run (not on the thread that called `block_on`).
async fn on_worker<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
    tokio::spawn(fut).await.unwrap()
}

/// Runs an in-process measurement on a runtime of its own with one worker
/// thread (on a thread of its own, since no runtime starts inside
/// another), as the server pinned to its core runs: tokio starts a worker
/// a core it may use. On this process's runtime of two workers, each
/// invocation's task woke the idle worker (an `eventfd` write and a switch
/// of threads at its spawn, its end, its body's drop, its timers: 3-3.5
/// µs of CPU an invocation, BENCHMARKS 2026-12-07, noon), which the server
/// never does; from the thread that blocks on that runtime, each
/// invocation's end woke that thread.
async fn on_one_worker<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let _ = tx.send(runtime.block_on(on_worker(fut)));
    });
    rx.await.expect("the measurement's thread panicked")
}

/// One invocation in process: store, request, instantiate, call, body.
async fn in_process() -> InProcess {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let compiled = runtime.compile(&std::fs::read(guests::HELLO).unwrap()).unwrap();
    let function = runtime
        .function(&compiled.component, compiled.world, Limits::default(), Vec::new())
        .unwrap();
    let sink = Arc::new(Collect::default());
    let mut per_call = Vec::with_capacity(20_000);
    let mut cpu_before = Duration::ZERO;
    for i in 0..22_000 {
        if i == 2_000 {
            cpu_before = cpu_time(std::process::id());
        }
        let req = http::Request::get("http://localhost/")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let ctx = anonymous_context(sink.clone());
        let start = Instant::now();
        let resp = function.handle_http(req, ctx, ()).await.unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        // Until the invocation's task has ended it (dropped the store,
        // reported), which it does after the body is read: otherwise that
        // end falls into the next invocation's time, and the times
        // alternated between two modes (about 29 and 45 µs, 2026-12-07).
        sink.reported.notified().await;
        let took = start.elapsed();
        assert_eq!(&body[..], b"Hello, world! (from MiniCloud)\n");
        if i >= 2_000 {
            per_call.push(took);
        }
    }
    let cpu = cpu_time(std::process::id()).saturating_sub(cpu_before) / 20_000;
    per_call.sort();
    let mut inst = sink.instantiate.lock().unwrap().split_off(2_000);
    inst.sort();
    let plain = plain::plain_wasmtime(runtime.engine(), &compiled.component).await;
    InProcess {
        mean: per_call.iter().sum::<Duration>() / per_call.len() as u32,
        p50: percentile(&per_call, 0.5),
        instantiate: percentile(&inst, 0.5),
        plain_p50: percentile(&plain, 0.5),
        cpu,
    }
}

struct InProcess {
    mean: Duration,
    p50: Duration,
    instantiate: Duration,
    plain_p50: Duration,
    /// CPU time of the whole process per invocation (its epoch ticker too).
    cpu: Duration,
}

impl std::fmt::Display for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "  MiniCloud: mean {:.1} µs, p50 {:.1} µs, CPU {:.1} µs; instantiate alone p50 {:.1} µs\n  \
             plain wasmtime host, same engine: p50 {:.1} µs; MiniCloud / plain: {:.2}x",
            us(self.mean),
            us(self.p50),
            us(self.cpu),
            us(self.instantiate),
            us(self.plain_p50),
            us(self.p50) / us(self.plain_p50)
        )
    }
}

struct Load {
    rps: f64,
    p50: Duration,
    p99: Duration,
    /// The 99.9th percentile: a stall of the server's runtime every few
    /// seconds shows here before it shows in the p99.
    p999: Duration,
    requests: u32,
    /// Requests that failed (a connection closed under one, another status
    /// than 200); each failed connection is opened again.
    failed: u32,
}

/// Field `n` (counted from 1, as in proc(5)) of `/proc/<pid>/stat`, from
/// the third on (the ones after the command's closing parenthesis).
fn proc_stat(pid: u32, n: usize) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 1..];
    after.split_whitespace().nth(n - 3).unwrap().parse().unwrap()
}

/// CPU time (user and system, all threads) that process `pid` has used so
/// far: utime and stime of `/proc/<pid>/stat`, in USER_HZ ticks (100 a
/// second on Linux).
fn cpu_time(pid: u32) -> Duration {
    Duration::from_millis((proc_stat(pid, 14) + proc_stat(pid, 15)) * 10)
}

/// [`load`], and the server's CPU time per request it served.
async fn load_with_cpu(addr: &str, path: &str, server: u32) -> (Load, Duration) {
    let before = cpu_time(server);
    let l = load(addr, path).await;
    let used = cpu_time(server).saturating_sub(before);
    let per_request = used / l.requests.max(1);
    (l, per_request)
}

/// Keep-alive HTTP/1.1 load from this process (pinned to another core),
/// with `LOAD_BEARER`'s token if it is set.
async fn load(addr: &str, path: &str) -> Load {
    let deadline = Instant::now() + Duration::from_secs(LOAD_SECONDS);
    let authorization = std::env::var("LOAD_BEARER").ok().map(|t| format!("Bearer {t}"));
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let addr = addr.to_owned();
            let path = path.to_owned();
            let authorization = authorization.clone();
            tokio::spawn(async move {
                let mut send = connect(&addr).await;
                let mut latencies = Vec::new();
                let mut failed = 0;
                while Instant::now() < deadline {
                    let mut req = http::Request::get(&path).header("host", &addr);
                    if let Some(authorization) = &authorization {
                        req = req.header("authorization", authorization);
                    }
                    let req = req.body(Empty::<Bytes>::new()).unwrap();
                    let start = Instant::now();
                    match get(&mut send, req).await {
                        Ok(()) => latencies.push(start.elapsed()),
                        Err(why) => {
                            // Counted and reported beside the figures;
                            // each connection prints its first.
                            if failed == 0 {
                                eprintln!("GET {path} of {addr} failed: {why}");
                            }
                            failed += 1;
                            send = connect(&addr).await;
                        }
                    }
                }
                (latencies, failed)
            })
        })
        .collect();
    let start = Instant::now();
    let mut all = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (latencies, failures) = t.await.unwrap();
        all.extend(latencies);
        failed += failures;
    }
    let elapsed = start.elapsed();
    all.sort();
    Load {
        rps: all.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        p999: percentile(&all, 0.999),
        requests: u32::try_from(all.len()).unwrap_or(u32::MAX),
        failed,
    }
}

/// A keep-alive HTTP/1.1 connection to `addr`.
async fn connect(addr: &str) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

/// One request, its whole answer read; why it failed, if it did.
async fn get(
    send: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    req: http::Request<Empty<Bytes>>,
) -> Result<(), String> {
    let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
    if resp.status() != 200 {
        return Err(format!("status {}", resp.status()));
    }
    resp.into_body().collect().await.map_err(|e| e.to_string())?;
    Ok(())
}

async fn load_owned(addr: String, path: String, server: Option<u32>) -> (Load, Option<Duration>) {
    match server {
        Some(pid) => {
            let (l, cpu) = load_with_cpu(&addr, &path, pid).await;
            (l, Some(cpu))
        }
        None => (load(&addr, &path).await, None),
    }
}

/// Restarts measured (the median is reported).
const RESTARTS: usize = 21;

/// Starts `cmd` on the server core, timed from the spawn. The child
/// inherits the affinity of the thread that spawns it, so no `taskset`
/// runs inside a measured time.
fn spawn_on_server_core(mut cmd: Command) -> (Instant, Child) {
    std::thread::scope(|s| {
        s.spawn(move || {
            let core: usize = SERVER_CORE.parse().unwrap();
            #[allow(unsafe_code, reason = "sched_setaffinity has no safe wrapper in libc")]
            // SAFETY: `set` is a zeroed, properly sized cpu_set_t that lives
            // across the call; pid 0 is the calling thread.
            let pinned = unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(core, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
            };
            assert_eq!(pinned, 0, "cannot pin to core {core}");
            let spawned = Instant::now();
            (spawned, cmd.spawn().unwrap())
        })
        .join()
        .unwrap()
    })
}

/// Spawns a server on the server core and waits for the line that names
/// its address.
fn spawn_until(mut cmd: Command, marker: &str) -> (Child, String) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    let (_, mut child) = spawn_on_server_core(cmd);
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().expect("server exited before listening").unwrap();
        if let Some(rest) = line.split(marker).nth(1) {
            break rest.trim().trim_end_matches('/').to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    (child, url)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server binary: `MINICLOUD_BIN` if set (an A/B of two builds with
/// the bench's own scenarios), else the release build beside the bench.
fn minicloud_bin() -> String {
    if let Ok(bin) = std::env::var("MINICLOUD_BIN") {
        return bin;
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("minicloud")
        .display()
        .to_string()
}

/// `minicloud serve` on `data`, listening on `port`, logging errors only.
fn serve_command(data: &std::path::Path, port: u16) -> Command {
    let mut cmd = Command::new(minicloud_bin());
    // The load runs far past a tenant's default public request rate: the
    // benchmark measures the platform, not the quota.
    cmd.args(["serve", "--data-dir"])
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--project-quota", "rps=10000000", "--org-quota", "rps=10000000"])
        .env("RUST_LOG", "error");
    cmd
}

fn start_minicloud(data: &std::path::Path, port: u16) -> (Child, String) {
    spawn_until(serve_command(data, port), "minicloud listening on http://")
}

async fn wait_for_200(http: &reqwest::Client, url: &str) -> Duration {
    let start = Instant::now();
    loop {
        if let Ok(r) = http.get(url).send().await
            && r.status() == 200
        {
            return start.elapsed();
        }
        if start.elapsed() > Duration::from_secs(30) {
            panic!("{url} did not answer 200");
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Deploys of the hello component: the first of its bytes (compiled),
/// then the same bytes under other names (only checked again).
struct Deploys {
    /// `hello0`: PUT to its first 200 (Winch's code serves it: the quick
    /// tier).
    first: Duration,
    /// `hello0`: PUT to the end of Cranelift's compile behind it (its
    /// artifact stored, its code swapped in).
    behind: Duration,
    /// `hello0` on a server with `--quick-compile=false`: PUT to its first
    /// 200, Cranelift's compile in between.
    cranelift_first: Duration,
    /// `hello1` ..: the PUT answered.
    repeat_put: Vec<Duration>,
    /// `hello1` ..: PUT to its first 200.
    repeat_first: Vec<Duration>,
}

/// Repeat deploys measured after the first.
const REPEAT_DEPLOYS: usize = 20;

/// Deploys the hello component as `hello0` .. `hello20`, each timed from
/// the PUT to its answer and to the function's first 200.
async fn deploy_hellos(data: &std::path::Path, url: &str) -> Deploys {
    let http = reqwest::Client::new();
    let token = std::fs::read_to_string(data.join("admin-token"))
        .unwrap()
        .trim()
        .to_owned();
    let mut put = Vec::new();
    let mut first = Vec::new();
    let mut behind = Duration::ZERO;
    for i in 0..=REPEAT_DEPLOYS {
        let (answered, served) = deploy_hello(&http, url, &token, &format!("hello{i}")).await;
        put.push(answered);
        first.push(served);
        if i == 0 {
            // The repeats are timed without the first's compile behind it
            // running on the server's core.
            let start = Instant::now();
            let (base, every) = (format!("http://{url}"), Duration::from_micros(500));
            let ended = minicloud_tests::compiles_behind_ended(&http, &base, &token, every);
            assert!(ended.await, "a compile behind a deploy ran past a minute");
            behind = served + start.elapsed();
        }
    }
    let first_deploy = first.remove(0);
    put.remove(0);
    put.sort();
    first.sort();
    Deploys {
        first: first_deploy,
        behind,
        cranelift_first: cranelift_first_deploy().await,
        repeat_put: put,
        repeat_first: first,
    }
}

/// Deploys the hello component as `name` on the server at `url`: the
/// time from the PUT to its answer, and to the function's first 200.
async fn deploy_hello(http: &reqwest::Client, url: &str, token: &str, name: &str) -> (Duration, Duration) {
    let hello = std::fs::read(guests::HELLO).unwrap();
    let start = Instant::now();
    let resp = http
        .put(format!("http://{url}/api/v1/projects/default/functions/{name}"))
        .bearer_auth(token)
        .header("content-type", "application/wasm")
        .body(hello)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let answered = start.elapsed();
    wait_for_200(http, &format!("http://{url}/fn/default/{name}/")).await;
    (answered, start.elapsed())
}

/// The first deploy of the hello component on a server without the quick
/// tier (`--quick-compile=false`): PUT to its first 200.
async fn cranelift_first_deploy() -> Duration {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = serve_command(data.path(), port);
    cmd.arg("--quick-compile=false");
    let (child, url) = spawn_until(cmd, "minicloud listening on http://");
    let token = std::fs::read_to_string(data.path().join("admin-token")).unwrap();
    let (_, served) = deploy_hello(&reqwest::Client::new(), &url, token.trim(), "hello").await;
    stop(child);
    served
}

/// Restarts the server on `data` and times each start to the first 200
/// from `hello0`.
/// Restarts (cold starts): from the spawn to the first 200, and the CPU
/// the server used by then.
struct Restarts {
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
}

async fn restarts(data: &std::path::Path, port: u16) -> Restarts {
    let url = format!("127.0.0.1:{port}");
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..RESTARTS {
        let mut cmd = serve_command(data, port);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let (spawned, child) = spawn_on_server_core(cmd);
        let fresh = reqwest::Client::new();
        wait_for_200(&fresh, &format!("http://{url}/fn/default/hello0/")).await;
        wall.push(spawned.elapsed());
        cpu.push(threads_cpu(child.id()));
        stop(child);
    }
    wall.sort();
    cpu.sort();
    Restarts { wall, cpu }
}

/// CPU time of the live threads of `pid`, to the nanosecond (the first
/// field of each `/proc/<pid>/task/<tid>/schedstat`): for short spans,
/// where [`cpu_time`]'s 10 ms ticks are too coarse. Threads that ended
/// are not counted.
fn threads_cpu(pid: u32) -> Duration {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    let ns = tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(ns)
}

/// Hot restarts (SIGUSR2: a successor takes over the listening socket)
/// while one caller keeps calling `hello0` on fresh connections.
struct HotRestarts {
    /// From the signal to the first 200 of a call made right after it.
    first_response: Vec<Duration>,
    /// The slowest call of each restart (signal to the old server's exit).
    slowest_call: Vec<Duration>,
    /// From the signal to the successor serving (its pid file).
    successor_serving: Vec<Duration>,
    calls: usize,
    failed: usize,
    /// Calls of a second caller that keeps its connection open.
    kept_calls: usize,
    kept_failed: usize,
}

/// Calls `url` until `calling` turns false: when each call started, how
/// long it took, whether it was answered 200.
fn caller(
    http: reqwest::Client,
    url: String,
    calling: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<Vec<(Instant, Duration, bool)>> {
    tokio::spawn(async move {
        let mut calls = Vec::new();
        while calling.load(std::sync::atomic::Ordering::Relaxed) {
            let start = Instant::now();
            let ok = match http.get(&url).send().await {
                Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            calls.push((start, start.elapsed(), ok));
        }
        calls
    })
}

async fn hot_restarts(data: &std::path::Path, port: u16) -> HotRestarts {
    let (first, _) = start_minicloud(data, port);
    let url = format!("http://127.0.0.1:{port}/fn/default/hello0/");
    let fresh = minicloud_tests::fresh_connections();
    wait_for_200(&fresh, &url).await;
    let mut pid = first.id();
    let mut first = Some(first);
    let mut out = HotRestarts {
        first_response: Vec::new(),
        slowest_call: Vec::new(),
        successor_serving: Vec::new(),
        calls: 0,
        failed: 0,
        kept_calls: 0,
        kept_failed: 0,
    };
    let kept = reqwest::Client::new();
    for _ in 0..RESTARTS {
        let calling = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let fresh_caller = caller(fresh.clone(), url.clone(), calling.clone());
        let kept_caller = caller(kept.clone(), url.clone(), calling.clone());
        tokio::time::sleep(Duration::from_millis(20)).await;
        let signalled = Instant::now();
        #[allow(
            unsafe_code,
            reason = "kill(2) has no safe wrapper in libc; a kill process would be timed too"
        )]
        // SAFETY: sends a signal; no memory is shared.
        let sent = unsafe { libc::kill(pid as libc::pid_t, libc::SIGUSR2) };
        assert_eq!(sent, 0, "cannot signal {pid}");
        wait_for_200(&fresh, &url).await;
        out.first_response.push(signalled.elapsed());
        let successor = loop {
            match minicloud_tests::read_pid_file(data) {
                Some(p) if p != pid => break p,
                _ => {
                    assert!(
                        signalled.elapsed() < Duration::from_secs(60),
                        "no successor took over"
                    );
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
            }
        };
        out.successor_serving.push(signalled.elapsed());
        match first.take() {
            Some(mut child) => {
                let _ = child.wait();
            }
            None => wait_gone(pid).await,
        }
        let exited = Instant::now();
        tokio::time::sleep(Duration::from_millis(20)).await;
        calling.store(false, std::sync::atomic::Ordering::Relaxed);
        let kept_calls = kept_caller.await.unwrap();
        out.kept_calls += kept_calls.len();
        out.kept_failed += kept_calls.iter().filter(|(_, _, ok)| !ok).count();
        let calls = fresh_caller.await.unwrap();
        out.calls += calls.len();
        out.failed += calls.iter().filter(|(_, _, ok)| !ok).count();
        let slowest = calls
            .iter()
            .filter(|(start, took, _)| *start + *took >= signalled && *start <= exited)
            .map(|(_, took, _)| *took)
            .max()
            .unwrap_or_default();
        out.slowest_call.push(slowest);
        pid = successor;
    }
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    wait_gone(pid).await;
    for v in [
        &mut out.first_response,
        &mut out.slowest_call,
        &mut out.successor_serving,
    ] {
        v.sort();
    }
    out
}

/// Waits until process `pid` (not a child of this one) is gone.
async fn wait_gone(pid: u32) {
    let start = Instant::now();
    while !minicloud_tests::process_gone(pid) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "process {pid} did not exit"
        );
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// Deploy and restart times alone (`startup` mode).
async fn startup() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let (child, url) = start_minicloud(data.path(), port);
    let deploys = deploy_hellos(data.path(), &url).await;
    // Some traffic, as after the load runs of the full benchmark.
    let http = reqwest::Client::new();
    for _ in 0..200 {
        wait_for_200(&http, &format!("http://{url}/fn/default/hello0/")).await;
    }
    stop(child);
    let restarts = restarts(data.path(), port).await;
    let hot = hot_restarts(data.path(), port).await;
    print_startup(&deploys, &restarts, &hot);
}

fn print_startup(deploys: &Deploys, restarts: &Restarts, hot: &HotRestarts) {
    println!(
        "first deploy to first response (PUT + Winch's compile + store + first call): {:.1} ms (target 150); Cranelift's code in place and its artifact stored {:.1} ms after the PUT",
        us(deploys.first) / 1000.0,
        us(deploys.behind) / 1000.0
    );
    println!(
        "  without the quick tier (--quick-compile=false: Cranelift's compile before the answer): {:.1} ms, {:.2}x",
        us(deploys.cranelift_first) / 1000.0,
        us(deploys.cranelift_first) / us(deploys.first)
    );
    println!(
        "repeat deploy of the same bytes ({REPEAT_DEPLOYS}, checked, not compiled): PUT answered p50 {:.1} ms (max {:.1}); to first response p50 {:.1} ms",
        us(percentile(&deploys.repeat_put, 0.5)) / 1000.0,
        us(percentile(&deploys.repeat_put, 1.0)) / 1000.0,
        us(percentile(&deploys.repeat_first, 0.5)) / 1000.0
    );
    println!(
        "restart to first response (process start to first 200): p50 of {RESTARTS} {:.1} ms (min {:.1}, max {:.1})",
        ms(percentile(&restarts.wall, 0.5)),
        ms(restarts.wall[0]),
        ms(restarts.wall[restarts.wall.len() - 1])
    );
    println!(
        "  the server's CPU by its first 200 (all threads): p50 {:.1} ms (min {:.1}, max {:.1}; target 5)",
        ms(percentile(&restarts.cpu, 0.5)),
        ms(restarts.cpu[0]),
        ms(restarts.cpu[restarts.cpu.len() - 1])
    );
    let at = |v: &[Duration], p: f64| ms(percentile(v, p));
    println!(
        "hot restart (SIGUSR2, the successor takes the socket), {RESTARTS} of them under a caller on fresh connections (and one keeping its connection):"
    );
    println!(
        "  restart to first response (signal to the first 200 of a call made then): p50 {:.2} ms (max {:.2})",
        at(&hot.first_response, 0.5),
        at(&hot.first_response, 1.0)
    );
    println!(
        "  slowest call during a restart: p50 {:.2} ms (max {:.2}); failed calls: {} of {}",
        at(&hot.slowest_call, 0.5),
        at(&hot.slowest_call, 1.0),
        hot.failed,
        hot.calls
    );
    println!(
        "  the caller keeping its connection: failed calls: {} of {}",
        hot.kept_failed, hot.kept_calls
    );
    println!(
        "  successor serving (signal to its pid file): p50 {:.1} ms",
        at(&hot.successor_serving, 0.5)
    );
}

/// The native axum handler under the same load.
async fn native_load() -> Load {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.arg("native-server");
    let (child, url) = spawn_until(cmd, "listening on http://");
    let l = load(&url, "/").await;
    stop(child);
    l
}

/// The native axum handler's requests a second.
async fn native_server_rps() -> f64 {
    native_load().await.rps
}

/// How to install the `wasmtime` that the comparisons run.
pub const WASMTIME_INSTALL: &str = "scripts/wasmtime.sh installs it";

/// `wasmtime serve` (pooling allocator, `wasi:cli` for guests built with
/// std) of `component` under the same load, with its version; `None` when
/// it is not installed.
/// `wasmtime serve` with pooling on `component`, under the load: its
/// version, the load, and its CPU a request (all its threads).
async fn wasmtime_serve(component: &str) -> Option<(String, Load, Duration)> {
    let out = Command::new("wasmtime").arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let port = free_port();
    let mut cmd = Command::new("wasmtime");
    cmd.args([
        "serve",
        "-O",
        "pooling-allocator=y",
        "-S",
        "cli=y",
        "--addr",
        &format!("127.0.0.1:{port}"),
        component,
    ]);
    // It announces itself on stderr and logs each guest line: wait for the
    // port instead.
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let (_, child) = spawn_on_server_core(cmd);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "wasmtime serve did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let (l, cpu) = load_with_cpu(&format!("127.0.0.1:{port}"), "/", child.id()).await;
    stop(child);
    Some((version, l, cpu))
}

fn row(name: &str, l: &Load, native: f64) {
    println!(
        "{name:<28} {:>10.0} req/s  p50 {:>8.1} µs  p99 {:>8.1} µs  {:>5.2}x native{}",
        l.rps,
        us(l.p50),
        us(l.p99),
        l.rps / native,
        failures(l)
    );
}

/// `, N failed` when requests of a load failed.
fn failures(l: &Load) -> String {
    if l.failed == 0 {
        String::new()
    } else {
        format!(", {} failed", l.failed)
    }
}

async fn run() {
    println!(
        "MiniCloud benchmark: servers pinned to core {SERVER_CORE}, load from this process ({CONNECTIONS} keep-alive connections, {LOAD_SECONDS} s each)\n"
    );
    print_policy();
    patterns::throughput();
    on_worker(capabilities::host_calls()).await;
    on_worker(events::delivery()).await;
    on_worker(python::python()).await;

    let measured = on_one_worker(in_process()).await;
    println!("in process, hello component, one invocation (store + request + instantiate + call + body):");
    println!("{measured}\n");

    let native = native_load().await;

    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let (child, url) = start_minicloud(data.path(), port);
    let deploys = deploy_hellos(data.path(), &url).await;
    let (platform, platform_cpu) = load_with_cpu(&url, "/fn/default/hello0/", child.id()).await;
    stop(child);
    let restarts = restarts(data.path(), port).await;
    let hot = hot_restarts(data.path(), port).await;

    let wasmtime = wasmtime_serve(guests::HELLO).await;

    println!("throughput and latency, hello-world function:");
    row("native axum handler", &native, native.rps);
    match &wasmtime {
        Some((version, l, _)) => row(&format!("wasmtime serve ({version})"), l, native.rps),
        None => println!("wasmtime serve: not installed ({WASMTIME_INSTALL}), skipped"),
    }
    row("MiniCloud /fn/...", &platform, native.rps);
    println!(
        "  MiniCloud's CPU per request: {:.1} µs, {:.2}x the in-process invocation's ({:.1} µs)",
        us(platform_cpu),
        us(platform_cpu) / us(measured.cpu),
        us(measured.cpu)
    );
    if let Some((_, l, cpu)) = &wasmtime {
        println!(
            "  MiniCloud / wasmtime serve: {:.2}x (target 2x); p99 {:.2}x theirs (target at most 1x)",
            platform.rps / l.rps,
            platform.p99.as_secs_f64() / l.p99.as_secs_f64()
        );
        // Both sides pay the kernel's part (accept, the response's write,
        // the wake-up of the load generator), which the in-process
        // invocation never does: this ratio shows what a machine state
        // does to that part, which moves the one above.
        println!(
            "  MiniCloud's CPU per request / wasmtime serve's ({:.1} µs): {:.2}x",
            us(*cpu),
            us(platform_cpu) / us(*cpu)
        );
    }
    println!();
    wasi03::wasi_03(Some(native.rps)).await;
    print_startup(&deploys, &restarts, &hot);
    on_worker(neighbours::neighbours()).await;
    workflows::workflows().await;
}
