//! Metrics (Prometheus) and structured logs.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

const LATENCY_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Installs the process-wide metrics recorder, with its upkeep thread,
/// and returns the handle that renders `/metrics`. Later calls (servers
/// started again in one process: tests and benchmarks) share the same
/// recorder and upkeep. If another recorder holds the process already,
/// the handle is of a detached one, which nothing records into.
pub fn install_metrics() -> PrometheusHandle {
    static INSTALLED: OnceLock<PrometheusHandle> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let builder = || {
                PrometheusBuilder::new()
                    .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                    .expect("bucket list is not empty")
            };
            match builder().install_recorder() {
                Ok(handle) => {
                    keep_up(handle.clone());
                    handle
                }
                Err(_) => builder().build_recorder().handle(),
            }
        })
        .clone()
}

/// Runs the recorder's upkeep on a thread of its own: an upkeep drains
/// every histogram sample taken since the one before (two an invocation),
/// 1.3-1.4 ms every 5 s at 13-14k invocations a second here, which on a
/// tokio worker would hold every request that worker serves as long.
fn keep_up(handle: PrometheusHandle) {
    let thread = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .stack_size(256 << 10)
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(5));
                handle.run_upkeep();
            }
        });
    if let Err(e) = thread {
        tracing::warn!(error = %e, "cannot start the metrics' upkeep; /metrics drains them instead");
    }
}

/// Structured logs to stderr; `RUST_LOG` filters, `MINICLOUD_LOG_FORMAT=json`
/// switches to JSON lines.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var("MINICLOUD_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::install_metrics;

    /// A server started again in the same process (tests, benchmarks)
    /// renders what the process records, not an empty detached recorder,
    /// and does not start another upkeep thread.
    #[test]
    fn installing_again_shares_the_recorder() {
        let first = install_metrics();
        let again = install_metrics();
        metrics::counter!("minicloud_installed_twice_total").increment(3);
        for handle in [first, again] {
            let text = handle.render();
            assert!(text.contains("minicloud_installed_twice_total 3"), "{text}");
        }
        // A thread names itself once it runs: wait for the name to show.
        let upkeeps = || {
            std::fs::read_dir("/proc/self/task")
                .expect("Linux's /proc")
                .filter_map(Result::ok)
                .filter(|task| {
                    std::fs::read_to_string(task.path().join("comm"))
                        .is_ok_and(|name| name.trim() == "metrics-upkeep")
                })
                .count()
        };
        let started = std::time::Instant::now();
        while upkeeps() == 0 && started.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let upkeeps = upkeeps();
        assert_eq!(upkeeps, 1, "one upkeep thread for the process");
    }
}
