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

    /// Whether a deploy of new bytes answers from Winch's quick compile
    /// (about three times faster than Cranelift's, its code a few percent
    /// slower) while Cranelift's compile runs behind it and is swapped in
    /// once stored (`--quick-compile=false`: every deploy waits for
    /// Cranelift). Where Winch cannot build (it compiles for x86_64 only),
    /// Cranelift compiles at once.
    #[arg(
        long,
        env = "MINICLOUD_QUICK_COMPILE",
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub quick_compile: bool,

    /// Compiled code kept in memory for components no loaded function
    /// runs (an earlier version, a function unloaded after its org's IAM
    /// changed), MiB; past it the org holding the most lets go first, its
    /// least recently used first. Each saves reading and checking its
    /// artifact on its next load. Counted by compiled image, at least
    /// 256 KiB each; each holds more than its image resident (about 0.5 MB
    /// for the hello component's 360 KB). Components that loaded functions
    /// run are always kept.
    #[arg(long, env = "MINICLOUD_SPARE_COMPONENTS_MIB", default_value_t = 16)]
    pub spare_components_mib: usize,

    /// Ceiling of any function's memory limit, MiB.
    #[arg(long, env = "MINICLOUD_MAX_MEMORY_MIB", default_value_t = 1024)]
    pub max_memory_mib: u64,

    /// Bytes of guest output kept per invocation.
    #[arg(long, env = "MINICLOUD_LOG_BYTES_PER_INVOCATION", default_value_t = 64 * 1024)]
    pub log_bytes_per_invocation: usize,

    /// Log lines a second each project may store on average (bursts of
    /// ten times as many); lines past it are dropped and counted in the
    /// invocation's record. Storing lines is work the database does for
    /// the tenant: without a bound, one project's chatty functions slow
    /// every other's. Zero: no limit.
    #[arg(long, env = "MINICLOUD_LOG_LINES_PER_SECOND", default_value_t = 1000)]
    pub log_lines_per_second: u32,

    /// Days invocation records and log lines are kept; older ones are
    /// deleted every hour (and shortly after a start). Zero: kept forever,
    /// and the database grows with every invocation.
    #[arg(long, env = "MINICLOUD_RECORDS_RETENTION_DAYS", default_value_t = 7)]
    pub records_retention_days: u32,

    /// Days an ended workflow execution is kept, with its history; older
    /// ones are deleted every hour (and shortly after a start), and their
    /// names may be used again. Step Functions keeps them 90 days. Zero:
    /// kept forever.
    #[arg(long, env = "MINICLOUD_WORKFLOW_HISTORY_RETENTION_DAYS", default_value_t = 90)]
    pub workflow_history_retention_days: u32,

    /// Seconds a workflow execution may wait idle in memory (for a
    /// token, a long Wait or a retry) before the node parks it: it is
    /// journaled already, so the node lets it go and takes it back when a
    /// timer is due or a signal arrives. Fewer: less memory a waiting
    /// execution holds, at the cost of reloading it.
    #[arg(long, env = "MINICLOUD_WORKFLOW_IDLE_SECS", default_value_t = 60)]
    pub workflow_idle_secs: u64,

    /// Lets workflow definitions use `"QueryLanguage": "JSONata"` (on
    /// unless `--workflow-jsonata=false`). Its expressions run in worker
    /// processes (`minicloud jsonata-worker`), one per JSONata slot (half
    /// the cores), each limited in memory and killed when it overruns its
    /// time.
    #[arg(
        long,
        env = "MINICLOUD_WORKFLOW_JSONATA",
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub workflow_jsonata: bool,

    /// Memory each JSONata worker may allocate, MiB: an expression that
    /// asks for more fails its state with `States.QueryEvaluationError`.
    #[arg(long, env = "MINICLOUD_WORKFLOW_JSONATA_MEMORY_MIB", default_value_t = 512)]
    pub workflow_jsonata_memory_mib: u64,

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

    /// The domain under which each project's custom routes are served:
    /// project `shop` answers on `shop.<base domain>` (any port). The
    /// default, `localhost`, makes `http://shop.localhost:8080/` work on
    /// one machine; set your wildcard DNS name in production.
    #[arg(long, env = "MINICLOUD_BASE_DOMAIN", default_value = "localhost")]
    pub base_domain: String,

    /// The DNS server (`address:port`) that custom domains are verified
    /// against; by default the system's resolvers (`/etc/resolv.conf`).
    #[arg(long, env = "MINICLOUD_DNS_SERVER")]
    pub dns_server: Option<std::net::SocketAddr>,

    /// Address ranges (CIDR, such as `10.1.0.0/16` or `fd00::/8`) that
    /// functions' outbound HTTP may reach although they are private,
    /// loopback or link-local; repeat the flag or separate with commas.
    /// By default functions reach public addresses only.
    #[arg(long, env = "MINICLOUD_OUTBOUND_ALLOW_CIDR", value_delimiter = ',')]
    pub outbound_allow_cidr: Vec<String>,

    /// Serve the console's cookies as `__Host-` cookies marked `Secure`:
    /// set it when browsers reach the platform over https (behind a TLS
    /// proxy). They then go back only over https, only to this host, and
    /// no other host under the same domain (a tenant's project host) can
    /// set one in their place.
    #[arg(
        long,
        env = "MINICLOUD_SECURE_COOKIES",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub secure_cookies: bool,

    /// Login attempts allowed per minute from one source address, and
    /// separately for one user name (a burst of as many is allowed).
    #[arg(long, env = "MINICLOUD_LOGIN_ATTEMPTS_PER_MINUTE", default_value_t = 20)]
    pub login_attempts_per_minute: u32,

    /// Default quota of every project, as `kind=value` pairs separated by
    /// commas: `concurrency` (running instances), `memory_mib` (MiB they
    /// reserve, each its function's memory limit; a reused instance's
    /// while it lives, idle too), `rps` (requests a second
    /// on public HTTP triggers), `stored_bytes`, `functions`, `rules`.
    /// Kinds not given keep the built-in default: concurrency an eighth of
    /// `--pool-instances` (at most 64), memory_mib=8192, rps=5000,
    /// stored_bytes=10737418240, functions=100, rules=100. The platform
    /// administrator overrides it per project (`PUT
    /// /api/v1/projects/{project}/quota`).
    #[arg(long, env = "MINICLOUD_PROJECT_QUOTA")]
    pub project_quota: Option<crate::store::quotas::QuotaOverride>,

    /// Default quota of every org (all its projects together), as for
    /// `--project-quota`. Built-in: concurrency half of `--pool-instances`
    /// (at most 256), memory_mib=32768, rps=20000,
    /// stored_bytes=107374182400, functions=1000, rules=1000. Overridden
    /// per org with `PUT /api/v1/orgs/{org}/quota`.
    #[arg(long, env = "MINICLOUD_ORG_QUOTA")]
    pub org_quota: Option<crate::store::quotas::QuotaOverride>,
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
