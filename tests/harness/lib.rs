//! The end-to-end harness: starts the real `minicloud` binary on a free port
//! with a fresh data directory, on SQLite or on a fresh PostgreSQL database,
//! and talks to it over HTTP like a user would.
#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod dns;

/// Paths of the guests, built by `build.rs`.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

/// PostgreSQL server the tests use; override with `MINICLOUD_TEST_PG_URL`
/// (it must name a database the tests can connect to as a superuser-ish
/// role that may create databases).
pub fn pg_admin_url() -> String {
    std::env::var("MINICLOUD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The NATS server the tests use (JetStream on); override with
/// `MINICLOUD_TEST_NATS_URL`.
pub fn nats_url() -> String {
    std::env::var("MINICLOUD_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A client of the test NATS server, or a failure that says what to start.
pub async fn nats() -> async_nats::Client {
    let url = nats_url();
    match async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .connect(url.as_str())
        .await
    {
        Ok(c) => c,
        Err(e) => panic!(
            "NATS is not reachable at {url}: {e}. Start it with JetStream: \
             `start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
             -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server`, or point MINICLOUD_TEST_NATS_URL at one"
        ),
    }
}

/// Which database the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// The embedded default.
    Sqlite,
    /// A fresh database on the local PostgreSQL server.
    Postgres,
}

/// A running `minicloud serve`.
pub struct Server {
    child: Option<Child>,
    /// The server's process after a hand-over: a successor, not a child of
    /// this process.
    adopted: Option<u32>,
    binary: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The admin token.
    pub token: String,
    /// An HTTP client.
    pub http: reqwest::Client,
    data_dir: tempfile::TempDir,
    database_url: Option<String>,
    pg_database: Option<String>,
    extra_args: Vec<String>,
    extra_env: Vec<(String, String)>,
}

/// The `minicloud` binary the tests run (`MINICLOUD_BIN`, or the one built
/// beside the test binary).
pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("MINICLOUD_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/<test binary> -> target/<profile>/minicloud
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("minicloud");
    assert!(
        path.exists(),
        "{} does not exist: build it first with `cargo build -p minicloud-controlplane` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A fresh database on the test PostgreSQL server: its name and URL.
pub async fn create_pg_database() -> (String, String) {
    use sqlx::Connection;
    let admin = pg_admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => panic!(
            "PostgreSQL is not reachable at {admin}: {e}. Start it with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, \
             or point MINICLOUD_TEST_PG_URL at a server"
        ),
    };
    let name = format!("mc_test_{}", uuid_like());
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    (name.clone(), format!("{base}/{name}"))
}

/// Drops a database [`create_pg_database`] made.
pub fn drop_pg_database(name: &str) {
    let name = name.to_owned();
    // Drop runs outside async code: use a thread with its own runtime.
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
        });
    })
    .join();
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl Server {
    /// Starts a server on `db` with default settings.
    pub async fn start(db: Db) -> Server {
        Self::start_with(db, &[]).await
    }

    /// Starts a server with extra `serve` flags.
    pub async fn start_with(db: Db, args: &[&str]) -> Server {
        let mut server = Self::unstarted(db, args).await;
        server.spawn().await;
        server
    }

    /// Starts a server with extra `serve` flags and environment variables.
    pub async fn start_with_env(db: Db, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut server = Self::unstarted(db, args).await;
        server.extra_env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        server.spawn().await;
        server
    }

    /// Starts a server on the database a foundation-era installation left
    /// behind: only the first migration applied, then `seed` run on it, and
    /// its admin token file holding `legacy_token` if given.
    pub async fn start_after_upgrade(db: Db, seed: &[&str], legacy_token: Option<&str>) -> Server {
        use sqlx::migrate::{Migration, MigrationType, Migrator};
        use std::borrow::Cow;
        let mut server = Self::unstarted(db, &[]).await;
        let url = server.database_url();
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let first = Migration::new(
            1,
            Cow::Borrowed("foundation"),
            MigrationType::Simple,
            Cow::Borrowed(include_str!("../../controlplane/migrations/0001_foundation.sql")),
            false,
        );
        let mut migrator = Migrator::DEFAULT;
        migrator.migrations = Cow::Owned(vec![first]);
        migrator.run(&pool).await.unwrap();
        for statement in seed {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        pool.close().await;
        // The foundation's first start wrote its token here.
        if let Some(token) = legacy_token {
            std::fs::write(server.data_dir.path().join("admin-token"), token).unwrap();
        }
        server.spawn().await;
        server
    }

    async fn unstarted(db: Db, args: &[&str]) -> Server {
        let (pg_database, database_url) = match db {
            Db::Sqlite => (None, None),
            Db::Postgres => {
                let (name, url) = create_pg_database().await;
                (Some(name), Some(url))
            }
        };
        Server {
            child: None,
            adopted: None,
            binary: binary(),
            url: String::new(),
            token: String::new(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .unwrap(),
            data_dir: tempfile::tempdir().unwrap(),
            database_url,
            pg_database,
            extra_args: args.iter().map(|s| (*s).to_owned()).collect(),
            extra_env: Vec::new(),
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.adopted
            .or_else(|| self.child.as_ref().map(Child::id))
            .unwrap_or(0)
    }

    /// Starts a server from the binary at `path` (a copy the test may
    /// replace while it runs).
    pub async fn start_from(db: Db, path: &Path) -> Server {
        let mut server = Self::unstarted(db, &[]).await;
        server.binary = path.to_owned();
        server.spawn().await;
        server
    }

    /// What the pid file in the data folder names.
    pub fn pid_file(&self) -> Option<u32> {
        read_pid_file(self.data_dir.path())
    }

    /// Sends `signal` (a `kill` name such as `USR2`) to the server.
    pub fn signal(&self, signal: &str) {
        assert!(send(signal, self.pid()), "kill -{signal} {} failed", self.pid());
    }

    /// Sends SIGUSR2, waits until a successor serves (the pid file names
    /// it) and the old process has exited cleanly, and adopts the
    /// successor; returns its pid.
    pub async fn hand_over(&mut self) -> u32 {
        let old = self.pid();
        self.signal("USR2");
        let successor = eventually(Duration::from_secs(60), || async {
            self.pid_file().filter(|pid| *pid != old)
        })
        .await
        .unwrap_or_else(|| panic!("no successor took over; the log:\n{}", self.log()));
        let exited = match self.child.take() {
            Some(child) => wait_for_exit(child).await,
            None => wait_for_gone(old).await,
        };
        assert!(exited, "the old server did not exit cleanly:\n{}", self.log());
        self.adopted = Some(successor);
        successor
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.path().join("server.log"))
            .unwrap();
        let mut cmd = Command::new(&self.binary);
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .args(&self.extra_args)
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        if let Some(url) = &self.database_url {
            cmd.arg("--database-url").arg(url);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("minicloud listening on ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        self.child = Some(child);
        let url = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
            .await
            .unwrap()
            .unwrap_or_else(|_| panic!("the server did not start; its log:\n{}", self.log()));
        self.url = url;
        self.token = std::fs::read_to_string(self.data_dir.path().join("admin-token"))
            .unwrap()
            .trim()
            .to_owned();
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("server.log")).unwrap_or_default()
    }

    /// Stops the server with SIGTERM and waits for it to exit; returns
    /// whether it exited cleanly.
    pub async fn stop(&mut self) -> bool {
        if let Some(pid) = self.adopted.take() {
            // Not a child: its exit status is not ours to read, but a clean
            // stop removes the pid file.
            send("TERM", pid);
            return wait_for_gone(pid).await && self.pid_file().is_none();
        }
        let Some(child) = self.child.take() else {
            return true;
        };
        send("TERM", child.id());
        wait_for_exit(child).await
    }

    /// Kills the server at once (SIGKILL: no draining, no flushing), as a
    /// crash would.
    pub fn kill(&mut self) {
        // Processes that are not children (an adopted successor, or one a
        // hand-over the test did not see through started) are found by
        // their command line, which names this data folder.
        self.adopted = None;
        let dir = self.data_dir.path().as_os_str().as_encoded_bytes();
        let ours = self.child.as_ref().map(Child::id);
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if Some(pid) != ours && cmdline.windows(dir.len()).any(|w| w == dir) {
                send("KILL", pid);
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again (after [`Server::kill`] or
    /// [`Server::stop`]) on the same data directory and database.
    pub async fn start_again(&mut self) {
        assert!(
            self.child.is_none() && self.adopted.is_none(),
            "the server is still running"
        );
        self.spawn().await;
    }

    /// A second node on the same PostgreSQL database as `first`, with its
    /// own data directory, acting with `first`'s admin token.
    pub async fn join(first: &Server) -> Server {
        Self::join_with(first, &[]).await
    }

    /// [`Server::join`] with extra `serve` flags.
    pub async fn join_with(first: &Server, args: &[String]) -> Server {
        let objects = format!("file://{}", first.data_dir().join("objects").display());
        let mut flags = vec!["--object-store", objects.as_str()];
        flags.extend(args.iter().map(String::as_str));
        let mut node = Self::unstarted(Db::Sqlite, &flags).await;
        node.database_url = first.database_url.clone();
        assert!(node.database_url.is_some(), "nodes share PostgreSQL, not SQLite");
        std::fs::write(node.data_dir.path().join("admin-token"), &first.token).unwrap();
        node.spawn().await;
        node
    }

    /// Stops and starts again on the same data directory and database.
    pub async fn restart(&mut self) {
        assert!(
            self.stop().await,
            "the server did not exit cleanly:\n{}",
            self.log()
        );
        self.spawn().await;
    }

    /// `{url}/api/v1/projects/default{path}`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1/projects/default{path}", self.url)
    }

    /// `{url}/fn/default/{name}{path}`.
    pub fn fn_url(&self, name: &str, path: &str) -> String {
        format!("{}/fn/default/{name}{path}", self.url)
    }

    /// A request to `path` on `project`'s own host (`<project>.localhost`,
    /// the default base domain), where its custom routes answer. The
    /// connection still goes to this server's address.
    pub fn on_project(&self, project: &str, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let port = self.url.rsplit(':').next().unwrap_or_default();
        self.http
            .request(method, format!("{}{path}", self.url))
            .header(reqwest::header::HOST, format!("{project}.localhost:{port}"))
    }

    /// An authenticated request.
    pub fn authed(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http.request(method, url).bearer_auth(&self.token)
    }

    /// A request with another principal's bearer token.
    pub fn as_token(&self, token: &str, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http.request(method, url).bearer_auth(token)
    }

    /// `/api/v1{path}` with `token` and an optional JSON body: the status and
    /// the JSON answer (`null` when the answer is not JSON).
    pub async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.as_token(token, method, &format!("{}/api/v1{path}", self.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// The body of a GET of `url`, whatever its status.
    pub async fn get_text(&self, url: &str) -> String {
        self.http.get(url).send().await.unwrap().text().await.unwrap()
    }

    /// The body of a GET of `url` with the admin token, whatever its status.
    pub async fn authed_text(&self, url: &str) -> String {
        let resp = self.authed(reqwest::Method::GET, url).send().await.unwrap();
        resp.text().await.unwrap()
    }

    /// The answer's body to a POST of `body` to `url`, whatever its status.
    pub async fn post_text(&self, url: &str, body: &'static str) -> String {
        let resp = self.http.post(url).body(body).send().await.unwrap();
        resp.text().await.unwrap()
    }

    /// The URL of the server's database (a SQLite file or PostgreSQL).
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.path().join("minicloud.db").display()
            )
        })
    }

    /// `token` deploys `guest` as function `name` of `project`: the answer,
    /// whatever its status.
    pub async fn deploy_by(&self, token: &str, project: &str, name: &str, guest: &str) -> reqwest::Response {
        let resp = self
            .deploy_unsettled(token, project, name, std::fs::read(guest).unwrap())
            .await;
        self.settled(&resp).await;
        resp
    }

    /// `token` deploys `bytes` as function `name` of `project`: the answer,
    /// without waiting for the compile behind it (see [`Server::settled`]).
    pub async fn deploy_unsettled(
        &self,
        token: &str,
        project: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> reqwest::Response {
        self.as_token(
            token,
            reqwest::Method::PUT,
            &format!("{}/api/v1/projects/{project}/functions/{name}", self.url),
        )
        .header("content-type", "application/wasm")
        .body(bytes)
        .send()
        .await
        .unwrap()
    }

    /// Deploys bytes as function `name`, with optional query (`?memory_mib=...`).
    pub async fn deploy_bytes(&self, name: &str, query: &str, bytes: Vec<u8>) -> reqwest::Response {
        let resp = self
            .deploy_unsettled(&self.token, "default", &format!("{name}{query}"), bytes)
            .await;
        self.settled(&resp).await;
        resp
    }

    /// After a deploy that succeeded, waits (up to a minute) for the
    /// compile behind it: a deploy of new bytes answers from Winch's code
    /// while Cranelift's compiles behind it (the quick tier), and the tests
    /// that count compiles, read artifacts or hand over expect the deploy's
    /// artifact stored. `tests/e2e/quick_tier.rs` tests the time before.
    pub async fn settled(&self, deploy: &reqwest::Response) {
        if !deploy.status().is_success() {
            return;
        }
        let every = Duration::from_millis(10);
        assert!(
            compiles_behind_ended(&self.http, &self.url, &self.token, every).await,
            "a compile behind a deploy still runs after a minute:\n{}",
            self.log()
        );
    }

    /// Artifacts in the compiled-artifact cache, a count for each engine
    /// fingerprint's folder, smallest first.
    pub fn artifacts_per_engine(&self) -> Vec<usize> {
        let mut engines: Vec<usize> = std::fs::read_dir(self.data_dir().join("cache"))
            .unwrap()
            .map(|dir| std::fs::read_dir(dir.unwrap().path()).unwrap().count())
            .collect();
        engines.sort();
        engines
    }

    /// Deploys a guest file and asserts success; returns the JSON answer.
    pub async fn deploy(&self, name: &str, guest: &str) -> serde_json::Value {
        self.deploy_with(name, "", guest).await
    }

    /// Deploys a guest file with a query and asserts success.
    pub async fn deploy_with(&self, name: &str, query: &str, guest: &str) -> serde_json::Value {
        let resp = self
            .deploy_bytes(name, query, std::fs::read(guest).unwrap())
            .await;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(status.is_success(), "deploy of {name} failed: {status} {body}");
        body
    }

    /// PATCHes a function's settings and asserts success.
    pub async fn patch(&self, name: &str, body: serde_json::Value) -> serde_json::Value {
        let resp = self
            .authed(reqwest::Method::PATCH, &self.api(&format!("/functions/{name}")))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(status.is_success(), "patch of {name} failed: {status} {body}");
        body
    }

    /// Gives the role `name` of the default org one inline policy, `main`,
    /// of `statements`, creating the role (asserting 201) if it does not
    /// exist yet.
    pub async fn put_role(&self, name: &str, statements: serde_json::Value) {
        let role = format!("/orgs/default/roles/{name}");
        if self.call(&self.token, reqwest::Method::GET, &role, None).await.0 == 404 {
            let (status, body) = self
                .call(
                    &self.token,
                    reqwest::Method::POST,
                    "/orgs/default/roles",
                    Some(serde_json::json!({"name": name})),
                )
                .await;
            assert_eq!(status, 201, "{body}");
        }
        let doc = serde_json::json!({"Version": "2012-10-17", "Statement": statements});
        let (status, body) = self
            .call(
                &self.token,
                reqwest::Method::PUT,
                &format!("{role}/inline-policies/main"),
                Some(serde_json::json!({"document": doc})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Creates user `name` of the default org bound to `role` (in
    /// `project`, or the whole org) and returns an API key's token,
    /// asserting 201 at each step.
    pub async fn user_token(&self, name: &str, role: &str, project: Option<&str>) -> String {
        let mut binding = serde_json::json!({"principal": name, "role": role});
        if let Some(p) = project {
            binding["project"] = p.into();
        }
        let steps = [
            (
                "/orgs/default/users".to_owned(),
                serde_json::json!({"name": name}),
            ),
            ("/orgs/default/bindings".to_owned(), binding),
            (
                format!("/orgs/default/users/{name}/keys"),
                serde_json::json!({"name": "k"}),
            ),
        ];
        let mut last = serde_json::Value::Null;
        for (path, body) in steps {
            let (status, answer) = self
                .call(&self.token, reqwest::Method::POST, &path, Some(body))
                .await;
            assert_eq!(status, 201, "POST {path}: {answer}");
            last = answer;
        }
        last["token"].as_str().unwrap().to_owned()
    }

    /// The default org's refused calls (up to 1000, newest first), once one
    /// of them satisfies `wanted`; `None` if none does within 10 s (audit
    /// records of host calls are written off the hot path).
    pub async fn denials_once(
        &self,
        wanted: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<Vec<serde_json::Value>> {
        eventually(Duration::from_secs(10), || async {
            let (_, body) = self
                .call(
                    &self.token,
                    reqwest::Method::GET,
                    "/orgs/default/audit?decision=Deny&limit=1000",
                    None,
                )
                .await;
            let records = body["items"].as_array().cloned().unwrap_or_default();
            records.iter().any(&wanted).then_some(records)
        })
        .await
    }

    /// Creates a bucket in the default project, asserting 201.
    pub async fn create_bucket(&self, name: &str) {
        let (status, body) = self
            .call(
                &self.token,
                reqwest::Method::POST,
                "/projects/default/buckets",
                Some(serde_json::json!({"name": name})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    /// GET on an API path, as JSON, asserting 200.
    pub async fn get_json(&self, url: &str) -> serde_json::Value {
        let resp = self.authed(reqwest::Method::GET, url).send().await.unwrap();
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "GET {url}: {body}");
        body
    }

    /// The texts of the log lines of function `name`'s invocation `id`
    /// (in `default`), once its record holds any (up to 10 s).
    pub async fn log_lines(&self, name: &str, id: &str) -> Vec<String> {
        let url = self.api(&format!("/functions/{name}/logs?invocation_id={id}"));
        let lines = eventually(std::time::Duration::from_secs(10), || async {
            let items = self.get_json(&url).await["items"].as_array().unwrap().clone();
            (!items.is_empty()).then_some(items)
        })
        .await
        .unwrap_or_else(|| panic!("no log lines of {name}'s invocation {id}"));
        lines
            .iter()
            .map(|l| l["line"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.authed(reqwest::Method::GET, &format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Sum of a metric's samples whose label set contains `labels`.
    pub async fn metric(&self, name: &str, labels: &str) -> f64 {
        metric_in(&self.metrics().await, name, labels)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if let Some(name) = &self.pg_database {
            drop_pg_database(name);
        }
    }
}

/// Waits up to a minute for `child` to exit (killing it then); whether it
/// exited with success.
async fn wait_for_exit(mut child: Child) -> bool {
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.success();
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap()
}

/// Waits up to a minute for process `pid`, not a child, to be gone (or a
/// zombie); kills it then and returns false.
async fn wait_for_gone(pid: u32) -> bool {
    let start = Instant::now();
    while !process_gone(pid) {
        if start.elapsed() > Duration::from_secs(60) {
            send("KILL", pid);
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// A client that opens a new connection for every request (none is kept
/// for the next), as callers that must find the port open each time.
pub fn fresh_connections() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("a reqwest client")
}

/// Whether process `pid` is gone or a zombie (exited, not yet collected).
pub fn process_gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
    })
}

/// The process id the pid file in `data_dir` names (`app::PID_FILE`; the
/// harness sees the server as a binary, not a library).
pub fn read_pid_file(data_dir: &Path) -> Option<u32> {
    std::fs::read_to_string(data_dir.join("minicloud.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `kill -<signal> <pid>`; whether it was delivered.
fn send(signal: &str, pid: u32) -> bool {
    Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// The message of an error answer, once its status and error code are
/// asserted to be `status` and `code`.
pub async fn refused(resp: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(resp.status().as_u16(), status);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sum of the samples of metric `name` whose label set contains `labels`
/// in `metrics`, a Prometheus text exposition.
pub fn metric_in(metrics: &str, name: &str, labels: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| l[name.len()..].starts_with(['{', ' ']) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Polls the metrics of the server at `base` (`http://host:port`) with
/// `token` every `every` until no compile runs behind a deploy there (the
/// quick tier's): whether that came within a minute.
pub async fn compiles_behind_ended(http: &reqwest::Client, base: &str, token: &str, every: Duration) -> bool {
    let start = Instant::now();
    loop {
        let resp = http
            .get(format!("{base}/metrics"))
            .bearer_auth(token)
            .send()
            .await;
        let metrics = resp.unwrap().text().await.unwrap();
        if metric_in(&metrics, "minicloud_compiles_behind_deploys", "") == 0.0 {
            return true;
        }
        if start.elapsed() > Duration::from_secs(60) {
            return false;
        }
        tokio::time::sleep(every).await;
    }
}

/// Peak resident memory of a process, from /proc, in bytes.
pub fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0);
    kb * 1024
}

/// Reads a response body to its end: its length and the sum of its bytes.
pub async fn drain_counting(resp: reqwest::Response) -> (u64, u64) {
    use futures::StreamExt;
    let mut stream = resp.bytes_stream();
    let (mut total, mut sum) = (0u64, 0u64);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        total += chunk.len() as u64;
        sum += chunk.iter().map(|b| u64::from(*b)).sum::<u64>();
    }
    (total, sum)
}

/// What [`drain_counting`] reads of `chunks` 64 KiB chunks where chunk `i`
/// repeats the byte `i % 251` (the bodies the streaming tests send).
pub fn generated_counting(chunks: u64) -> (u64, u64) {
    let sum = (0..chunks).map(|i| (i % 251) * 64 * 1024).sum();
    (chunks * 64 * 1024, sum)
}
