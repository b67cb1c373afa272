//! Host-call overhead in process: an IAM-checked key-value get and a 1 KiB
//! object get, each made many times inside one invocation of the `caps`
//! guest, against the real SQLite key-value backend and an in-memory object
//! backend. The per-call figure is the difference between invocations with
//! N calls and with none, divided by N; the backend's own time is measured
//! by calling it directly.

use bytes::Bytes;
use futures::StreamExt;
use minicloud_controlplane::capabilities::grants::RoleGrants;
use minicloud_controlplane::capabilities::kv::ProjectKv;
use minicloud_controlplane::store::Store;
use minicloud_policy::Policy;
use minicloud_runtime::caps::backend::{
    BackendError, Backends, ByteStream, Cause, IgnoreDenials, KvBackend, ListQuery, ObjectMeta, ObjectPage,
    PutOptions, StorageBackend,
};
use minicloud_runtime::{Capabilities, Function, Limits, Runtime, RuntimeConfig, Scope};
use minicloud_tests::guests;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One object of 1 KiB, in memory: the backend's own cost is near zero.
struct OneObject;

fn meta() -> ObjectMeta {
    ObjectMeta {
        key: "k".into(),
        size: 1024,
        etag: "\"e\"".into(),
        content_type: None,
        last_modified_ms: 0,
        metadata: Default::default(),
    }
}

#[async_trait::async_trait]
impl StorageBackend for OneObject {
    async fn bucket_exists(&self, _: &str) -> Result<bool, BackendError> {
        Ok(true)
    }
    async fn head(&self, _: &str, _: &str) -> Result<ObjectMeta, BackendError> {
        Ok(meta())
    }
    async fn get(&self, _: &str, _: &str) -> Result<(ObjectMeta, ByteStream), BackendError> {
        let body = futures::stream::once(async { Ok(Bytes::from_static(&[7u8; 1024])) }).boxed();
        Ok((meta(), body))
    }
    async fn put(&self, _: &str, _: &str, _: PutOptions, _: ByteStream) -> Result<ObjectMeta, BackendError> {
        Err(BackendError::Invalid("read-only".into()))
    }
    async fn delete(&self, _: &str, _: &str, _: Cause) -> Result<bool, BackendError> {
        Ok(false)
    }
    async fn list(&self, _: &str, _: ListQuery) -> Result<ObjectPage, BackendError> {
        Ok(ObjectPage::default())
    }
}

/// A realistic role: a few statements, variables, one deny.
fn role() -> RoleGrants {
    let doc = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Kv", "Effect": "Allow", "Action": ["kv:GetItem", "kv:PutItem"],
         "Resource": "mrn:kv:${mc:org}:${mc:project}:bucket/app/*"},
        {"Sid": "Raw", "Effect": "Allow", "Action": "storage:GetObject",
         "Resource": "mrn:storage:${mc:org}:${mc:project}:bucket/raw/*"},
        {"Sid": "Out", "Effect": "Allow", "Action": "storage:PutObject",
         "Resource": "mrn:storage:${mc:org}:${mc:project}:bucket/out/*"},
        {"Sid": "NoSecrets", "Effect": "Deny", "Action": "kv:*",
         "Resource": "mrn:kv:*:*:bucket/app/secret/*"}
    ]});
    role_grants(&doc, "f1")
}

/// The grants of a role holding one policy, `doc`, for function
/// `function` of the default project.
pub fn role_grants(doc: &serde_json::Value, function: &str) -> RoleGrants {
    let policy = Arc::new(Policy::from_value(doc).unwrap());
    RoleGrants::new(vec![("role".into(), policy)], "default", "default", function)
}

/// The real SQLite key-value backend of the default project, in `dir`.
pub async fn sqlite_kv(dir: &std::path::Path) -> ProjectKv {
    let store = Store::open(&Store::sqlite_url(&dir.join("bench.db")))
        .await
        .unwrap();
    let project = store.ensure_project("default").await.unwrap();
    ProjectKv::new(store.in_project(&project))
}

