//! The command line against a live server, as a person or a script runs
//! it: profiles (mode 0600), API keys and password sessions (renewed when
//! they expire), functions deployed, listed, invoked and deleted, logs
//! read and followed, exit codes, and output without colour off a
//! terminal. The log stream's own guard: it ends when the caller's grant
//! is taken away.

use minicloud_tests::{Db, Server, eventually, guests};
use reqwest::Method;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

crate::on_both_databases!(cli_journey);

mod resources {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::cli_resources(minicloud_tests::Db::Sqlite).await
    }
}

mod manifest {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::plan_and_apply(minicloud_tests::Db::Sqlite).await
    }
}

mod stream_guard {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::log_stream_ends_with_the_grant(minicloud_tests::Db::Sqlite).await
    }
}

/// `minicloud` with a config directory of its own and none of the
/// caller's `MINICLOUD_*` settings.
pub(crate) fn cli(config: &std::path::Path, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(minicloud_tests::binary());
    cmd.args(args)
        .env("MINICLOUD_CONFIG_DIR", config)
        .env_remove("MINICLOUD_TOKEN")
        .env_remove("MINICLOUD_ENDPOINT")
        .env_remove("MINICLOUD_PROFILE")
        .env_remove("MINICLOUD_PROJECT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// What a run printed, and its exit code.
pub(crate) struct Ran {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Ran {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

async fn run(config: &std::path::Path, args: &[&str], stdin: &str) -> Ran {
    let mut child = cli(config, args).spawn().expect("minicloud runs");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("minicloud {args:?} did not end"))
        .unwrap();
    let ran = Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for text in [&ran.stdout, &ran.stderr] {
        assert!(
            !text.contains('\u{1b}'),
            "no colour off a terminal: {args:?}: {text:?}"
        );
    }
    ran
}

/// The names of the project's functions, as `functions list` gives them.
async fn function_names(config: &std::path::Path) -> Vec<String> {
    let listed = expect(config, &["functions", "list", "-o", "json"], "", 0)
        .await
        .json();
    let names = listed.as_array().expect("functions list gives an array");
    names
        .iter()
        .map(|f| f["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Runs and expects exit code `code`.
pub(crate) async fn expect(config: &std::path::Path, args: &[&str], stdin: &str, code: i32) -> Ran {
    let ran = run(config, args, stdin).await;
    assert_eq!(
        ran.code, code,
        "minicloud {args:?}\nstdout: {}\nstderr: {}",
        ran.stdout, ran.stderr
    );
    ran
}

async fn cli_journey(db: Db) {
    // Access tokens of 2 s: every call of a password session renews it.
    let s = Server::start_with(db, &["--access-token-ttl-secs", "2"]).await;
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config");
    let config = config.as_path();

    // Nobody is signed in: exit 3, and what to do.
    let ran = expect(config, &["whoami"], "", 3).await;
    assert!(ran.stderr.contains("minicloud login"), "{}", ran.stderr);
    expect(config, &["login", "--endpoint", &s.url], "", 2).await;

    // An API key from standard input; the profile file is the user's alone.
    let ran = expect(
        config,
        &["login", "--endpoint", &s.url, "--token-stdin"],
        &s.token,
        0,
    )
    .await;
    assert!(ran.stderr.contains("signed in"), "{}", ran.stderr);
    let file = config.join("config.toml");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(config), 0o700);
    let me = expect(config, &["whoami", "-o", "json"], "", 0).await.json();
    assert_eq!(
        (me["user"].as_str(), me["org"].as_str()),
        (Some("admin"), Some("default"))
    );
    assert_eq!(me["principal_type"], "api_key");
    assert_eq!(me["endpoint"], s.url.as_str());

    // Functions: deploy (twice: the same bytes change nothing), list, get,
    // versions.
    let ran = expect(config, &["functions", "deploy", "faults", guests::FAULTS], "", 0).await;
    assert!(
        ran.stderr.contains("deployed version 1 of faults"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stdout.contains(&format!("{}/fn/default/faults/", s.url)),
        "{}",
        ran.stdout
    );
    let again = expect(
        config,
        &["functions", "deploy", "faults", guests::FAULTS, "-o", "json"],
        "",
        0,
    )
    .await
    .json();
    assert_eq!(
        (again["version"].as_i64(), again["created"].as_bool()),
        (Some(1), Some(false))
    );
    expect(
        config,
        &[
            "functions",
            "deploy",
            "greet",
            guests::JSON_HANDLER,
            "--memory-mib",
            "64",
        ],
        "",
        0,
    )
    .await;
    let list = expect(config, &["functions", "list", "-o", "json"], "", 0)
        .await
        .json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["faults", "greet"]);
    let table = expect(config, &["functions", "list"], "", 0).await;
    let header = table.stdout.lines().next().unwrap_or_default().to_owned();
    assert!(
        header.starts_with("NAME") && header.contains("ACTIVE_VERSION"),
        "{}",
        table.stdout
    );
    let greet = expect(config, &["functions", "get", "greet", "-o", "json"], "", 0)
        .await
        .json();
    assert_eq!(greet["limits"]["memory_mib"], 64);
    let versions = expect(config, &["functions", "versions", "faults", "-o", "json"], "", 0)
        .await
        .json();
    assert_eq!(versions["items"].as_array().unwrap().len(), 1);

    // Invoke: the function's own JSON; from a file too.
    let answer = expect(config, &["invoke", "greet", "--data", r#"{"name":"Ada"}"#], "", 0)
        .await
        .json();
    assert_eq!(answer, json!({"greeting": "Hello, Ada!", "length": 3}));
    let event = home.path().join("event.json");
    std::fs::write(&event, r#"{"name":"Grace"}"#).unwrap();
    let answer = expect(
        config,
        &["invoke", "greet", "--data", &format!("@{}", event.display())],
        "",
        0,
    )
    .await
    .json();
    assert_eq!(answer["greeting"], "Hello, Grace!");

    // Exit codes a script can rely on.
    let ran = expect(config, &["invoke", "greet", "--data", "{nope"], "", 2).await;
    assert!(ran.stderr.contains("not JSON"), "{}", ran.stderr);
    let ran = expect(config, &["functions", "get", "missing"], "", 4).await;
    assert!(ran.stderr.contains("not_found"), "{}", ran.stderr);
    let not_wasm = home.path().join("not.wasm");
    std::fs::write(&not_wasm, "hello").unwrap();
    let ran = expect(
        config,
        &["functions", "deploy", "bad", not_wasm.to_str().unwrap()],
        "",
        5,
    )
    .await;
    assert!(ran.stderr.contains("not_wasm"), "{}", ran.stderr);
    expect(
        config,
        &["functions", "deploy", "bad", "/no/such/file.wasm"],
        "",
        2,
    )
    .await;
    expect(config, &["functions", "frobnicate"], "", 2).await;
    let mut bad_key = cli(config, &["functions", "list"]);
    bad_key.env("MINICLOUD_TOKEN", "mc_not_a_key");
    let out = bad_key.output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "a bad MINICLOUD_TOKEN overrides the profile's"
    );
    // Another endpoint never gets the profile's credential: it needs
    // MINICLOUD_TOKEN, and then is called (here: nobody listens).
    let mut elsewhere = cli(config, &["whoami"]);
    elsewhere.env("MINICLOUD_ENDPOINT", "http://127.0.0.1:9");
    let out = elsewhere.output().await.unwrap();
    assert_eq!(out.status.code(), Some(2), "the profile's key stays home");
    assert!(String::from_utf8_lossy(&out.stderr).contains("MINICLOUD_TOKEN"));
    let mut elsewhere = cli(config, &["whoami"]);
    elsewhere
        .env("MINICLOUD_ENDPOINT", "http://127.0.0.1:9")
        .env("MINICLOUD_TOKEN", "mc_another_key");
    let out = elsewhere.output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "MINICLOUD_ENDPOINT with MINICLOUD_TOKEN overrides the profile"
    );

    // Logs: what the function printed, then new lines as they come.
    let resp = s.http.get(s.fn_url("faults", "/logs?n=2")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let lines = eventually(Duration::from_secs(10), || async {
        let ran = run(config, &["logs", "faults", "-o", "json"], "").await;
        (ran.stdout.lines().count() == 3).then_some(ran.stdout)
    })
    .await
    .expect("three log lines");
    let first: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(
        (first["stream"].as_str(), first["line"].as_str()),
        (Some("stdout"), Some("line 0"))
    );
    let mut follow = cli(config, &["logs", "faults", "--follow"]).spawn().unwrap();
    let mut followed = BufReader::new(follow.stdout.take().unwrap()).lines();
    // The stream is open once the first poll ran: call until a line comes.
    let seen = tokio::time::timeout(Duration::from_secs(20), async {
        let mut got = Vec::new();
        while got.len() < 3 {
            if got.is_empty() {
                s.http.get(s.fn_url("faults", "/logs?n=2")).send().await.unwrap();
            }
            match tokio::time::timeout(Duration::from_millis(1500), followed.next_line()).await {
                Ok(Ok(Some(line))) => got.push(line),
                Ok(_) => panic!("the follow ended"),
                Err(_) => got.clear(),
            }
        }
        got
    })
    .await
    .expect("followed lines arrive");
    assert!(seen[0].ends_with("stdout line 0"), "{seen:?}");
    assert!(seen[2].ends_with("stderr to stderr"), "{seen:?}");
    follow.kill().await.unwrap();

    // A user with a password: a session, renewed (the refresh token
    // rotates) when its 2-second access token expires.
    let password = "a long passphrase";
    let (status, _) = s
        .call(
            &s.token,
            Method::POST,
            "/orgs/default/users",
            Some(json!({"name": "ada", "password": password})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = s
        .call(
            &s.token,
            Method::POST,
            "/orgs/default/bindings",
            Some(json!({"principal": "ada", "role": "ReadOnly", "project": "default"})),
        )
        .await;
    assert_eq!(status, 201);
    expect(
        config,
        &["login", "--endpoint", &s.url, "--profile", "ada", "--user", "ada"],
        "wrong password\n",
        3,
    )
    .await;
    expect(
        config,
        &["login", "--endpoint", &s.url, "--profile", "ada", "--user", "ada"],
        &format!("{password}\n"),
        0,
    )
    .await;
    let refresh = || {
        let text = std::fs::read_to_string(&file).unwrap();
        let parsed: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(
            parsed["current"].as_str(),
            Some("ada"),
            "login makes its profile current"
        );
        parsed["profiles"]["ada"]["session"]["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let before = refresh();
    let me = expect(config, &["whoami", "-o", "json"], "", 0).await.json();
    assert_eq!(
        (me["user"].as_str(), me["principal_type"].as_str()),
        (Some("ada"), Some("user"))
    );
    assert_ne!(refresh(), before, "the session was renewed and saved");
    assert_eq!(mode(&file), 0o600);
    // ReadOnly reads but cannot delete.
    expect(config, &["functions", "list"], "", 0).await;
    let ran = expect(config, &["functions", "delete", "greet"], "", 3).await;
    assert!(ran.stderr.contains("403"), "{}", ran.stderr);
    // Logging out ends the session on the server too.
    let ended = refresh();
    expect(config, &["logout"], "", 0).await;
    expect(config, &["whoami"], "", 3).await;
    let resp = s
        .http
        .post(format!("{}/api/v1/auth/refresh", s.url))
        .json(&json!({"refresh_token": ended}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "the logged-out refresh token is revoked");

    // The admin's profile, by name, deletes.
    expect(
        config,
        &["functions", "delete", "greet", "--profile", "default"],
        "",
        0,
    )
    .await;
    expect(
        config,
        &["functions", "get", "greet", "--profile", "default"],
        "",
        4,
    )
    .await;
    expect(config, &["whoami", "--profile", "nobody"], "", 2).await;
    // Nor to one named with --endpoint.
    let elsewhere = expect(config, &["whoami", "--endpoint", "http://127.0.0.1:9"], "", 2).await;
    assert!(
        elsewhere.stderr.contains("MINICLOUD_TOKEN"),
        "{}",
        elsewhere.stderr
    );

    let ran = expect(config, &["completions", "bash"], "", 0).await;
    assert!(ran.stdout.contains("minicloud"), "a completion script");
}

/// A developer follows a function's logs; once the binding that granted
/// it is deleted, the stream ends with an `error` event at its next poll
/// (a stream is not a key that outlives the grant). Another org's user
/// cannot open one.
async fn log_stream_ends_with_the_grant(db: Db) {
    let s = Server::start(db).await;
    s.deploy("faults", guests::FAULTS).await;
    let key = |user: &'static str, org: &'static str| {
        let s = &s;
        async move {
            let (status, _) = s
                .call(
                    &s.token,
                    Method::POST,
                    &format!("/orgs/{org}/users"),
                    Some(json!({"name": user})),
                )
                .await;
            assert_eq!(status, 201);
            let (_, key) = s
                .call(
                    &s.token,
                    Method::POST,
                    &format!("/orgs/{org}/users/{user}/keys"),
                    Some(json!({"name": "k"})),
                )
                .await;
            key["token"].as_str().unwrap().to_owned()
        }
    };
    let dev = key("dev", "default").await;
    let (status, binding) = s
        .call(
            &s.token,
            Method::POST,
            "/orgs/default/bindings",
            Some(json!({"principal": "dev", "role": "Developer", "project": "default"})),
        )
        .await;
    assert_eq!(status, 201, "{binding}");
    let (status, _) = s
        .call(&s.token, Method::POST, "/orgs", Some(json!({"name": "rival"})))
        .await;
    assert_eq!(status, 201);
    let rival = key("eve", "rival").await;

    let stream_url = s.api("/functions/faults/logs/stream");
    let resp = s.http.get(&stream_url).bearer_auth(&rival).send().await.unwrap();
    assert!(
        [403, 404].contains(&resp.status().as_u16()),
        "another org's user: {}",
        resp.status()
    );
    let resp = s.http.get(&stream_url).bearer_auth(&dev).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.bytes_stream();
    s.http.get(s.fn_url("faults", "/logs?n=1")).send().await.unwrap();
    let mut text = String::new();
    let first = tokio::time::timeout(Duration::from_secs(10), async {
        use futures::StreamExt;
        while !text.contains("line 0") {
            let chunk = body.next().await.expect("the stream stays open").unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(first.is_ok(), "a line arrives: {text}");

    // Four streams a principal at most: the fifth is refused, and a
    // closed one frees its place.
    let mut more = Vec::new();
    for _ in 0..3 {
        let resp = s.http.get(&stream_url).bearer_auth(&dev).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        more.push(resp);
    }
    let (status, refused) = s
        .call(
            &dev,
            Method::GET,
            "/projects/default/functions/faults/logs/stream",
            None,
        )
        .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (429, Some("too_many_streams")),
        "{refused}"
    );
    more.pop();
    let again = eventually(Duration::from_secs(5), || async {
        let resp = s.http.get(&stream_url).bearer_auth(&dev).send().await.unwrap();
        (resp.status() == 200).then_some(resp)
    })
    .await
    .expect("a closed stream frees its place");
    more.push(again);
    drop(more);

    // A stream opened with a key ends once the key is deleted.
    let (status, second) = s
        .call(
            &s.token,
            Method::POST,
            "/orgs/default/users/dev/keys",
            Some(json!({"name": "k2"})),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    let resp = s
        .http
        .get(&stream_url)
        .bearer_auth(second["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let key_id = second["id"].as_str().unwrap();
    let (status, _) = s
        .call(
            &s.token,
            Method::DELETE,
            &format!("/orgs/default/users/dev/keys/{key_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let mut revoked = String::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        use futures::StreamExt;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            revoked.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream ends once its key is deleted: {revoked}"
    );
    assert!(
        revoked.contains("event: error") && revoked.contains("\"status\":401"),
        "{revoked}"
    );

    let id = binding["id"].as_str().unwrap();
    let (status, _) = s
        .call(
            &s.token,
            Method::DELETE,
            &format!("/orgs/default/bindings/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        use futures::StreamExt;
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ends once the grant is gone: {text}");
    assert!(text.contains("event: error"), "{text}");
    assert!(text.contains("access_denied"), "{text}");
    // The refused poll is in the audit trail, like a refused request.
    let (status, denied) = s
        .call(
            &s.token,
            Method::GET,
            "/orgs/default/audit?decision=Deny&action=functions:GetLogs",
            None,
        )
        .await;
    assert_eq!(status, 200, "{denied}");
    let items = denied["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|r| r["actor_name"] == "dev" && r["outcome"] == 403),
        "{denied}"
    );
}

/// The rest of the API through the command line: routes, rules, events,
/// buckets (a 3 MiB copy up and down, byte for byte), secrets (values
/// never on the command line nor in a listing), users, keys, bindings,
/// roles, the policy simulator, the audit trail, workflows and task
/// tokens.
async fn cli_resources(db: Db) {
    let s = Server::start(db).await;
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config");
    let config = config.as_path();
    expect(
        config,
        &["login", "--endpoint", &s.url, "--token-stdin"],
        &s.token,
        0,
    )
    .await;
    expect(
        config,
        &["functions", "deploy", "greet", guests::JSON_HANDLER],
        "",
        0,
    )
    .await;
    expect(config, &["functions", "deploy", "hello", guests::HELLO], "", 0).await;

    // Routes.
    let route = expect(
        config,
        &["routes", "create", "GET", "/hi/{name}", "hello", "-o", "json"],
        "",
        0,
    )
    .await
    .json();
    let id = route["id"].as_str().unwrap().to_owned();
    let routes = expect(config, &["routes", "list", "-o", "json"], "", 0)
        .await
        .json();
    assert_eq!(routes[0]["path"], "/hi/{name}");
    expect(config, &["routes", "delete", &id], "", 0).await;
    expect(config, &["routes", "delete", &id], "", 4).await;

    // Rules, the pattern tester and events.
    let rule = json!({"name": "orders", "sources": {"api": true}, "pattern": {"source": ["shop"]},
        "targets": [{"function": "greet"}]});
    expect(config, &["rules", "create", &rule.to_string()], "", 0).await;
    let rules = expect(config, &["rules", "list", "-o", "json"], "", 0)
        .await
        .json();
    assert_eq!(rules[0]["name"], "orders");
    let tested = expect(
        config,
        &[
            "rules",
            "test",
            r#"{"source":["shop"]}"#,
            r#"{"source":"shop","detail-type":"x"}"#,
            "-o",
            "json",
        ],
        "",
        0,
    )
    .await
    .json();
    assert_eq!(tested["match"], true, "{tested}");
    let put = expect(
        config,
        &[
            "events",
            "put",
            r#"{"source":"shop","detail-type":"Order","detail":{"name":"Ada"}}"#,
            "-o",
            "json",
        ],
        "",
        0,
    )
    .await
    .json();
    assert_eq!(put["entries"].as_array().unwrap().len(), 1, "{put}");
    expect(config, &["dead-letters", "list"], "", 0).await;
    expect(config, &["rules", "delete", "orders"], "", 0).await;

    // Buckets: a copy up and back down, streamed, byte for byte.
    expect(config, &["buckets", "create", "files"], "", 0).await;
    let original: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let up = home.path().join("big.bin");
    std::fs::write(&up, &original).unwrap();
    expect(
        config,
        &["buckets", "cp", up.to_str().unwrap(), "mc://files/in/"],
        "",
        0,
    )
    .await;
    let listed = expect(config, &["buckets", "ls", "mc://files", "-o", "json"], "", 0)
        .await
        .json();
    assert_eq!(listed["common_prefixes"], json!(["in/"]), "{listed}");
    let listed = expect(
        config,
        &["buckets", "ls", "mc://files/in/", "-r", "-o", "json"],
        "",
        0,
    )
    .await
    .json();
    assert_eq!(listed["items"][0]["key"], "in/big.bin");
    assert_eq!(listed["items"][0]["size"], original.len());
    let down = home.path().join("back.bin");
    expect(
        config,
        &["buckets", "cp", "mc://files/in/big.bin", down.to_str().unwrap()],
        "",
        0,
    )
    .await;
    assert!(
        std::fs::read(&down).unwrap() == original,
        "the copy is byte for byte"
    );
    expect(
        config,
        &["buckets", "cp", "mc://files/in/missing", down.to_str().unwrap()],
        "",
        4,
    )
    .await;
    expect(config, &["buckets", "delete", "files"], "", 5).await;
    expect(config, &["buckets", "rm", "mc://files/in/big.bin"], "", 0).await;
    expect(config, &["buckets", "delete", "files"], "", 0).await;
    expect(config, &["buckets", "cp", "a", "b"], "", 2).await;

    // Secrets: from standard input and from a file; out only by reveal.
    let value = "correct horse battery staple";
    expect(config, &["secrets", "create", "db"], &format!("{value}\n"), 0).await;
    let listing = expect(config, &["secrets", "list", "-o", "json"], "", 0).await;
    assert!(!listing.stdout.contains(value), "{}", listing.stdout);
    assert_eq!(listing.json()[0]["name"], "db");
    let revealed = expect(config, &["secrets", "reveal", "db"], "", 0).await;
    assert_eq!(revealed.stdout.trim_end(), value);
    let file = home.path().join("new-value");
    std::fs::write(&file, "second\n").unwrap();
    expect(
        config,
        &["secrets", "rotate", "db", "--from-file", file.to_str().unwrap()],
        "",
        0,
    )
    .await;
    assert_eq!(
        expect(config, &["secrets", "reveal", "db"], "", 0)
            .await
            .stdout
            .trim_end(),
        "second"
    );
    let first = expect(
        config,
        &["secrets", "reveal", "db", "--version", "1", "-o", "json"],
        "",
        0,
    )
    .await
    .json();
    assert_eq!(first["secret_string"], value);
    expect(config, &["secrets", "create", "empty"], "", 2).await;

    // People: a user with a password, a key for them (printed once), a
    // role binding, and the key signs in as them.
    expect(
        config,
        &["users", "create", "ada", "--password-stdin"],
        "a long passphrase\n",
        0,
    )
    .await;
    let users = expect(config, &["users", "list", "-o", "json"], "", 0)
        .await
        .json();
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ada", "admin"]);
    let key = expect(config, &["keys", "create", "ada", "laptop"], "", 0).await;
    let token = key.stdout.trim().to_owned();
    assert!(token.starts_with("mck_"), "{}", key.stdout);
    expect(
        config,
        &["roles", "create", "readers", "--policy", "ReadOnly"],
        "",
        0,
    )
    .await;
    expect(
        config,
        &["bindings", "create", "ada", "readers", "--in-project", "default"],
        "",
        0,
    )
    .await;
    let ada = home.path().join("ada");
    expect(&ada, &["login", "--endpoint", &s.url, "--token-stdin"], &token, 0).await;
    let me = expect(&ada, &["whoami", "-o", "json"], "", 0).await.json();
    assert_eq!(me["user"], "ada");
    expect(&ada, &["functions", "list"], "", 0).await;
    expect(&ada, &["secrets", "reveal", "db"], "", 3).await;
    let denied = expect(&ada, &["users", "create", "mallory"], "", 3).await;
    assert!(denied.stderr.contains("403"), "{}", denied.stderr);

    // The simulator and the audit trail.
    let request = json!({"principal": {"org": "default", "user": "ada"},
        "action": "secrets:GetSecretValue", "resource": "mrn:secrets:default:default:secret/db"});
    let decision = expect(
        config,
        &["policies", "simulate", &request.to_string(), "-o", "json"],
        "",
        0,
    )
    .await
    .json();
    assert_eq!(decision["decision"], "ImplicitDeny", "{decision}");
    let trail = expect(
        config,
        &["audit", "--action", "secrets:GetSecretValue", "-o", "json"],
        "",
        0,
    )
    .await
    .json();
    let decisions: Vec<&str> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["decision"].as_str().unwrap())
        .collect();
    assert_eq!(
        decisions,
        ["Deny", "Allow", "Allow", "Allow"],
        "ada's refusal and the admin's reveals"
    );
    let verified = expect(config, &["audit", "verify", "-o", "json"], "", 0)
        .await
        .json();
    assert_eq!(verified["ok"], true);

    // Workflows: deploy from a file, start and wait, read back; a task
    // token the platform never issued is refused.
    let definition = json!({"StartAt": "Greet", "States": {"Greet": {"Type": "Task",
        "Resource": "greet", "End": true}}});
    let file = home.path().join("greet.json");
    std::fs::write(&file, definition.to_string()).unwrap();
    expect(
        config,
        &["workflows", "deploy", "hello-flow", file.to_str().unwrap()],
        "",
        0,
    )
    .await;
    let ended = expect(
        config,
        &[
            "workflows",
            "start",
            "hello-flow",
            "--input",
            r#"{"name":"Ada"}"#,
            "--wait",
            "--execution-name",
            "first",
            "-o",
            "json",
        ],
        "",
        0,
    )
    .await
    .json();
    assert_eq!(ended["status"], "SUCCEEDED", "{ended}");
    let described = expect(
        config,
        &["workflows", "describe", "hello-flow", "first", "-o", "json"],
        "",
        0,
    )
    .await
    .json();
    assert_eq!(described["id"], ended["id"]);
    let history = expect(
        config,
        &["workflows", "history", "hello-flow", "first", "-o", "json"],
        "",
        0,
    )
    .await
    .json();
    let types: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"ExecutionStarted"));
    assert_eq!(types.last(), Some(&"ExecutionSucceeded"));
    let runs = expect(
        config,
        &["workflows", "executions", "hello-flow", "-o", "json"],
        "",
        0,
    )
    .await
    .json();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    let failing = expect(
        config,
        &[
            "workflows",
            "start",
            "hello-flow",
            "--input",
            r#"{"nom":"Ada"}"#,
            "--wait",
        ],
        "",
        1,
    )
    .await;
    assert!(failing.stderr.contains("FAILED"), "{}", failing.stderr);
    expect(config, &["approve", "not-a-token"], "", 5).await;
    expect(config, &["reject", "not-a-token", "--cause", "no"], "", 5).await;
}

/// `plan` and `apply` of a `minicloud.toml`: nothing changes on a plan;
/// an apply creates everything; a second changes nothing; an edit is one
/// update; what the manifest drops is kept until `--prune`; errors name
/// the manifest's line.
async fn plan_and_apply(db: Db) {
    let s = Server::start(db).await;
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config");
    let config = config.as_path();
    expect(
        config,
        &["login", "--endpoint", &s.url, "--token-stdin"],
        &s.token,
        0,
    )
    .await;
    let dir = home.path().join("app");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("flow.json"),
        json!({"StartAt": "G", "States": {"G": {"Type": "Task", "Resource": "greet", "End": true}}})
            .to_string(),
    )
    .unwrap();
    let manifest = |memory: u64, bucket: bool| {
        let reuse = match bucket {
            true => "{ max_requests = 50, max_concurrent = 2, idle_timeout_ms = 10000 }",
            false => "\"off\"",
        };
        format!(
            r#"project = "default"
secrets = []

[functions.hello]
source = "{hello}"

[functions.p3]
source = "{hello_p3}"
reuse = {reuse}

[functions.greet]
source = "{greet}"
memory_mib = {memory}
env = {{ GREETING = "hi" }}
role = "greeter"

[roles.greeter]
policies = ["ReadOnly"]

[roles.greeter.inline.main]
Version = "2012-10-17"
Statement = [{{ Effect = "Allow", Action = "kv:*", Resource = "mrn:kv:*:*:bucket/greetings/*" }}]

[[routes]]
method = "GET"
path = "/hello/{{name}}"
function = "hello"

[rules.orders]
sources = {{ api = true }}
pattern = {{ source = ["shop"] }}
targets = [{{ function = "greet" }}]

[workflows.flow]
definition = "flow.json"
{bucket}"#,
            hello = guests::HELLO,
            hello_p3 = guests::HELLO_P3,
            greet = guests::JSON_HANDLER,
            bucket = if bucket { "\n[buckets.pics]\n" } else { "" },
        )
    };
    let file = dir.join("minicloud.toml");
    let file_arg = file.to_str().unwrap().to_owned();
    std::fs::write(&file, manifest(64, true)).unwrap();

    let planned = expect(config, &["plan", "-f", &file_arg], "", 0).await;
    for line in [
        "+ role greeter",
        "+ bucket pics",
        "+ function greet",
        "+ function hello",
        "+ workflow flow",
        "+ rule orders",
        "+ route GET /hello/{name} -> hello",
    ] {
        assert!(planned.stdout.contains(line), "{line}: {}", planned.stdout);
    }
    let none = expect(config, &["functions", "list", "-o", "json"], "", 0)
        .await
        .json();
    assert_eq!(none, json!([]), "a plan changes nothing");

    expect(config, &["apply", "-f", &file_arg], "", 0).await;
    let greet = expect(config, &["functions", "get", "greet", "-o", "json"], "", 0)
        .await
        .json();
    assert_eq!(greet["limits"]["memory_mib"], 64);
    assert_eq!(greet["env"], json!({"GREETING": "hi"}));
    let p3 = expect(config, &["functions", "get", "p3", "-o", "json"], "", 0)
        .await
        .json();
    assert_eq!(
        p3["reuse"],
        json!({"max_requests": 50, "max_concurrent": 2, "idle_timeout_ms": 10000})
    );
    assert_eq!(greet["role"], "greeter");
    let role = expect(config, &["roles", "get", "greeter", "-o", "json"], "", 0)
        .await
        .json();
    assert_eq!(role["policies"], json!(["ReadOnly"]));
    assert_eq!(
        role["inline_policies"][0]["document"]["Statement"][0]["Action"],
        "kv:*"
    );
    let resp = s
        .http
        .get(format!("{}/hello/Ada", s.url))
        .header("host", "default.localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the route serves");
    let ended = expect(
        config,
        &[
            "workflows",
            "start",
            "flow",
            "--input",
            r#"{"name":"Ada"}"#,
            "--wait",
            "-o",
            "json",
        ],
        "",
        0,
    )
    .await
    .json();
    assert_eq!(ended["status"], "SUCCEEDED");

    // Idempotent: a second apply changes nothing.
    let again = expect(config, &["plan", "-f", &file_arg, "-o", "json"], "", 0)
        .await
        .json();
    assert_eq!(again["changes"], json!([]), "{again}");
    assert_eq!(again["unchanged"], 8);
    let applied = expect(config, &["apply", "-f", &file_arg], "", 0).await;
    assert!(applied.stderr.contains("0 changed"), "{}", applied.stderr);

    // An edit is one update; a dropped bucket is kept until --prune.
    std::fs::write(&file, manifest(128, false)).unwrap();
    let planned = expect(config, &["plan", "-f", &file_arg], "", 0).await;
    assert!(planned.stdout.contains("~ function greet"), "{}", planned.stdout);
    assert!(
        planned.stdout.contains("! bucket pics is not in the manifest"),
        "{}",
        planned.stdout
    );
    expect(config, &["apply", "-f", &file_arg], "", 0).await;
    let buckets = expect(config, &["buckets", "list", "-o", "json"], "", 0)
        .await
        .json();
    assert_eq!(buckets.as_array().unwrap().len(), 1);
    expect(config, &["apply", "-f", &file_arg, "--prune"], "", 0).await;
    let buckets = expect(config, &["buckets", "list", "-o", "json"], "", 0)
        .await
        .json();
    assert_eq!(buckets, json!([]));
    let greet = expect(config, &["functions", "get", "greet", "-o", "json"], "", 0)
        .await
        .json();
    assert_eq!(greet["limits"]["memory_mib"], 128);
    let p3 = expect(config, &["functions", "get", "p3", "-o", "json"], "", 0)
        .await
        .json();
    assert_eq!(p3["reuse"], Value::Null, "reuse = \"off\" turned it off");
    let again = expect(config, &["plan", "-f", &file_arg, "-o", "json"], "", 0)
        .await
        .json();
    assert_eq!(again["changes"], json!([]), "\"off\" holds for no reuse: {again}");

    // `functions deploy --reuse` sets it with the version; a bad one is
    // refused before anything is uploaded.
    let deployed = expect(
        config,
        &[
            "functions",
            "deploy",
            "p3b",
            guests::HELLO_P3,
            "--reuse",
            "10,1,5000",
            "-o",
            "json",
        ],
        "",
        0,
    )
    .await
    .json();
    assert_eq!(
        deployed["reuse"],
        json!({"max_requests": 10, "max_concurrent": 1, "idle_timeout_ms": 5000})
    );
    let ran = expect(
        config,
        &["functions", "deploy", "p3c", guests::HELLO_P3, "--reuse", "10,1"],
        "",
        2,
    )
    .await;
    assert!(ran.stderr.contains("MAX_REQUESTS"), "{}", ran.stderr);
    // Out of range: refused before the upload (exit 2). A component that
    // cannot reuse instances: the server refuses the deploy with its
    // reuse (exit 5). Either way no version lands without it.
    for (guest, reuse, code, why) in [
        (guests::HELLO_P3, "0,1,5000", 2, "reuse.max_requests is 0"),
        (guests::HELLO, "10,1,5000", 5, "reuse_unsupported"),
    ] {
        let args = ["functions", "deploy", "p3c", guest, "--reuse", reuse];
        let ran = expect(config, &args, "", code).await;
        assert!(ran.stderr.contains(why), "{reuse}: {}", ran.stderr);
    }
    let listed = function_names(config).await;
    assert!(
        !listed.contains(&"p3c".to_owned()),
        "a refused --reuse deployed nothing: {listed:?}"
    );

    // Errors point at the manifest's line.
    let bad = home.path().join("bad.toml");
    let bad_arg = bad.to_str().unwrap();
    std::fs::write(&bad, "[functions.x]\nsource = \"x.wasm\"\ncolour = \"red\"\n").unwrap();
    let ran = expect(config, &["plan", "-f", bad_arg], "", 2).await;
    assert!(
        ran.stderr.contains("line 3") && ran.stderr.contains("colour"),
        "{}",
        ran.stderr
    );
    std::fs::write(&bad, "secrets = [\"db\"]\n").unwrap();
    let ran = expect(config, &["plan", "-f", bad_arg], "", 2).await;
    assert!(
        ran.stderr.contains("bad.toml:1:") && ran.stderr.contains("minicloud secrets create db"),
        "{}",
        ran.stderr
    );
    std::fs::write(&bad, "\n\n[rules.broken]\nsources = { api = true }\npattern = { source = \"shop\" }\ntargets = [{ function = \"greet\" }]\n").unwrap();
    let ran = expect(config, &["apply", "-f", bad_arg], "", 5).await;
    assert!(ran.stderr.contains("bad.toml:3: rule broken"), "{}", ran.stderr);
    // Reuse goes with the code: out of range is refused by the plan, and
    // a component that cannot reuse instances by the deploy, before it
    // lands.
    let reused = |max_requests: u32| {
        format!(
            "[functions.x]\nsource = \"{}\"\nreuse = {{ max_requests = {max_requests}, max_concurrent = 1, idle_timeout_ms = 1000 }}\n",
            guests::HELLO
        )
    };
    std::fs::write(&bad, reused(0)).unwrap();
    let ran = expect(config, &["plan", "-f", bad_arg], "", 2).await;
    assert!(
        ran.stderr.contains("functions.x.reuse.max_requests is 0"),
        "{}",
        ran.stderr
    );
    std::fs::write(&bad, reused(5)).unwrap();
    let ran = expect(config, &["apply", "-f", bad_arg], "", 5).await;
    assert!(ran.stderr.contains("reuse_unsupported"), "{}", ran.stderr);
    let listed = function_names(config).await;
    assert!(
        !listed.contains(&"x".to_owned()),
        "a refused reuse deployed nothing: {listed:?}"
    );
}
