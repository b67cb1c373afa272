//! Event delivery: publish-to-handler-start latency and sustained events
//! per second with a trivial handler (the `json-handler` example, a fresh
//! instance per delivery), through the in-process durable bus (SQLite) and
//! through NATS JetStream. The bus, rules and NATS consumers are the
//! platform's own; only the target is wired here, to note when each
//! handler starts.

use async_trait::async_trait;
use minicloud_controlplane::events::bus::{Deliverer, EventBus, NodeStart};
use minicloud_controlplane::events::envelope::{Event, Origin, now_rfc3339};
use minicloud_controlplane::events::nats::{NatsOptions, NatsRouter, connect};
use minicloud_controlplane::events::platform::OutboxSignal;
use minicloud_controlplane::events::{Delivery, TargetError, TargetInvoker};
use minicloud_controlplane::store::Store;
use minicloud_controlplane::store::projects::Project;
use minicloud_controlplane::store::rules::RuleRow;
use minicloud_runtime::{Function, Limits, Runtime, RuntimeConfig};
use minicloud_tests::guests;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Runs the trivial handler and reports `(n, when it started)`.
struct Trivial {
    function: Function,
    started: mpsc::UnboundedSender<(u64, Instant)>,
}

#[async_trait]
impl TargetInvoker for Trivial {
    async fn invoke(&self, _delivery: &Delivery<'_>, input: String) -> Result<(), TargetError> {
        let at = Instant::now();
        let n = serde_json::from_str::<serde_json::Value>(&input)
            .ok()
            .and_then(|v| v["detail"]["n"].as_u64())
            .unwrap_or(u64::MAX);
        let _ = self.started.send((n, at));
        let ctx = crate::anonymous_context(Arc::new(crate::Collect::default()));
        self.function
            .invoke_json(json!({"name": "bench"}).to_string(), ctx, ())
            .await
            .map(drop)
            .map_err(|e| TargetError::Failed(e.to_string()))
    }
}

struct Rig {
    bus: EventBus,
    deliverer: Deliverer,
    project: Project,
    started: mpsc::UnboundedReceiver<(u64, Instant)>,
    _dir: tempfile::TempDir,
}

async fn rig(sources: serde_json::Value) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&Store::sqlite_url(&dir.path().join("bench.db")))
        .await
        .unwrap();
    let project = store.ensure_project("default").await.unwrap();
    let mut row = RuleRow::new(&project.id, "bench");
    row.sources = sources;
    row.targets = json!([{"id": "t", "function": "trivial"}]);
    let limit = minicloud_controlplane::store::quotas::CountLimit::unlimited(
        &project,
        minicloud_controlplane::store::quotas::Kind::Rules,
    );
    store
        .in_project(&project)
        .insert_rule(row, &limit)
        .await
        .unwrap()
        .unwrap();
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let compiled = runtime
        .compile(&std::fs::read(guests::JSON_HANDLER).unwrap())
        .unwrap();
    let function = runtime
        .function(&compiled.component, compiled.world, Limits::default(), Vec::new())
        .unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let targets = Arc::new(Trivial {
        function,
        started: tx,
    });
    let (bus, undelivered) = EventBus::open(
        store,
        "bench-node".into(),
        "local".into(),
        OutboxSignal::default(),
        None,
        NodeStart::Cold,
    )
    .await
    .unwrap();
    Rig {
        bus,
        deliverer: undelivered.deliver_to(targets),
        project,
        started: rx,
        _dir: dir,
    }
}

fn event(n: u64) -> (Origin, Event) {
    let e = Event {
        id: format!("e{n}"),
        source: "bench".into(),
        detail_type: "Tick".into(),
        time: now_rfc3339(),
        project: "default".into(),
        region: "local".into(),
        resources: Vec::new(),
        detail: json!({ "n": n }),
        nats: None,
    };
    (Origin::Api, e)
}

type Sent = Arc<Mutex<HashMap<u64, Instant>>>;

/// Waits for `count` handler starts; returns the latencies from `sent` and
/// when the last one started.
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<(u64, Instant)>,
    sent: &Sent,
    count: usize,
) -> (Vec<Duration>, Instant) {
    let mut latencies = Vec::with_capacity(count);
    let mut last = Instant::now();
    for _ in 0..count {
        let (n, at) = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("deliveries stalled")
            .unwrap();
        if let Some(t) = sent.lock().unwrap().get(&n) {
            latencies.push(at.saturating_duration_since(*t));
        }
        last = at;
    }
    latencies.sort();
    (latencies, last)
}

