//! Queries of one task on one connection ([`on_one_connection`]).
//!
//! The pool gives a connection back through a task it spawns, which pings
//! the connection before it is idle again. A task that runs two queries in
//! a row usually asks for its second connection before that return ran,
//! and the pool opens another: on SQLite a thread that opens the file and
//! parses the whole schema (about 0.6 ms; 2026-12-07 in BENCHMARKS). A
//! start ran its queries one after another on three connections that way.
//!
//! Every query of the store goes through [`Db`], the pool's executor. Inside
//! [`on_one_connection`] it keeps the first connection it takes (in a
//! task-local, so the tasks the future spawns use the pool as before) and
//! runs each following query of the future on it while the future goes
//! from query to query; the connection is back in the pool, idle, when the
//! future ends, so that the next query of the task finds it. A future
//! that waits on anything else (a lock, a body, the object store, a
//! guest) gives it back as it starts to wait: a scope never keeps a
//! connection from others for longer than its queries run back to back.
//! Transactions still take a connection of their own.

use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use sqlx::any::{Any, AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::pool::PoolConnection;
use sqlx::{AnyPool, Either, Execute, Executor};
use std::cell::Cell;
use std::future::Future;

tokio::task_local! {
    /// The connection kept for the current [`on_one_connection`], once its
    /// first query took one; `None` while a query has it out.
    static HELD: Cell<Option<PoolConnection<Any>>>;
}

/// Runs `fut` with its queries (not its transactions', nor those of tasks
/// it spawns) on one connection, taken at its first query and back in the
/// pool, idle, when it ends. Whenever `fut` waits with no query of its own
/// under way, the connection goes back to the pool (as a dropped one does)
/// and its next query takes one again. Inside another, it shares the
/// outer one's.
pub async fn on_one_connection<F: Future>(fut: F) -> F::Output {
    if inside() {
        return fut.await;
    }
    HELD.scope(Cell::new(None), async {
        let mut fut = std::pin::pin!(fut);
        let out = std::future::poll_fn(|cx| {
            let polled = fut.as_mut().poll(cx);
            if polled.is_pending() {
                // Kept means no query has it out: the future waits on
                // something else, for as long as that takes.
                drop(HELD.with(Cell::take));
            }
            polled
        })
        .await;
        let_go().await;
        out
    })
    .await
}

/// Gives the connection kept for the current [`on_one_connection`] back to
/// the pool and waits until it is idle, as a scope ends: the task's next
/// query then takes this one again rather than one the pool opens because
/// this one was still on its way back. Does nothing outside one.
async fn let_go() {
    if let Some(conn) = HELD.try_with(Cell::take).ok().flatten() {
        give_back(conn).await;
    }
}

/// What dropping `conn` would spawn (the pool's test of a returning
/// connection), awaited: a query right after this finds the connection
/// idle instead of having the pool open another.
async fn give_back(mut conn: PoolConnection<Any>) {
    conn.return_to_pool().await;
}

/// Whether the current task runs inside [`on_one_connection`].
fn inside() -> bool {
    HELD.try_with(|_| ()).is_ok()
}

/// The kept connection, or a new one from the pool.
pub(super) async fn take(pool: &AnyPool) -> sqlx::Result<PoolConnection<Any>> {
    match HELD.try_with(Cell::take).ok().flatten() {
        Some(conn) => Ok(conn),
        None => pool.acquire().await,
    }
}

/// Keeps the connection for the next query, unless its query failed (the
/// pool then tests it on its way back and closes a broken one) or the
/// scope is gone (it then goes back to the pool as it drops). Two queries
/// of the future run at once (a join) take two connections; the one kept
/// second replaces the first, which goes back to the pool.
fn keep(conn: PoolConnection<Any>, ok: bool) {
    if ok {
        let _ = HELD.try_with(|held| held.set(Some(conn)));
    }
}

/// Keeps a connection the store took with [`take`] for the next query
/// inside [`on_one_connection`]; outside one, gives it back to the pool
/// and returns once it is idle.
pub(super) async fn keep_or_give_back(conn: PoolConnection<Any>) {
    if inside() {
        keep(conn, true);
    } else {
        give_back(conn).await;
    }
}

/// The store's executor: the pool's, except inside [`on_one_connection`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Db<'p> {
    pool: &'p AnyPool,
}

impl<'p> Db<'p> {
    pub(super) fn new(pool: &'p AnyPool) -> Self {
        Self { pool }
    }

    /// Starts a transaction, on a connection of its own.
    pub(crate) async fn begin(self) -> sqlx::Result<sqlx::Transaction<'static, Any>> {
        self.pool.begin().await
    }
}

