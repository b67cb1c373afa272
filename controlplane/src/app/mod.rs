//! The composition root of `minicloud serve`: builds everything once, in
//! dependency order (store, runtime, bus, services, HTTP state), and runs
//! startup, bootstrap and graceful shutdown. Nothing imports it.

use crate::artifacts::Artifacts;
use crate::capabilities::Services;
use crate::capabilities::objects::ObjectService;
use crate::capabilities::secrets::Keyring;
use crate::config::ServeConfig;
use crate::events::bus::{EventBus, NodeStart};
use crate::events::platform::OutboxSignal;
use crate::events::targets::FunctionTargets;
use crate::handover;
use crate::http::AppState;
use crate::iam::limits::RateLimiter;
use crate::iam::tokens::{self, TokenIssuer};
use crate::iam::{Authorizer, builtin};
use crate::records::RecordWriter;
use crate::registry::HostServices;
use crate::registry::Registry;
use crate::services::events::EventService;
use crate::services::functions::FunctionService;
use crate::services::iam::IamService;
use crate::services::routes::RouteService;
use crate::services::routes::dns::Verifier;
use crate::services::secrets::SecretService;
use crate::store::Store;
use crate::store::functions::Settings;
use crate::store::iam::Created;

use crate::util::hash_token;
use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use minicloud_runtime::caps::net::NetworkPolicy;
use minicloud_runtime::{Runtime, RuntimeConfig};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Settings of a new function, before a deploy's own.
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
    }
}

/// A started server: its state and the writer task to flush at the end.
pub struct Started {
    /// Shared state.
    pub state: AppState,
    writer: RecordWriter,
    writer_task: tokio::task::JoinHandle<()>,
}

/// Opens everything the server needs: data dir, database (migrated),
/// object store, runtime, route table; bootstraps the first start.
pub async fn start(
    config: ServeConfig,
    metrics: PrometheusHandle,
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
        ..RuntimeConfig::default()
    };
    let runtime = tokio::task::spawn_blocking(move || {
        let runtime = Runtime::new(runtime_config);
        (runtime, t0.elapsed())
    });
    let store = Store::open(&config.database_url()).await?;
    let t_db = t0.elapsed();
    let (runtime, t_runtime) = runtime.await?;
    let runtime = runtime?;
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
        node,
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
    let audit_lock: Arc<tokio::sync::Mutex<()>> = Arc::default();
    let host = HostServices {
        services: services.clone(),
        authorizer: authorizer.clone(),
        audit_lock: audit_lock.clone(),
    };
    let registry = Arc::new(Registry::new(
        runtime,
        store.clone(),
        artifacts,
        writer.clone(),
        host,
        Arc::new(crate::gate::Tenants::new(quotas.clone())),
    ));
    let functions = Arc::new(FunctionService::new(
        registry,
        store.clone(),
        quotas.clone(),
        authorizer.clone(),
        default_settings(&config),
    ));
    let iam = Arc::new(IamService::new(authorizer.clone(), functions.clone()));
    let deliverer = undelivered.deliver_to(Arc::new(FunctionTargets::new(functions.clone())));
    let nats = match nats_client {
        None => None,
        Some(client) => {
            let stream = config.nats_stream.clone();
            Some(crate::events::nats::NatsRouter::start(client, stream, deliverer).await?)
        }
    };
    let routes = RouteService::load(
        store.clone(),
        Verifier::new(config.dns_server),
        config.base_domain.clone(),
    )
    .await?;
    bootstrap(&store, &config).await?;
    let token_issuer = TokenIssuer::load(
        store.clone(),
        services.keyring.clone(),
        Duration::from_secs(config.access_token_ttl_secs),
    )
    .await?;
    tracing::info!(
        database_ms = t_db.as_secs_f64() * 1e3,
        runtime_ms = t_runtime.as_secs_f64() * 1e3,
        total_ms = t0.elapsed().as_secs_f64() * 1e3,
        "started"
    );
    let secrets = SecretService::new(store.clone(), services.keyring.clone());
    Ok(Started {
        state: AppState {
            functions,
            iam,
            routes: Arc::new(routes),
            metrics,
            authorizer,
            services,
            secrets,
            events: Arc::new(EventService::new(store.clone(), events, nats, quotas.clone())),
            tokens: Arc::new(token_issuer),
            limiter: Arc::new(RateLimiter::new(config.rate_limit_rps, config.rate_limit_burst)),
            login: Arc::new(crate::iam::limits::LoginGuard::new(
                config.login_attempts_per_minute,
            )),
            audit_lock,
            rates: Arc::new(crate::gate::RequestRates::new(quotas.clone())),
            quotas,
            store,
            config: Arc::new(config),
            projects: Default::default(),
        },
        writer,
        writer_task,
    })
}

