//! The relational store: SQLite by default, PostgreSQL for scale.
//!
//! One set of migrations and one set of queries serve both, through sqlx's
//! `Any` driver: portable SQL, `$N` placeholders (SQLite accepts them too),
//! times as epoch milliseconds and ids as text.
//!
//! - [`orgs`]: orgs and the projects they contain (soft deletes).
//! - [`projects`]: projects and the bootstrap admin token.
//! - [`iam`]: users, API keys, policies, roles, bindings and signing keys,
//!   all through an org's scope.
//! - [`audit`]: the audit log, hash-chained per org.
//! - [`functions`]: functions, their immutable versions and settings.
//! - [`routes`]: custom HTTP routes.
//! - [`domains`]: custom domains of projects, verified through DNS.
//! - [`records`]: invocation records and log lines (written in batches).
//! - [`objects`]: buckets and the metadata of their objects.
//! - [`kv`]: the key-value entries of functions.
//! - [`secrets`]: secrets and their sealed versions.
//! - [`rules`]: event rules.
//! - [`events`]: the deliveries rules owe (the durable bus), dead letters.
//! - [`artifacts`]: digests of compiled artifacts (platform data).
//! - [`outbox`]: platform events written with the change they announce.
//! - [`quotas`]: quotas of orgs and projects: defaults, overrides, usage.
//! - [`workflows`]: workflows, their versions, executions and journals.
//! - `held`: [`Db`], the pool's executor, which runs the queries of a
//!   future inside [`on_one_connection`] on one connection.

pub mod artifacts;
pub mod audit;
pub mod domains;
pub mod events;
pub mod functions;
mod held;
pub mod iam;
pub mod kv;
pub mod objects;
pub mod orgs;
pub mod outbox;
pub mod projects;
pub mod quotas;
pub mod records;
pub mod routes;
pub mod rules;
pub mod secrets;
pub mod workflows;

pub(crate) use held::Db;
pub use held::on_one_connection;

use futures::future::BoxFuture;
use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or opened.
    #[error("cannot connect to the database at {url}: {source}")]
    Connect {
        /// The URL with any password removed.
        url: String,
        /// What the driver said.
        source: sqlx::Error,
    },
    /// Migrations failed.
    #[error("cannot apply database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A row broke an invariant of the schema.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// `Result` of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Written while a server starts ([`Store::hold_background`]): the
    /// loops that poll the database read it before their first pass.
    starting: Arc<tokio::sync::RwLock<()>>,
}

/// The migrations, embedded in the binary, as the backend runs them: on
/// SQLite a table marked `/* without rowid */` is made `WITHOUT ROWID`
/// (clustered by its key); PostgreSQL reads the mark as a comment.
#[derive(Debug)]
struct Embedded(Backend);

/// Where a migration asks for a table clustered by its key.
const WITHOUT_ROWID: &str = "/* without rowid */";