// For every `'c`, as sqlx's own for a pool: a future kept on a connection
// owns a clone of the pool and borrows nothing from the `Db`.
impl<'c> Executor<'c> for Db<'_> {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, sqlx::Result<Either<AnyQueryResult, AnyRow>>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        if !inside() {
            return self.pool.fetch_many(query);
        }
        // Collected before they are handed on: the connection goes back to
        // the scope when the query is done, not when its reader is.
        let pool = self.pool.clone();
        futures::stream::once(async move {
            let mut conn = take(&pool).await?;
            let steps: sqlx::Result<Vec<_>> = conn.fetch_many(query).try_collect().await;
            keep(conn, steps.is_ok());
            steps
        })
        .map_ok(|steps| futures::stream::iter(steps.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, sqlx::Result<Option<AnyRow>>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        if !inside() {
            return self.pool.fetch_optional(query);
        }
        let pool = self.pool.clone();
        Box::pin(async move {
            let mut conn = take(&pool).await?;
            let row = conn.fetch_optional(query).await;
            keep(conn, row.is_ok());
            row
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, sqlx::Result<AnyStatement<'q>>>
    where
        'c: 'e,
    {
        self.pool.prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, sqlx::Result<sqlx::Describe<Any>>>
    where
        'c: 'e,
    {
        self.pool.describe(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::temporary_sqlite;
    use std::time::Duration;

    /// A temporary table lives on the connection that made it: a query
    /// that reads it ran on that connection.
    async fn count_mine(db: Db<'_>) -> sqlx::Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM mine")
            .fetch_one(db)
            .await
    }

    #[tokio::test]
    async fn a_futures_queries_run_on_one_connection_left_idle_at_its_end() {
        let (store, _dir) = temporary_sqlite().await;
        let db = store.pool();
        let (rows, nested, size) = on_one_connection(async {
            sqlx::query("CREATE TEMP TABLE mine (x BIGINT)")
                .execute(db)
                .await
                .expect("made");
            for x in 0..5_i64 {
                sqlx::query("INSERT INTO mine (x) VALUES ($1)")
                    .bind(x)
                    .execute(db)
                    .await
                    .expect("inserted");
            }
            // Inside another, the outer one's connection.
            let nested = on_one_connection(count_mine(db)).await.expect("counted");
            let rows: Vec<i64> = sqlx::query_scalar("SELECT x FROM mine ORDER BY x")
                .fetch_all(db)
                .await
                .expect("read back");
            (rows, nested, store.pool.size())
        })
        .await;
        assert_eq!(rows, [0, 1, 2, 3, 4]);
        assert_eq!(nested, 5);
        assert_eq!(size, 1, "seven queries in a row opened one connection");
        // Back in the pool, idle, by the time the future is done: the next
        // query takes it rather than opening another.
        assert_eq!((store.pool.size(), store.pool.num_idle()), (1, 1));
        assert_eq!(count_mine(db).await.expect("the same connection"), 5);
        assert_eq!(store.pool.size(), 1);
    }

    #[tokio::test]
    async fn spawned_tasks_errors_and_let_go() {
        let (store, _dir) = temporary_sqlite().await;
        let db = store.pool();
        on_one_connection(async {
            // Given back now, on this test's one-thread runtime where no
            // spawned return could run meanwhile: idle when `let_go`
            // returns, and the next query takes it instead of opening one.
            sqlx::query("SELECT 1").execute(db).await.expect("kept");
            assert_eq!((store.pool.size(), store.pool.num_idle()), (1, 0));
            let_go().await;
            assert_eq!((store.pool.size(), store.pool.num_idle()), (1, 1));
            sqlx::query("SELECT 1")
                .execute(db)
                .await
                .expect("after letting go");
            assert_eq!(store.pool.size(), 1);

            // A task it spawns takes its own connection from the pool.
            sqlx::query("CREATE TEMP TABLE mine (x BIGINT)")
                .execute(db)
                .await
                .expect("made");
            let other = store.clone();
            let spawned = tokio::spawn(async move { count_mine(other.pool()).await })
                .await
                .expect("joined");
            assert!(spawned.is_err(), "a spawned task ran on the kept connection");

            // A failed query does not keep its connection; the next query
            // takes one from the pool and the future goes on.
            assert!(sqlx::query("SELEC 1").execute(db).await.is_err());
            sqlx::query("SELECT 1").execute(db).await.expect("goes on");
        })
        .await;
        // Outside any, nothing to let go.
        let_go().await;
    }

    /// A future that waits on something other than its own query gives
    /// the connection back meanwhile: a scope around a long wait (a
    /// guest, a body, a lock) keeps no connection from anyone else.
    #[tokio::test]
    async fn other_waits_give_the_connection_back() {
        let (store, _dir) = temporary_sqlite().await;
        let db = store.pool();
        let (gate, opened) = tokio::sync::oneshot::channel::<()>();
        let pool = store.pool.clone();
        let watcher = tokio::spawn(async move {
            // Waits (outside the scope) until the scope's connection is
            // idle while the scope still waits, then lets it go on.
            let idle = async {
                while (pool.size(), pool.num_idle()) != (1, 1) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            };
            let back = tokio::time::timeout(Duration::from_secs(10), idle).await.is_ok();
            let _ = gate.send(());
            back
        });
        on_one_connection(async {
            sqlx::query("SELECT 1").execute(db).await.expect("kept");
            assert_eq!((store.pool.size(), store.pool.num_idle()), (1, 0));
            opened.await.expect("the watcher answers");
            sqlx::query("SELECT 1").execute(db).await.expect("taken again");
            assert_eq!(store.pool.size(), 1, "the idle one was taken again");
        })
        .await;
        assert!(
            watcher.await.expect("joined"),
            "the connection stayed out of the pool while the future waited"
        );
    }
}
