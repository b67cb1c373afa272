//! The composition root of `minicloud serve`: builds everything once, in
//! dependency order (store, runtime, bus, services, HTTP state), and runs
//! startup, bootstrap and graceful shutdown. Nothing imports it.
//!
//! - `bootstrap`: the first start's org, project and administrator, and
//!   this node's id.
//! - `serve`: serving until a signal, hand-overs, and the drain at the end.

mod bootstrap;
mod serve;

use bootstrap::{bootstrap, node_id};
pub use serve::{PID_FILE, serve};

use crate::artifacts::Artifacts;
use crate::capabilities::Services;
use crate::capabilities::objects::ObjectService;
use crate::capabilities::secrets::Keyring;
use crate::config::ServeConfig;
use crate::events::bus::{EventBus, NodeStart};
use crate::events::platform::OutboxSignal;
use crate::events::targets::RuleTargets;
use crate::http::AppState;
use crate::iam::Authorizer;
use crate::iam::limits::RateLimiter;
use crate::iam::tokens::TokenIssuer;
use crate::records::RecordWriter;
use crate::registry::HostServices;
use crate::registry::Registry;
use crate::services::events::EventService;
use crate::services::functions::FunctionService;
use crate::services::iam::IamService;
use crate::services::routes::RouteService;
use crate::services::routes::dns::Verifier;
use crate::services::secrets::SecretService;
use crate::services::tenancy::TenancyService;
use crate::services::workflows::WorkflowService;
use crate::store::Store;
use crate::store::functions::Settings;
use crate::workflows::jsonata::JsonataWorkers;
use crate::workflows::{EngineSettings, WorkflowEngine};

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use minicloud_runtime::caps::net::NetworkPolicy;
use minicloud_runtime::{Runtime, RuntimeConfig};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Settings of a new function, before a deploy's own.
/// The JSONata workers, when definitions may use JSONata: processes of
/// this very binary.
fn jsonata_workers(c: &ServeConfig) -> anyhow::Result<Option<Arc<JsonataWorkers>>> {
    if !c.workflow_jsonata {
        return Ok(None);
    }
    // The image this process runs, even when an upgrade has replaced the
    // file since: workers speak this version's frames.
    let running = std::path::PathBuf::from("/proc/self/exe");
    let program = if running.exists() {
        running
    } else {
        std::env::current_exe().context("cannot find the binary to run JSONata workers")?
    };
    Ok(Some(Arc::new(JsonataWorkers::new(
        program,
        c.workflow_jsonata_memory_mib.max(16),
    ))))
}

fn default_settings(c: &ServeConfig) -> Settings {
    Settings {
        memory_bytes: (c.default_memory_mib * 1024 * 1024) as i64,
        timeout_ms: c.default_timeout_ms as i64,
        max_request_bytes: c.default_max_request_bytes as i64,
        max_response_bytes: c.default_max_response_bytes as i64,
        concurrency: c.default_concurrency as i64,
        env: BTreeMap::new(),
        http_auth: crate::store::functions::HttpAuth::Public,
        tags: Default::default(),
        role: String::new(),
        config: BTreeMap::new(),
        host_limits: Default::default(),
        reuse: None,
    }
}

/// A started server: its state and the writer task to flush at the end.
pub struct Started {
    /// Shared state.
    pub state: AppState,
    writer: RecordWriter,
    writer_task: tokio::task::JoinHandle<()>,
    /// On a cold start, what holds the background loops' first passes
    /// back until the server has served a moment (see `serve`).
    background: Option<tokio::sync::OwnedRwLockWriteGuard<()>>,
}

/// Opens everything the server needs: data dir, database (migrated),
/// object store, runtime, route table; bootstraps the first start.
/// `metrics` is the recorder being installed beside it (with how long that
/// took), awaited before anything that records a metric.
pub async fn start(
    config: ServeConfig,
    metrics: tokio::task::JoinHandle<(PrometheusHandle, std::time::Duration)>,
    how: NodeStart,
) -> anyhow::Result<Started> {
    // The start's queries run one after another: on one SQLite connection,
    // not three (each opening parses the schema; BENCHMARKS 2026-12-07).
    crate::store::on_one_connection(open_all(config, metrics, how)).await
}