/// The pause between two statements of a prune (old records, old workflow
/// histories): other writers (the records' batches, the engine's
/// journals) go between.
pub(crate) const PRUNE_PAUSE: Duration = Duration::from_millis(10);

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../../migrations/0001_foundation.sql"),
    ),
    (2, "orgs", include_str!("../../migrations/0002_orgs.sql")),
    (3, "iam", include_str!("../../migrations/0003_iam.sql")),
    (4, "audit", include_str!("../../migrations/0004_audit.sql")),
    (
        5,
        "function_soft_delete",
        include_str!("../../migrations/0005_function_soft_delete.sql"),
    ),
    (
        6,
        "http_auth",
        include_str!("../../migrations/0006_http_auth.sql"),
    ),
    (7, "tags", include_str!("../../migrations/0007_tags.sql")),
    (
        8,
        "capabilities",
        include_str!("../../migrations/0008_capabilities.sql"),
    ),
    (9, "events", include_str!("../../migrations/0009_events.sql")),
    (
        10,
        "event_hops",
        include_str!("../../migrations/0010_event_hops.sql"),
    ),
    (
        11,
        "artifact_digests",
        include_str!("../../migrations/0011_artifact_digests.sql"),
    ),
    (12, "quotas", include_str!("../../migrations/0012_quotas.sql")),
    (
        13,
        "event_outbox",
        include_str!("../../migrations/0013_event_outbox.sql"),
    ),
    (
        14,
        "project_routes_and_domains",
        include_str!("../../migrations/0014_project_routes_and_domains.sql"),
    ),
    (
        15,
        "workflows",
        include_str!("../../migrations/0015_workflows.sql"),
    ),
    (
        16,
        "workflow_task_tokens",
        include_str!("../../migrations/0016_workflow_task_tokens.sql"),
    ),
    (
        17,
        "workflow_engine_version",
        include_str!("../../migrations/0017_workflow_engine_version.sql"),
    ),
    (
        18,
        "workflow_version_engine",
        include_str!("../../migrations/0018_workflow_version_engine.sql"),
    ),
    (
        19,
        "workflow_executions_running",
        include_str!("../../migrations/0019_workflow_executions_running.sql"),
    ),
    (
        20,
        "console_sessions",
        include_str!("../../migrations/0020_console_sessions.sql"),
    ),
    (
        21,
        "workflow_open_tasks",
        include_str!("../../migrations/0021_workflow_open_tasks.sql"),
    ),
    (
        22,
        "compile_claims",
        include_str!("../../migrations/0022_compile_claims.sql"),
    ),
    (
        23,
        "deploy_indexes",
        include_str!("../../migrations/0023_deploy_indexes.sql"),
    ),
    (
        24,
        "function_reuse",
        include_str!("../../migrations/0024_function_reuse.sql"),
    ),
    (
        25,
        "workflow_task_answers",
        include_str!("../../migrations/0025_workflow_task_answers.sql"),
    ),
    (
        26,
        "records_clustered",
        include_str!("../../migrations/0026_records_clustered.sql"),
    ),
    (
        27,
        "artifact_sizes",
        include_str!("../../migrations/0027_artifact_sizes.sql"),
    ),
    (
        28,
        "version_composed",
        include_str!("../../migrations/0028_version_composed.sql"),
    ),
    (
        29,
        "invocation_packs",
        include_str!("../../migrations/0029_invocation_packs.sql"),
    ),
];

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move {
            Ok(MIGRATIONS
                .iter()
                .map(|(version, name, sql)| {
                    let sql = match self.0 {
                        Backend::Sqlite if sql.contains(WITHOUT_ROWID) => {
                            Cow::Owned(sql.replace(WITHOUT_ROWID, "WITHOUT ROWID"))
                        }
                        _ => Cow::Borrowed(*sql),
                    };
                    Migration::new(*version, Cow::Borrowed(*name), MigrationType::Simple, sql, false)
                })
                .collect())
        })
    }
}

impl Store {
    /// Opens the database (creating a SQLite file if needed) and applies the
    /// migrations.
    pub async fn open(url: &str) -> Result<Self> {
        install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        options = match backend {
            // One writer at a time is SQLite's nature; WAL lets readers run
            // beside it, and the busy timeout queues writers instead of failing.
            //
            // No ping before each acquire: a SQLite connection is a thread
            // of this process holding the file, with no peer to hang up,
            // and the ping is a round trip to that thread before every
            // query. sqlx still pings each connection when it comes back to
            // the pool and closes one that does not answer.
            Backend::Sqlite => options
                .max_connections(4)
                .test_before_acquire(false)
                .after_connect(|conn, _| {
                    // One round trip to the connection's thread, not four.
                    Box::pin(async move {
                        sqlx::query(
                            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
                             PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                             PRAGMA mmap_size = 268435456;",
                        )
                        .persistent(false)
                        .execute(&mut *conn)
                        .await?;
                        Ok(())
                    })
                }),
            Backend::Postgres => options.max_connections(16),
        };
        let pool = options.connect(url).await.map_err(|source| StoreError::Connect {
            url: crate::util::redact_url(url),
            source,
        })?;
        let store = Self {
            pool,
            backend,
            starting: Arc::default(),
        };
        // Inside `on_one_connection` (a start), its queries go on from
        // here on the connection the migrations used; outside one, the
        // connection is idle again when this returns.
        let mut conn = held::take(&store.pool).await?;
        // `run_direct`: `run` on a `&mut` connection (through `Acquire`)
        // makes a future that is not `Send` for every lifetime, and no
        // future that opens a store could be spawned.
        Migrator::new(Embedded(backend))
            .await?
            .run_direct(&mut *conn)
            .await?;
        held::keep_or_give_back(conn).await;
        Ok(store)
    }