/// On the first start: the `default` project, and the first user of the
/// `default` org, `admin`, bound to the platform Administrator role. Its API
/// key is printed once and written to `<data-dir>/admin-token`, its password
/// to `<data-dir>/admin-password` (both mode 0600); only hashes are stored.
///
/// A foundation-era installation (tokens, no users) gets the same user,
/// and its old tokens keep working as that user.
async fn bootstrap(store: &Store, config: &ServeConfig) -> anyhow::Result<()> {
    store.ensure_project("default").await?;
    if store.has_users().await? {
        return Ok(());
    }
    let org = store
        .org("default")
        .await?
        .context("the default org is missing: the migrations did not run")?;
    let scope = store.in_org(&org);
    let password = tokens::random_secret();
    let hash = tokens::hash_password(&password).map_err(|e| anyhow::anyhow!(e))?;
    let Created::New(admin) = scope
        .create_user(builtin::ADMIN_USER, Some(&hash), Default::default())
        .await?
    else {
        // Another node bootstrapped at the same moment.
        return Ok(());
    };
    let role = builtin::role_id(builtin::ADMINISTRATOR);
    scope.bind("user", &admin.id, &role, "").await?;
    let legacy = store.has_tokens().await?;
    let secret = tokens::random_secret();
    let key = scope
        .create_api_key(&admin.id, "bootstrap", &hash_token(&secret), None)
        .await?;
    let token = tokens::api_key_token(&key.id, &secret);
    let dir = &config.data_dir;
    let password_path = dir.join("admin-password");
    crate::util::write_private(&password_path, &password)
        .with_context(|| format!("cannot write {}", password_path.display()))?;
    if legacy {
        // Scripts hold the old token, which still works: keep its file.
        println!(
            "user admin of org default created; password in {}",
            password_path.display()
        );
        return Ok(());
    }
    let path = dir.join("admin-token");
    crate::util::write_private(&path, &token).with_context(|| format!("cannot write {}", path.display()))?;
    println!("admin API key (shown once; also in {}): {token}", path.display());
    println!(
        "admin password for /api/v1/auth/login (org default, user admin; also in {}): {password}",
        password_path.display()
    );
    Ok(())
}

/// This node's id, kept in the data folder so that a restarted node takes
/// back the event deliveries it held at once (another node would wait for
/// their leases to run out).
fn node_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        Ok(_) | Err(_) => {
            let id = format!("node-{}", crate::util::new_id());
            crate::util::write_private(&path, &id)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(id)
        }
    }
}

/// How many functions a starting node loads before they are called.
const WARM_FUNCTIONS: i64 = 256;

