//! # minicloud-controlplane: everything stateful, and the `minicloud` binary
//!
//! - [`config`]: settings of `minicloud serve` (flags and environment).
//! - [`cli`]: the command line's client commands (`login`, `functions`,
//!   `invoke`, `logs`, ...), each a call of the public API.
//! - [`app`]: the composition root: builds everything once, in
//!   dependency order; startup, bootstrap and graceful shutdown. Nothing
//!   imports it.
//! - [`http`]: the HTTP layer: the REST API under `/api/v1` (one module
//!   per resource, one error type) and the gateway (`/fn/...`, custom
//!   routes and domains), sharing [`http::AppState`].
//! - [`handover`]: restarts without downtime (SIGUSR2: a successor takes
//!   over the listening sockets).
//! - [`events`]: event rules, the EventBridge-style pattern language, input
//!   transformers, the durable bus that delivers to functions, NATS
//!   subjects as sources, and loop detection.
//! - [`iam`]: principals, the authorizer that judges every API action,
//!   built-in roles, credentials and tokens, rate and login limits.
//! - [`services`]: the layer between HTTP and the store and runtime:
//!   functions (deploy, change, delete, the one `invoke` of every trigger)
//!   and IAM (every change forgets the grants compiled before it).
//! - [`workflows`]: the durable workflow engine: executions of States
//!   Language machines journaled in the database, driven under leases,
//!   with functions as their tasks.
//! - [`registry`]: loaded functions between the store and the runtime,
//!   each with its capabilities.
//! - [`capabilities`]: the services behind functions' host interfaces
//!   (object storage, key-value, secrets) and execution-role grants.
//! - [`gate`]: concurrency limits with bounded queues per function, and
//!   per-project and per-org quotas of instances, memory and public
//!   requests per second.
//! - [`artifacts`]: components and compiled artifacts in the object store.
//! - [`objects_url`]: the object store `--object-store` names (local
//!   folder, or S3).
//! - [`audit`]: the audit log's one writer on a node, many records a
//!   transaction.
//! - [`records`]: invocation records, logs and metrics, written in batches.
//! - [`retention`]: invocation records, log lines and ended workflow
//!   executions deleted once past their retention.
//! - [`store`]: SQLite or PostgreSQL through one set of queries.
//! - [`systemd`]: readiness and hand-overs told to a service manager.
//! - [`telemetry`]: Prometheus metrics and structured logs.
//! - [`util`]: ids, times and tokens.

pub mod app;
pub mod artifacts;
pub mod audit;
pub mod capabilities;
pub mod cli;
pub mod config;
pub mod events;
#[cfg(test)]
mod fuzz;
pub mod gate;
pub mod handover;
pub mod http;
pub mod iam;
pub mod objects_url;
pub mod records;
pub mod registry;
pub mod retention;
pub mod services;
pub mod store;
pub mod systemd;
pub mod telemetry;
pub mod util;
pub mod workflows;