    /// Holds back the first pass of the loops that poll the database (the
    /// event bus's outbox pump and claimer, the workflow engine's claimer,
    /// the preload of functions) until the guard is dropped, so that a
    /// starting server's own queries and its first answers do not queue
    /// behind them. On SQLite their first passes, made at once beside the
    /// start's queries, also had the pool open all its connections (each
    /// parses the schema on a thread of its own). `None` if held already.
    pub fn hold_background(&self) -> Option<tokio::sync::OwnedRwLockWriteGuard<()>> {
        self.starting.clone().try_write_owned().ok()
    }

    /// Resolves once no start holds the background loops back.
    pub async fn until_started(&self) {
        drop(self.starting.read().await);
    }

    /// The SQLite URL of a file, created if missing.
    pub fn sqlite_url(path: &std::path::Path) -> String {
        format!("sqlite://{}?mode=rwc", path.display())
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The executor of queries: the connection pool's (see [`Db`]).
    pub(crate) fn pool(&self) -> Db<'_> {
        Db::new(&self.pool)
    }

    /// Starts a transaction that will write. On SQLite it takes the write
    /// lock at once (`BEGIN IMMEDIATE`): a transaction that reads first and
    /// writes later fails with "database is locked" when another writer
    /// got in between, instead of waiting its turn.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The outcome of an INSERT that may collide with a unique key: `true` when
/// the row went in, `false` when an equal key was there first.
pub(crate) fn inserted(result: std::result::Result<sqlx::any::AnyQueryResult, sqlx::Error>) -> Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// `prefix` followed by `rows` groups of `columns` placeholders: numbered
/// (`$N`) for PostgreSQL, positional (`?`) for SQLite, whose driver resolves
/// each numbered name with a linear search (quadratic in a statement of
/// a thousand parameters).
pub(crate) fn multi_row_insert(backend: Backend, prefix: &str, columns: usize, rows: usize) -> String {
    let mut sql = String::with_capacity(prefix.len() + rows * columns * 5);
    sql.push_str(prefix);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..columns {
            if col > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(row * columns + col + 1).to_string());
                }
                Backend::Sqlite => sql.push('?'),
            }
        }
        sql.push(')');
    }
    sql
}

/// `n` placeholders for an `IN (...)` list, numbered or positional as in
/// [`multi_row_insert`].
pub(crate) fn placeholder_list(backend: Backend, n: usize) -> String {
    let one = |i: usize| match backend {
        Backend::Postgres => format!("${}", i + 1),
        Backend::Sqlite => "?".to_owned(),
    };
    (0..n).map(one).collect::<Vec<_>>().join(", ")
}