/// Serves until SIGINT or SIGTERM, then drains: stops accepting, lets
/// in-flight requests and invocations finish (bounded by the grace period),
/// stores every queued record, and closes the database. On SIGUSR2 it hands
/// its sockets to a successor (see [`crate::handover`]) and, once that one
/// serves, drains the same way.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    // Registered first: SIGUSR2 would otherwise end a server still starting.
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut upgrade = signal(SignalKind::user_defined2())?;
    let inherited = handover::Inherited::from_env()?;
    let executable = handover::executable()?;
    // Bound first: a taken port fails at once, and connections that arrive
    // while the rest starts wait in the backlog instead of being refused.
    let (listener, metrics_listener, predecessor) = match inherited {
        Some(inherited) => (
            tokio::net::TcpListener::from_std(inherited.listen)?,
            inherited
                .metrics
                .map(tokio::net::TcpListener::from_std)
                .transpose()?,
            Some(inherited.control),
        ),
        None => {
            let listen = config.listen;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let metrics = match config.metrics_listen {
                Some(addr) => Some(
                    tokio::net::TcpListener::bind(addr)
                        .await
                        .with_context(|| format!("cannot listen on {addr} for metrics"))?,
                ),
                None => None,
            };
            (listener, metrics, None)
        }
    };
    let sockets = Arc::new(handover::Sockets::of(&listener, metrics_listener.as_ref())?);
    let metrics = crate::telemetry::install_metrics();
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let how = if predecessor.is_some() {
        NodeStart::Handover
    } else {
        NodeStart::Cold
    };
    let started = start(config, metrics, how).await?;
    let addr = listener.local_addr()?;
    println!("minicloud listening on http://{addr}");
    tracing::info!(%addr, "listening");
    if let Some(listener) = metrics_listener {
        println!("metrics on http://{}/metrics", listener.local_addr()?);
        let app = crate::http::api::system::metrics_only(started.state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    let (listener, stop_accepting) = handover::Accepting::new(listener)?;
    let app = crate::http::router(started.state.clone(), stop_accepting.draining());
    let warm = preload(&started.state);
    let pid_file = started.state.config.data_dir.join(PID_FILE);
    match predecessor {
        // A successor accepts once its functions are loaded: until then
        // the server it replaces answers every call.
        Some(control) => {
            let _ = warm.await;
            match control.ready().await {
                Ok(predecessor) => {
                    tokio::spawn(async move {
                        predecessor.exited().await;
                        tracing::info!("the previous server has exited");
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot tell the server being replaced that this one serves")
                }
            }
            tracing::info!("serving in place of the previous server");
        }
        // A cold start serves at once; functions not loaded yet load on
        // their first call.
        None => {
            drop(warm);
            crate::systemd::notify("READY=1");
        }
    }
    write_pid_file(&pid_file);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let app = app.into_make_service_with_connect_info::<handover::Peer>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|stop| *stop).await;
    });
    let mut server = std::pin::pin!(server.into_future());
    // The successor being started, if any; this server keeps serving
    // meanwhile.
    let mut starting: Option<tokio::task::JoinHandle<anyhow::Result<handover::Successor>>> = None;
    // The successor that took over, kept until this process exits: its
    // control socket closing then tells it that this server is gone.
    let mut successor = None;
    loop {
        tokio::select! {
            result = &mut server => {
                result?;
                break;
            }
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
            _ = upgrade.recv(), if starting.is_none() => {
                tracing::info!("starting a successor to hand the sockets to");
                let (executable, sockets) = (executable.clone(), sockets.clone());
                starting = Some(tokio::spawn(async move { handover::hand_over(&executable, &sockets).await }));
            }
            outcome = finished(&mut starting), if starting.is_some() => {
                starting = None;
                match outcome.map_err(anyhow::Error::from).and_then(|r| r) {
                    Ok(s) => {
                        tracing::info!(pid = s.pid, "the successor serves");
                        println!("minicloud handed over to pid {}", s.pid);
                        crate::systemd::notify(&format!("MAINPID={}", s.pid));
                        successor = Some(s);
                        break;
                    }
                    Err(e) => tracing::error!(error = format!("{e:#}"), "hand-over failed; this server goes on serving"),
                }
            }
        }
    }
    tracing::info!("shutting down: draining in-flight requests");
    if successor.is_none() {
        crate::systemd::notify("STOPPING=1");
    }
    // A successor still starting is stopped (its task kills it).
    if let Some(task) = starting {
        task.abort();
        let _ = task.await;
    }
    // Closed, so that once this process stops accepting, connections are
    // refused (or, after a hand-over, accepted by the successor alone).
    drop(sockets);
    // One grace period for all of it: requests, invocations, deliveries.
    let deadline = tokio::time::Instant::now() + grace;
    let left_of_grace = || deadline.saturating_duration_since(tokio::time::Instant::now());
    let drained = async {
        stop_accepting.stop().await;
        let _ = stop_tx.send(true);
        server.await
    };
    if tokio::time::timeout_at(deadline, drained).await.is_err() {
        tracing::warn!("requests still open after the grace period");
    }
    let left = started.state.functions.in_flight().drain(left_of_grace()).await;
    if left > 0 {
        tracing::warn!(left, "invocations still running after the grace period");
    }
    started.state.events.close(left_of_grace()).await;
    started.writer.flush().await;
    drop(started.writer);
    started.writer_task.abort();
    started.state.store.close().await;
    if successor.is_none() {
        remove_pid_file(&pid_file);
    }
    tracing::info!("stopped");
    Ok(())
}

/// The file in the data folder that holds the process id of the server
/// serving on it (for `kill -USR2`).
pub const PID_FILE: &str = "minicloud.pid";

fn write_pid_file(path: &std::path::Path) {
    if let Err(e) = std::fs::write(path, format!("{}\n", std::process::id())) {
        tracing::warn!(error = %e, path = %path.display(), "cannot write the pid file");
    }
}

/// Removes the pid file if it still names this process.
fn remove_pid_file(path: &std::path::Path) {
    let ours = std::fs::read_to_string(path).is_ok_and(|s| s.trim() == std::process::id().to_string());
    if ours {
        let _ = std::fs::remove_file(path);
    }
}

/// Loads the functions most likely to be called first (the most recently
/// invoked, then the most recently changed) ahead of their requests, once
/// the server is serving: a request for a function not loaded yet loads it
/// itself, without waiting for the others.
fn preload(state: &AppState) -> tokio::task::JoinHandle<()> {
    let functions = state.functions.clone();
    let store = state.store.clone();
    tokio::spawn(async move {
        match store.functions_to_warm(WARM_FUNCTIONS).await {
            Ok(warm) => {
                for (project, name) in warm {
                    if let Err(e) = functions.target(&project, &name).await {
                        tracing::warn!(error = %e, project = %project.name, function = %name, "cannot preload");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list functions to preload"),
        }
    })
}

/// The output of `task`, or never if there is none.
async fn finished<T>(task: &mut Option<tokio::task::JoinHandle<T>>) -> Result<T, tokio::task::JoinError> {
    match task {
        Some(task) => task.await,
        None => std::future::pending().await,
    }
}
