//! End-to-end tests: the real `minicloud` binary, real SQLite and
//! PostgreSQL, real HTTP. One binary, one module per area. Every scenario
//! that touches the store runs on both databases.
#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]

mod audit;
mod capabilities;
mod cli;
mod compose;
mod console;
mod console_browser;
mod deploy;
mod events;
mod example_manifests;
mod examples;
mod faults;
mod handover;
mod hostile;
mod identity;
mod invoke;
mod maps;
mod nats;
mod observe;
mod openapi;
mod outbox;
mod policies;
mod quick_tier;
mod routes;
mod rules;
mod s3;
mod secrets;
mod shutdown;
mod storage;
mod streaming;
mod tenancy;
mod triggers;
mod wasi_p3;
mod workflow_cases;
mod workflow_examples;
mod workflow_host;
mod workflow_limits;
mod workflow_parking;
mod workflows;

/// Generates `<scenario>::sqlite` and `<scenario>::postgres` tests for
/// `async fn <scenario>(db: Db)`.
#[macro_export]
macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario(minicloud_tests::Db::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$scenario(minicloud_tests::Db::Postgres).await
                }
            }
        )*
    };
}