/// A JSON column, parsed.
pub(crate) fn json_column(r: &sqlx::any::AnyRow, column: &str) -> Result<serde_json::Value> {
    use sqlx::Row;
    let text: String = r.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// Whether an error is a violation of a unique constraint.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Whether `err` is PostgreSQL giving up a transaction to end a deadlock
/// (40P01) or a serialization conflict (40001): the transaction may simply
/// run again.
pub(crate) fn is_deadlock(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")))
}

/// Runs an idempotent `statement` again (after a short, growing pause)
/// when PostgreSQL chose it to end a deadlock, up to 20 times.
pub(crate) async fn again_on_deadlock<F, Fut, T>(mut statement: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, sqlx::Error>>,
{
    let mut attempt = 0u64;
    loop {
        attempt += 1;
        match statement().await {
            Err(e) if is_deadlock(&e) && attempt < 20 => {
                tokio::time::sleep(std::time::Duration::from_millis(
                    10 + rand::random::<u64>() % (50 * attempt),
                ))
                .await;
            }
            other => return Ok(other?),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn numbers_placeholders_across_rows() {
        let prefix = "INSERT INTO t (a, b) VALUES ";
        assert_eq!(
            multi_row_insert(Backend::Postgres, prefix, 2, 2),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(
            multi_row_insert(Backend::Sqlite, prefix, 2, 2),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
    }

    /// A store on a new SQLite file, with the folder that holds it.
    pub(crate) async fn temporary_sqlite() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Store::open(&Store::sqlite_url(&dir.path().join("t.db")))
            .await
            .expect("opens");
        (store, dir)
    }

    /// Every pooled SQLite connection runs with the settings the store
    /// relies on (set in one batch when it opens). `synchronous` is the one
    /// that tells: it is per connection and SQLite's default is FULL (2);
    /// sqlx would set `foreign_keys` and `busy_timeout` the same way, and
    /// WAL, once set, stays in the file.
    #[tokio::test]
    async fn sqlite_connections_get_their_settings() {
        let (store, _dir) = temporary_sqlite().await;
        // Held at once, so the pool opens a connection for each.
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(store.pool.acquire().await.expect("a connection"));
        }
        for conn in &mut held {
            check_settings(conn).await;
        }
    }

    /// A table a migration marks `/* without rowid */` is one B-tree on
    /// SQLite (the invocation records: one entry a record on the hot
    /// path); others keep their rowid.
    #[tokio::test]
    async fn marked_tables_are_clustered_on_sqlite() {
        let (store, _dir) = temporary_sqlite().await;
        let schema = |table: &'static str| {
            sqlx::query_scalar::<_, String>(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1",
            )
            .bind(table)
            .fetch_one(store.pool())
        };
        let invocations = schema("invocations").await.expect("the table");
        assert!(invocations.ends_with("WITHOUT ROWID"), "{invocations}");
        assert!(!invocations.contains(WITHOUT_ROWID), "{invocations}");
        let lines = schema("log_lines").await.expect("the table");
        assert!(!lines.contains("WITHOUT ROWID"), "{lines}");
    }

    #[tokio::test]
    async fn background_loops_wait_while_a_start_holds_them() {
        let (store, _dir) = temporary_sqlite().await;
        // Not held: at once.
        store.until_started().await;
        let held = store.hold_background().expect("held");
        assert!(store.hold_background().is_none(), "held once");
        let copy = store.clone();
        let waiting = tokio::spawn(async move { copy.until_started().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "waits while held");
        drop(held);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("goes on once let go")
            .expect("the waiting task");
    }

    async fn check_settings(conn: &mut sqlx::AnyConnection) {
        use sqlx::Row;
        for (pragma, want) in [
            ("journal_mode", "wal"),
            ("busy_timeout", "5000"),
            ("foreign_keys", "1"),
            ("synchronous", "1"),
        ] {
            let row = sqlx::query(&format!("PRAGMA {pragma}"))
                .fetch_one(&mut *conn)
                .await
                .expect("the pragma answers");
            let got = row
                .try_get::<i64, _>(0)
                .map(|v| v.to_string())
                .or_else(|_| row.try_get::<String, _>(0))
                .expect("a number or a text");
            assert_eq!(got, want, "PRAGMA {pragma}");
        }
    }

    #[test]
    fn redacts_passwords_from_urls() {
        assert_eq!(
            crate::util::redact_url("postgres://u:secret@db:5432/x"),
            "postgres://***@db:5432/x"
        );
        assert_eq!(crate::util::redact_url("sqlite://./a.db"), "sqlite://./a.db");
    }
}
