//! Settings of `minicloud serve`; every flag also reads an environment
//! variable.

use std::net::SocketAddr;
use std::path::PathBuf;

const MIB: u64 = 1024 * 1024;

/// Settings of the server.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    /// Folder for the SQLite database, objects, the artifact cache and the
    /// admin token.
    #[arg(long, env = "MINICLOUD_DATA_DIR", default_value = "./.minicloud")]
    pub data_dir: PathBuf,

    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "MINICLOUD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// A second address serving only `/metrics`, without credentials, for a
    /// scraper on a private network. On the main address `/metrics` needs a
    /// token that allows `metrics:GetMetrics` (its labels name tenants'
    /// projects and functions).
    #[arg(long, env = "MINICLOUD_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// `postgres://...` to use PostgreSQL; default: SQLite in the data dir.
    #[arg(long, env = "MINICLOUD_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Where objects (components, compiled artifacts, bucket contents) are
    /// kept: default the `objects` folder of the data dir;
    /// `s3://<bucket>?endpoint=<url>&region=<r>` for S3 or an S3-compatible
    /// server such as MinIO, with credentials from `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`; `file:///<folder>` for a folder that several
    /// nodes share.
    #[arg(long, env = "MINICLOUD_OBJECT_STORE")]
    pub object_store: Option<String>,

    /// Largest component upload, bytes.
    #[arg(long, env = "MINICLOUD_MAX_UPLOAD_BYTES", default_value_t = 50 * MIB)]
    pub max_upload_bytes: u64,

    /// Instances alive at once across all functions (pool slots).
    #[arg(long, env = "MINICLOUD_POOL_INSTANCES", default_value_t = 512)]
    pub pool_instances: u32,

    /// Ceiling of any function's memory limit, MiB.
    #[arg(long, env = "MINICLOUD_MAX_MEMORY_MIB", default_value_t = 1024)]
    pub max_memory_mib: u64,

    /// Bytes of guest output kept per invocation.
    #[arg(long, env = "MINICLOUD_LOG_BYTES_PER_INVOCATION", default_value_t = 64 * 1024)]
    pub log_bytes_per_invocation: usize,

    /// Seconds a stop waits, in all, for open requests, running
    /// invocations and event deliveries to finish.
    #[arg(long, env = "MINICLOUD_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    /// Default memory limit of a function, MiB.
    #[arg(long, env = "MINICLOUD_DEFAULT_MEMORY_MIB", default_value_t = 128)]
    pub default_memory_mib: u64,

    /// Default wall-clock limit of an invocation, milliseconds.
    #[arg(long, env = "MINICLOUD_DEFAULT_TIMEOUT_MS", default_value_t = 10_000)]
    pub default_timeout_ms: u64,

    /// Default number of instances of one function running at once.
    #[arg(long, env = "MINICLOUD_DEFAULT_CONCURRENCY", default_value_t = 100)]
    pub default_concurrency: u64,

    /// Default largest request body, bytes.
    #[arg(long, env = "MINICLOUD_DEFAULT_MAX_REQUEST_BYTES", default_value_t = 10 * MIB)]
    pub default_max_request_bytes: u64,

    /// Lifetime of an access token from `/auth/login`, seconds.
    #[arg(long, env = "MINICLOUD_ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,

    /// Lifetime of a refresh token, seconds.
    #[arg(long, env = "MINICLOUD_REFRESH_TOKEN_TTL_SECS", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl_secs: u64,

    /// API requests a second per principal, on average (0: no limit).
    #[arg(long, env = "MINICLOUD_RATE_LIMIT_RPS", default_value_t = 100.0)]
    pub rate_limit_rps: f64,

    /// API requests a principal may burst above the average.
    #[arg(long, env = "MINICLOUD_RATE_LIMIT_BURST", default_value_t = 400.0)]
    pub rate_limit_burst: f64,

    /// `nats://host:4222` (several comma-separated; user and password may be
    /// in the URL) turns on NATS subjects as event sources, through
    /// JetStream. Without it, rules take events from the API and the
    /// platform only.
    #[arg(long, env = "MINICLOUD_NATS_URL")]
    pub nats_url: Option<String>,

    /// The JetStream stream that captures the rules' subjects. Nodes of one
    /// installation share it; installations sharing a NATS account need
    /// names of their own (and subjects that do not overlap).
    #[arg(long, env = "MINICLOUD_NATS_STREAM", default_value = "MINICLOUD_EVENTS")]
    pub nats_stream: String,

    /// A NATS `.creds` file (JWT and NKey seed).
    #[arg(long, env = "MINICLOUD_NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,

    /// CA certificates (PEM) to trust for NATS over TLS.
    #[arg(long, env = "MINICLOUD_NATS_TLS_CA")]
    pub nats_tls_ca: Option<PathBuf>,

    /// A client certificate (PEM) for NATS mutual TLS, with
    /// `--nats-tls-key`.
    #[arg(long, env = "MINICLOUD_NATS_TLS_CERT", requires = "nats_tls_key")]
    pub nats_tls_cert: Option<PathBuf>,

    /// The client certificate's key (PEM).
    #[arg(long, env = "MINICLOUD_NATS_TLS_KEY", requires = "nats_tls_cert")]
    pub nats_tls_key: Option<PathBuf>,

    /// The region name events carry (EventBridge's `region`).
    #[arg(long, env = "MINICLOUD_REGION", default_value = "local")]
    pub region: String,

    /// Default largest response body, bytes.
    #[arg(long, env = "MINICLOUD_DEFAULT_MAX_RESPONSE_BYTES", default_value_t = 4096 * MIB)]
    pub default_max_response_bytes: u64,
}

impl ServeConfig {
    /// The database URL: the flag, or a SQLite file in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => crate::store::Store::sqlite_url(&self.data_dir.join("minicloud.db")),
        }
    }
}