async fn invoke(f: &Function, input: &serde_json::Value) -> Duration {
    let ctx = crate::anonymous_context(Arc::new(crate::Collect::default()));
    let start = Instant::now();
    let out = f.invoke_json(input.to_string(), ctx, ()).await.unwrap();
    let took = start.elapsed();
    assert!(!out.contains("error"), "benchmark op failed: {out}");
    took
}

/// Median per-call time of `op`: (T(n) - T(0)) / n over several rounds.
async fn per_call(f: &Function, op: serde_json::Value, n: u64) -> Duration {
    let mut samples = Vec::new();
    for _ in 0..15 {
        let mut with = op.clone();
        with["n"] = n.into();
        let mut without = op.clone();
        without["n"] = 0.into();
        let t0 = invoke(f, &without).await;
        let tn = invoke(f, &with).await;
        samples.push(tn.saturating_sub(t0) / n as u32);
    }
    crate::median(samples)
}

/// Median time of one `call` made directly, `n` at a time, over 15 rounds:
/// a backend's own time, without the guest and the host call.
async fn direct<F, Fut>(n: u64, mut call: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut samples = Vec::new();
    for _ in 0..15 {
        let start = Instant::now();
        for _ in 0..n {
            call().await;
        }
        samples.push(start.elapsed() / n as u32);
    }
    crate::median(samples)
}

/// Prints the host-call figures.
pub async fn host_calls() {
    let dir = tempfile::tempdir().unwrap();
    let kv = sqlite_kv(dir.path()).await;
    kv.set("app", "k", b"a small value").await.unwrap();

    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let compiled = runtime.compile(&std::fs::read(guests::CAPS).unwrap()).unwrap();
    let caps = Capabilities {
        scope: Scope {
            org: "default".into(),
            project: "default".into(),
        },
        grants: Arc::new(role()),
        denials: Arc::new(IgnoreDenials),
        backends: Backends::default()
            .with::<dyn StorageBackend>(Arc::new(OneObject))
            .with::<dyn KvBackend>(Arc::new(kv.clone())),
        config: Arc::new([]),
        network: Default::default(),
        limits: minicloud_runtime::HostLimits {
            host_calls: u64::MAX,
            ..Default::default()
        },
    };
    let f = runtime
        .function(&compiled.component, compiled.world, Limits::default(), Vec::new())
        .unwrap()
        .with_capabilities(caps);

    let n = 2000;
    let kv_call = per_call(
        &f,
        serde_json::json!({"op": "kv-bench", "bucket": "app", "key": "k"}),
        n,
    )
    .await;
    let kv_backend = direct(n, || async {
        kv.get("app", "k").await.unwrap();
    })
    .await;
    let obj_backend = direct(n, || async {
        let (_, mut body) = OneObject.get("raw", "k").await.unwrap();
        while body.next().await.is_some() {}
    })
    .await;
    let obj_call = per_call(
        &f,
        serde_json::json!({"op": "get-bench", "bucket": "raw", "key": "k"}),
        n,
    )
    .await;

    let (p50, _, _) = crate::policy::decisions();
    println!("host calls in process (caps guest, {n} calls per invocation, median of 15 rounds):");
    println!(
        "  key-value get, IAM-checked, SQLite backend: {:.2} µs per call; the backend alone {:.2} µs; \
         overhead {:.2} µs (target < 5)",
        crate::us(kv_call),
        crate::us(kv_backend),
        crate::us(kv_call.saturating_sub(kv_backend))
    );
    println!(
        "  object get of 1 KiB, IAM-checked, in-memory backend: {:.2} µs per call (open stream, read, close); \
         the backend alone {:.2} µs",
        crate::us(obj_call),
        crate::us(obj_backend)
    );
    println!(
        "  for scale: one policy decision of the API's realistic principal {:.2} µs\n",
        crate::us(p50)
    );
}
