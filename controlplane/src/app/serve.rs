//! Serving: the listeners (bound first, or inherited from the server this
//! one replaces), hand-overs on SIGUSR2, and the drain at the end.

use super::start;
use crate::config::ServeConfig;
use crate::events::bus::NodeStart;
use crate::handover;
use crate::http::AppState;
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;

/// How many functions a starting node loads before they are called.
const WARM_FUNCTIONS: i64 = 256;

/// How long a cold start serves before its background loops make their
/// first passes (taking back a crashed life's leases, the outbox, the
/// preload): its first answers do not wait behind them.
const QUIET_START: Duration = Duration::from_millis(50);

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
    // The start's phases go to the log (`RUST_LOG=info`): what a cold start
    // spends before it serves.
    let t0 = std::time::Instant::now();
    // The recorder's build runs quanta's TSC calibration, a busy loop
    // bounded by wall time (0.7-2.3 ms on this project's machine): on a
    // thread of its own it runs beside the database and the engine, which
    // record no metric; `start` waits for it before anything that does.
    let metrics = tokio::task::spawn_blocking(|| {
        let started = std::time::Instant::now();
        (crate::telemetry::install_metrics(), started.elapsed())
    });
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let how = if predecessor.is_some() {
        NodeStart::Handover
    } else {
        NodeStart::Cold
    };
    let mut started = start(config, metrics, how).await?;
    let addr = listener.local_addr()?;
    println!("minicloud listening on http://{addr}");
    tracing::info!(%addr, "listening");
    if let Some(listener) = metrics_listener {
        println!("metrics on http://{}/metrics", listener.local_addr()?);
        let app = metrics_only(started.state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    let (listener, stop_accepting) = handover::Accepting::new(listener)?;
    let t_router = std::time::Instant::now();
    let (app, rest) = crate::http::router(started.state.clone(), stop_accepting.draining());
    tracing::info!(
        router_ms = t_router.elapsed().as_secs_f64() * 1e3,
        total_ms = t0.elapsed().as_secs_f64() * 1e3,
        "ready to serve"
    );
    let warm = preload(&started.state);
    let pid_file = started.state.config.data_dir.join(PID_FILE);
    match predecessor {
        // A successor accepts once its functions are loaded: until then
        // the server it replaces answers every call.
        Some(control) => {
            let _ = tokio::join!(warm, build_aside(rest));
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
            // After the first answers: the loops held back, and the API's
            // routes unless a request built them already.
            let held = started.background.take();
            tokio::spawn(async move {
                tokio::time::sleep(QUIET_START).await;
                drop(held);
                build_aside(rest).await;
            });
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
    // A deploy's artifact is stored before the process goes (else the next
    // start compiles it again).
    if !started.state.functions.compiles_behind(left_of_grace()).await {
        tracing::warn!("compiles behind deploys still running after the grace period");
    }
    started.state.events.close(left_of_grace()).await;
    started.state.workflows.engine().close().await;
    started.writer.flush().await;
    drop(started.writer);
    started.writer_task.abort();
    // Every audit record of the requests and invocations above is stored
    // before the database closes.
    started.state.audit.flush().await;
    started.state.store.close().await;
    if successor.is_none() {
        remove_pid_file(&pid_file);
    }
    tracing::info!("stopped");
    Ok(())
}

/// The router of the private metrics address: `/metrics` without
/// credentials, and nothing else.
fn metrics_only(state: AppState) -> axum::Router {
    use axum::extract::State;
    axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(|State(s): State<AppState>| async move {
                crate::http::api::system::render(&s).await
            }),
        )
        .with_state(state)
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

/// Builds the routes behind the gateway's (`http::Rest`) on a blocking
/// thread, unless a request built them already; a panic is logged (the
/// first request for them would meet it again).
async fn build_aside(rest: crate::http::Rest) {
    let built = tokio::task::spawn_blocking(move || {
        rest.build();
    });
    if let Err(e) = built.await {
        tracing::error!(error = %e, "cannot build the API's routes");
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
        store.until_started().await;
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
