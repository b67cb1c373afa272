//! The Python example (componentize-py: CPython in the component) in
//! process: its size, compile, artifact load and prepare (a node's start
//! for it), its first call and its calls after, against the Rust
//! `json-handler` in the same run; both with the real SQLite key-value
//! backend behind `wasi:keyvalue`. Each configuration of the pool is one
//! engine, measured in turn: how many bytes of each memory stay resident
//! between instances decides how many pages a fresh CPython instance
//! faults in again.

use crate::capabilities::{role_grants, sqlite_kv};
use crate::median;
use minicloud_runtime::caps::backend::{Backends, IgnoreDenials, KvBackend};
use minicloud_runtime::{Capabilities, Function, Limits, Runtime, RuntimeConfig, Scope};
use minicloud_tests::guests;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Minor page faults of this process so far (`/proc/self/stat`, field 10).
fn minor_faults() -> u64 {
    crate::proc_stat(std::process::id(), 10)
}

/// Calls of one function: latency, CPU and page faults per call, and the
/// instantiation alone.
struct Calls {
    p50: Duration,
    p99: Duration,
    cpu: Duration,
    faults: u64,
    instantiate: Duration,
}

async fn calls(f: &Function, input: &str, n: usize) -> Calls {
    let sink = Arc::new(crate::Collect::default());
    let warm = n / 10;
    let mut took = Vec::with_capacity(n);
    let (mut cpu0, mut faults0) = (Duration::ZERO, 0);
    for i in 0..warm + n {
        if i == warm {
            cpu0 = crate::cpu_time(std::process::id());
            faults0 = minor_faults();
        }
        let ctx = crate::anonymous_context(sink.clone());
        let start = Instant::now();
        let out = f.invoke_json(input.to_owned(), ctx, ()).await.unwrap();
        if i >= warm {
            took.push(start.elapsed());
        }
        assert!(out.contains("greeting"), "unexpected output: {out}");
    }
    let cpu = crate::cpu_time(std::process::id()).saturating_sub(cpu0) / n as u32;
    let faults = (minor_faults() - faults0) / n as u64;
    took.sort();
    let mut inst = sink.instantiate.lock().unwrap().split_off(warm);
    inst.sort();
    Calls {
        p50: crate::percentile(&took, 0.5),
        p99: crate::percentile(&took, 0.99),
        cpu,
        faults,
        instantiate: crate::percentile(&inst, 0.5),
    }
}

/// Prints the Python figures.
pub async fn python() {
    let dir = tempfile::tempdir().unwrap();
    let kv = sqlite_kv(dir.path()).await;
    // What the counter's role grants, as the example's manifest.
    let counter = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kv:Increment", "Resource": "mrn:kv:*:*:bucket/counters/*"}
    ]});
    let caps = || Capabilities {
        scope: Scope {
            org: "default".into(),
            project: "default".into(),
        },
        grants: Arc::new(role_grants(&counter, "counter")),
        denials: Arc::new(IgnoreDenials),
        backends: Backends::default().with::<dyn KvBackend>(Arc::new(kv.clone())),
        config: Arc::new([("greeting".into(), "Hi".into())]),
        network: Default::default(),
        limits: Default::default(),
    };
    let python = std::fs::read(guests::PYTHON_COUNTER).unwrap();
    let rust = std::fs::read(guests::JSON_HANDLER).unwrap();

    println!("Python example in process (componentize-py, SQLite key-value backend):");
    let default = RuntimeConfig::default();
    let runtime = Runtime::new(default.clone()).unwrap();
    let start = Instant::now();
    let compiled = runtime.compile(&python).unwrap();
    let compile = start.elapsed();
    let artifact = dir.path().join("python.cwasm");
    std::fs::write(&artifact, &compiled.artifact).unwrap();
    let mut loads = Vec::new();
    let mut prepares = Vec::new();
    let mut firsts = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let component = runtime.load_artifact(&artifact, &compiled.fingerprint).unwrap();
        loads.push(start.elapsed());
        let start = Instant::now();
        let f = runtime
            .function(&component, compiled.world, Limits::default(), Vec::new())
            .unwrap()
            .with_capabilities(caps());
        prepares.push(start.elapsed());
        let ctx = crate::anonymous_context(Arc::new(crate::Collect::default()));
        let start = Instant::now();
        f.invoke_json(r#"{"page":"first"}"#.into(), ctx, ())
            .await
            .unwrap();
        firsts.push(start.elapsed());
    }
    println!(
        "  component {:.1} MB, artifact {:.1} MB; compile {:.2} s (once per engine, ever); \
         a start: artifact load {:.1} ms, prepare {:.2} ms, first call {:.2} ms (medians of 5)",
        python.len() as f64 / 1e6,
        compiled.artifact.len() as f64 / 1e6,
        compile.as_secs_f64(),
        crate::ms(median(loads)),
        crate::ms(median(prepares)),
        crate::ms(median(firsts)),
    );

    let rust_compiled = runtime.compile(&rust).unwrap();
    let rust_f = runtime
        .function(
            &rust_compiled.component,
            rust_compiled.world,
            Limits::default(),
            Vec::new(),
        )
        .unwrap()
        .with_capabilities(caps());
    let r = calls(&rust_f, r#"{"name":"Ada"}"#, 5_000).await;
    println!(
        "  Rust json-handler, for scale: p50 {:.1} µs, p99 {:.1} µs, CPU {:.1} µs, {} page faults a call; \
         instantiate p50 {:.1} µs",
        crate::us(r.p50),
        crate::us(r.p99),
        crate::us(r.cpu),
        r.faults,
        crate::us(r.instantiate)
    );
    drop((rust_f, runtime));

    let mut base = None;
    for keep in [default.keep_resident_bytes, 16 << 20, 64 << 20] {
        let runtime = Runtime::new(RuntimeConfig {
            keep_resident_bytes: keep,
            ..default.clone()
        })
        .unwrap();
        let component = runtime.load_artifact(&artifact, &compiled.fingerprint).unwrap();
        let f = runtime
            .function(&component, compiled.world, Limits::default(), Vec::new())
            .unwrap()
            .with_capabilities(caps());
        let c = calls(&f, r#"{"page":"home"}"#, 1_000).await;
        let base_p50 = *base.get_or_insert(c.p50);
        println!(
            "  Python, {} MiB kept resident per memory: p50 {:.0} µs, p99 {:.0} µs, CPU {:.0} µs, \
             {} page faults a call; instantiate p50 {:.1} µs; p50 {:.2}x the default's, {:.0}x Rust's",
            keep >> 20,
            crate::us(c.p50),
            crate::us(c.p99),
            crate::us(c.cpu),
            c.faults,
            crate::us(c.instantiate),
            crate::us(c.p50) / crate::us(base_p50),
            crate::us(c.p50) / crate::us(r.p50),
        );
    }
    println!();
}