async fn open_all(
    config: ServeConfig,
    metrics: tokio::task::JoinHandle<(PrometheusHandle, std::time::Duration)>,
    how: NodeStart,
) -> anyhow::Result<Started> {
    let data_dir = config.data_dir.clone();
    // The local object folder, when used, is made as the store opens.
    for sub in ["cache", "tmp"] {
        tokio::fs::create_dir_all(data_dir.join(sub))
            .await
            .with_context(|| format!("cannot create {}", data_dir.join(sub).display()))?;
    }
    let t0 = std::time::Instant::now();
    // The engine (pool reservations, linker) and the database (open,
    // migrations) do not depend on each other: build them side by side.
    let runtime_config = RuntimeConfig {
        pool_instances: config.pool_instances,
        max_memory_bytes: config.max_memory_mib * 1024 * 1024,
        log_bytes_per_invocation: config.log_bytes_per_invocation,
        quick_tier: config.quick_compile,
        ..RuntimeConfig::default()
    };
    let runtime = tokio::task::spawn_blocking(move || {
        let runtime = Runtime::new(runtime_config);
        (runtime, t0.elapsed())
    });
    let store = Store::open(&config.database_url()).await?;
    // A successor starts beside the server it replaces, which serves
    // meanwhile: only a cold start holds its loops back.
    let background = match how {
        NodeStart::Cold => store.hold_background(),
        NodeStart::Handover => None,
    };
    let t_db = t0.elapsed();
    let (runtime, t_runtime) = runtime.await?;
    let runtime = runtime?;
    // Before anything that records a metric.
    let (metrics, t_metrics) = metrics.await?;
    let objects = crate::objects_url::open(config.object_store.as_deref(), &data_dir)?;
    let quotas = crate::store::quotas::QuotaBook::load(
        store.clone(),
        crate::store::quotas::Defaults::new(
            u64::from(config.pool_instances),
            &config.project_quota.unwrap_or_default(),
            &config.org_quota.unwrap_or_default(),
        ),
    )
    .await?;
    quotas.keep_fresh();
    let artifacts = Artifacts::new(objects.clone(), store.clone(), data_dir.join("cache"), &runtime);
    // Platform events are written to the outbox with what they announce
    // (objects, failed invocations' records); this wakes their pump.
    let outbox = OutboxSignal::default();
    let (writer, writer_task) =
        RecordWriter::spawn(store.clone(), outbox.clone(), config.log_lines_per_second);
    crate::retention::spawn(
        store.clone(),
        crate::retention::Retention::from_days(
            config.records_retention_days,
            config.workflow_history_retention_days,
        ),
    );
    // NATS first: the bus publishes dead letters there.
    let nats_client = match &config.nats_url {
        None => None,
        Some(url) => {
            let options = crate::events::nats::NatsOptions {
                url: url.clone(),
                stream: config.nats_stream.clone(),
                creds: config.nats_creds.clone(),
                tls_ca: config.nats_tls_ca.clone(),
                tls_cert: config.nats_tls_cert.clone().zip(config.nats_tls_key.clone()),
            };
            Some(crate::events::nats::connect(&options).await?)
        }
    };
    // The bus before the functions that publish to it; it delivers once
    // it has its targets, those same functions, below.
    let node = node_id(&data_dir)?;
    let (events, undelivered) = EventBus::open(
        store.clone(),
        node.clone(),
        config.region.clone(),
        outbox.clone(),
        nats_client.clone(),
        how,
    )
    .await?;
    let keyring = Keyring::load(
        std::env::var("MINICLOUD_MASTER_KEY").ok().as_deref(),
        &data_dir.join("master-key"),
    )?;
    let services = Services {
        store: store.clone(),
        objects: ObjectService::new(store.clone(), objects, outbox.clone(), quotas.clone()),
        bus: events.clone(),
        keyring,
        network: Arc::new(
            NetworkPolicy::allowing(&config.outbound_allow_cidr)
                .context("--outbound-allow-cidr (MINICLOUD_OUTBOUND_ALLOW_CIDR)")?,
        ),
    };
    let authorizer = Arc::new(Authorizer::new(store.clone()));
    let audit = crate::audit::AuditLog::spawn(store.clone());
    let host = HostServices {
        services: services.clone(),
        authorizer: authorizer.clone(),
        audit: audit.clone(),
    };
    let registry = Arc::new(Registry::new(
        runtime,
        store.clone(),
        artifacts,
        writer.clone(),
        host,
        Arc::new(crate::gate::Tenants::new(quotas.clone())),
        config.spare_components_mib << 20,
    ));
    let functions = Arc::new(FunctionService::new(
        registry,
        store.clone(),
        quotas.clone(),
        authorizer.clone(),
        default_settings(&config),
    ));
    let iam = Arc::new(IamService::new(authorizer.clone(), functions.clone()));
    let engine = WorkflowEngine::start(
        store.clone(),
        &node,
        functions.clone(),
        authorizer.clone(),
        outbox.clone(),
        how == NodeStart::Cold,
        EngineSettings {
            idle: Duration::from_secs(config.workflow_idle_secs.max(1)),
            jsonata: jsonata_workers(&config)?,
        },
    )
    .await?;
    let workflows = WorkflowService::new(store.clone(), engine);
    let deliverer = undelivered.deliver_to(Arc::new(RuleTargets::new(functions.clone(), workflows.clone())));
    let nats = match nats_client {
        None => None,
        Some(client) => {
            let stream = config.nats_stream.clone();
            Some(crate::events::nats::NatsRouter::start(client, stream, deliverer.clone()).await?)
        }
    };
    let routes = RouteService::load(
        store.clone(),
        Verifier::new(config.dns_server),
        config.base_domain.clone(),
    )
    .await?;
    let routes = Arc::new(routes);
    let tenancy = Arc::new(TenancyService::new(store.clone(), routes.clone()));
    bootstrap(&store, &config).await?;
    let token_issuer = TokenIssuer::load(
        store.clone(),
        services.keyring.clone(),
        Duration::from_secs(config.access_token_ttl_secs),
    )
    .await?;
    tracing::info!(
        database_ms = t_db.as_secs_f64() * 1e3,
        metrics_ms = t_metrics.as_secs_f64() * 1e3,
        runtime_ms = t_runtime.as_secs_f64() * 1e3,
        total_ms = t0.elapsed().as_secs_f64() * 1e3,
        "started"
    );
    let secrets = SecretService::new(store.clone(), services.keyring.clone());
    Ok(Started {
        state: AppState::from(crate::http::Shared {
            functions,
            iam,
            routes,
            tenancy,
            metrics,
            authorizer,
            services,
            secrets,
            events: Arc::new(EventService::new(store.clone(), deliverer, nats, quotas.clone())),
            workflows,
            tokens: Arc::new(token_issuer),
            limiter: Arc::new(RateLimiter::new(config.rate_limit_rps, config.rate_limit_burst)),
            login: Arc::new(crate::iam::limits::LoginGuard::new(
                config.login_attempts_per_minute,
            )),
            audit,
            rates: Arc::new(crate::gate::RequestRates::new(quotas.clone())),
            quotas,
            store,
            config: Arc::new(config),
            projects: Default::default(),
            streams: Default::default(),
        }),
        writer,
        writer_task,
        background,
    })
}