fn print(label: &str, mut latencies: Vec<Duration>, throughput: f64) {
    latencies.sort();
    println!(
        "  {label}: publish to handler start p50 {:.3} ms, p99 {:.3} ms; sustained {:.0} events/s",
        crate::percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        crate::percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        throughput
    );
}

const LATENCY_EVENTS: u64 = 2_000;
const BURST_EVENTS: u64 = 20_000;

async fn in_process() {
    let mut rig = rig(json!({"api": true})).await;
    rig.bus.refresh_rules().await.unwrap();
    let sent: Sent = Arc::default();
    // Latency: one event at a time, each waited for; the first half warms
    // up and is not counted.
    let mut latencies = Vec::new();
    for n in 0..2 * LATENCY_EVENTS {
        sent.lock().unwrap().insert(n, Instant::now());
        rig.bus.publish(&rig.project, vec![event(n)]).await.unwrap();
        let (l, _) = collect(&mut rig.started, &sent, 1).await;
        if n >= LATENCY_EVENTS {
            latencies.extend(l);
        }
    }
    // Throughput: 20,000 events from 8 publishers in batches of 100.
    let start = Instant::now();
    let base = 10 * LATENCY_EVENTS;
    let mut publishers = Vec::new();
    for p in 0..8u64 {
        let (bus, project) = (rig.bus.clone(), rig.project.clone());
        publishers.push(tokio::spawn(async move {
            let per = BURST_EVENTS / 8;
            for b in 0..per / 100 {
                let batch = (0..100).map(|i| event(base + p * per + b * 100 + i)).collect();
                bus.publish(&project, batch).await.unwrap();
            }
        }));
    }
    let (_, last) = collect(&mut rig.started, &Arc::default(), BURST_EVENTS as usize).await;
    for p in publishers {
        p.await.unwrap();
    }
    let throughput = BURST_EVENTS as f64 / last.duration_since(start).as_secs_f64();
    print("in-process bus (SQLite)", latencies, throughput);
}

async fn over_nats() {
    let url = std::env::var("MINICLOUD_BENCH_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let stream = format!("MINICLOUD_BENCH_{}", std::process::id());
    let subject = format!("mc.default.bench{}.ticks", std::process::id());
    let mut rig = rig(json!({"subjects": [subject]})).await;
    let options = NatsOptions {
        url: url.clone(),
        stream: stream.clone(),
        ..NatsOptions::default()
    };
    let client = connect(&options)
        .await
        .unwrap_or_else(|e| panic!("the NATS part needs nats-server with JetStream ({url}): {e}"));
    let router = NatsRouter::start(client.clone(), stream.clone(), rig.deliverer.clone())
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let sent: Sent = Arc::default();
    let payload = |n: u64| json!({ "n": n }).to_string();
    let mut latencies = Vec::new();
    for n in 0..2 * LATENCY_EVENTS {
        let t = Instant::now();
        sent.lock().unwrap().insert(n, t);
        client.publish(subject.clone(), payload(n).into()).await.unwrap();
        let (l, _) = collect(&mut rig.started, &sent, 1).await;
        if n >= LATENCY_EVENTS {
            latencies.extend(l);
        }
    }
    let start = Instant::now();
    let base = 10 * LATENCY_EVENTS;
    let publisher = {
        let (js, subject) = (js.clone(), subject.clone());
        tokio::spawn(async move {
            for chunk in 0..BURST_EVENTS / 1_000 {
                let mut acks = Vec::new();
                for i in 0..1_000 {
                    let n = base + chunk * 1_000 + i;
                    acks.push(js.publish(subject.clone(), payload(n).into()).await.unwrap());
                }
                for a in acks {
                    a.await.unwrap();
                }
            }
        })
    };
    let (_, last) = collect(&mut rig.started, &Arc::default(), BURST_EVENTS as usize).await;
    publisher.await.unwrap();
    let throughput = BURST_EVENTS as f64 / last.duration_since(start).as_secs_f64();
    print("over NATS JetStream", latencies, throughput);
    router.stop();
    let _ = js.delete_stream(&stream).await;
}

/// Prints both.
pub async fn delivery() {
    println!(
        "event delivery, trivial handler (json-handler example), {} events one at a time for latency, {} for throughput:",
        LATENCY_EVENTS, BURST_EVENTS
    );
    in_process().await;
    over_nats().await;
    println!();
}
