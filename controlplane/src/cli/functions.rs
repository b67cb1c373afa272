//! `functions deploy/list/get/versions/delete`, `invoke` and `logs`.

use super::client::{CliError, Client, api_error, json_of, segment};
use super::{Format, Global, output};
use clap::{Args, Subcommand};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// `minicloud functions ...`.
#[derive(Debug, Subcommand)]
pub enum FunctionsCommand {
    /// Upload a component (`.wasm`) as a new version of a function, created
    /// when it does not exist, and make it the active version.
    Deploy(DeployArgs),
    /// The project's functions.
    List,
    /// A function: its active version, limits and settings.
    Get {
        /// The function.
        name: String,
    },
    /// A function's versions, newest first.
    Versions {
        /// The function.
        name: String,
    },
    /// Delete a function and its versions.
    Delete {
        /// The function.
        name: String,
    },
}

/// `minicloud functions deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The function's name.
    name: String,
    /// The component to deploy.
    file: PathBuf,
    /// Memory limit, MiB.
    #[arg(long)]
    memory_mib: Option<u64>,
    /// Time limit of one invocation, ms.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Invocations at once, at most.
    #[arg(long)]
    concurrency: Option<u64>,
    /// The execution role (a role of the project's org).
    #[arg(long)]
    role: Option<String>,
    /// Who may call it over HTTP: `public` or `authenticated`.
    #[arg(long)]
    http_auth: Option<String>,
    /// Instance reuse (WASI 0.3 HTTP functions):
    /// `MAX_REQUESTS,MAX_CONCURRENT,IDLE_TIMEOUT_MS` (e.g. `100,4,30000`),
    /// or `off`. Deployed with the version: a component that cannot reuse
    /// instances is refused and nothing lands.
    #[arg(long, value_parser = parse_reuse)]
    reuse: Option<String>,
}

/// `--reuse`, checked before the upload; sent in the deploy's query.
fn parse_reuse(text: &str) -> Result<String, String> {
    Ok(match minicloud_runtime::Reuse::parse_short(text)? {
        Some(reuse) => reuse.short(),
        None => "off".into(),
    })
}

/// Runs a `functions` command.
pub async fn run(global: &Global, command: FunctionsCommand) -> Result<(), CliError> {
    let mut client = Client::from_profile(global)?;
    match command {
        FunctionsCommand::Deploy(args) => deploy(global, &mut client, args).await,
        FunctionsCommand::List => {
            let items = client.all(&client.in_project("/functions")).await?;
            output::print(
                global.output,
                &Value::Array(items),
                &["name", "active_version", "world", "size_bytes", "updated_ms"],
            );
            Ok(())
        }
        FunctionsCommand::Get { name } => {
            let f = client
                .call(Method::GET, &function_url(&client, &name, ""), None)
                .await?;
            output::print(global.output, &f, &[]);
            Ok(())
        }
        FunctionsCommand::Versions { name } => {
            let page = client
                .call(Method::GET, &function_url(&client, &name, "/versions"), None)
                .await?;
            match global.output {
                Format::Json => output::print(global.output, &page, &[]),
                Format::Table => output::print(
                    global.output,
                    &page["items"],
                    &["version", "sha256", "size_bytes", "world", "created_ms"],
                ),
            }
            Ok(())
        }
        FunctionsCommand::Delete { name } => {
            client
                .call(Method::DELETE, &function_url(&client, &name, ""), None)
                .await?;
            output::done(&format!("deleted function {name}"));
            Ok(())
        }
    }
}

fn function_url(client: &Client, name: &str, rest: &str) -> String {
    client.in_project(&format!("/functions/{}{rest}", segment(name)))
}

/// Streams the file up with a progress bar, then shows a spinner while the
/// server compiles it; prints the version and the function's URL.
async fn deploy(global: &Global, client: &mut Client, args: DeployArgs) -> Result<(), CliError> {
    let file = tokio::fs::File::open(&args.file)
        .await
        .map_err(|e| CliError::Usage(format!("cannot open {}: {e}", args.file.display())))?;
    let size = file
        .metadata()
        .await
        .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", args.file.display())))?
        .len();
    let mut query = Vec::new();
    let numbers = [
        ("memory_mib", args.memory_mib),
        ("timeout_ms", args.timeout_ms),
        ("concurrency", args.concurrency),
    ];
    for (key, value) in numbers {
        if let Some(v) = value {
            query.push(format!("{key}={v}"));
        }
    }
    for (key, value) in [
        ("role", &args.role),
        ("http_auth", &args.http_auth),
        ("reuse", &args.reuse),
    ] {
        if let Some(v) = value {
            query.push(format!("{key}={}", segment(v)));
        }
    }
    let mut url = function_url(client, &args.name, "");
    if !query.is_empty() {
        url = format!("{url}?{}", query.join("&"));
    }
    // Drawn only on a terminal (indicatif hides itself elsewhere).
    let bar = ProgressBar::new(size).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(format!("uploading {}", args.file.display()));
    let shown = bar.clone();
    let chunks = tokio_util::io::ReaderStream::new(file).map(move |chunk| {
        if let Ok(c) = &chunk {
            shown.inc(c.len() as u64);
            if shown.position() >= size {
                shown.set_style(
                    ProgressStyle::with_template("{spinner} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                shown.set_message("compiling");
                shown.enable_steady_tick(Duration::from_millis(100));
            }
        }
        chunk
    });
    let request = client
        .request(Method::PUT, &url)
        .await?
        .header("content-type", "application/wasm")
        .header("content-length", size)
        .body(reqwest::Body::wrap_stream(chunks));
    let answer = client.send(request).await;
    bar.finish_and_clear();
    let mut deployed = json_of(answer?).await?;
    deployed["url"] = json!(format!(
        "{}/fn/{}/{}/",
        client.endpoint,
        segment(&client.project),
        segment(&args.name)
    ));
    match global.output {
        Format::Json => output::print(global.output, &deployed, &[]),
        Format::Table => {
            let what = if deployed["created"] == true {
                "deployed"
            } else {
                "unchanged: the same bytes are"
            };
            output::done(&format!(
                "{what} version {} of {}",
                output::text(&deployed["version"]),
                args.name
            ));
            output::print(
                global.output,
                &deployed,
                &["name", "version", "sha256", "size_bytes", "world", "url"],
            );
        }
    }
    Ok(())
}

/// `minicloud invoke`.
#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The function.
    name: String,
    /// The event: JSON, or `@FILE` to read it from a file (`@-`: standard
    /// input). Default `{}`.
    #[arg(long, short = 'd')]
    data: Option<String>,
}

/// Invokes a handler function and prints its answer.
pub async fn invoke(global: &Global, args: InvokeArgs) -> Result<(), CliError> {
    let event = match args.data.as_deref() {
        None => json!({}),
        Some(d) => super::json_arg("the event", d)?,
    };
    let mut client = Client::from_profile(global)?;
    let answer = client
        .call(
            Method::POST,
            &function_url(&client, &args.name, "/invoke"),
            Some(&event),
        )
        .await?;
    // The answer is the function's own JSON: printed as it is.
    output::print(Format::Json, &answer, &[]);
    Ok(())
}

/// `minicloud logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The function.
    name: String,
    /// Keep printing new lines as they come (until interrupted).
    #[arg(long, short = 'f')]
    follow: bool,
    /// Lines of the last this many seconds (default: the last hour; with
    /// `--follow`, none from before).
    #[arg(long)]
    since_secs: Option<u64>,
    /// Only the lines of this invocation.
    #[arg(long)]
    invocation: Option<String>,
}

/// Prints a function's log lines, and with `--follow` new ones as they
/// come, through the API's stream of them.
pub async fn logs(global: &Global, args: LogsArgs) -> Result<(), CliError> {
    let mut client = Client::from_profile(global)?;
    let now = crate::util::now_ms();
    let since = match (args.since_secs, args.follow) {
        (Some(s), _) => now.saturating_sub(i64::try_from(s).unwrap_or(i64::MAX).saturating_mul(1000)),
        (None, false) => now - 3_600_000,
        (None, true) => now,
    };
    let filter = args
        .invocation
        .as_deref()
        .map(|i| format!("&invocation_id={}", segment(i)))
        .unwrap_or_default();
    if !args.follow {
        let page = client
            .call(
                Method::GET,
                &function_url(
                    &client,
                    &args.name,
                    &format!("/logs?since={since}&limit=1000{filter}"),
                ),
                None,
            )
            .await?;
        for line in page["items"].as_array().into_iter().flatten() {
            print_line(global.output, line);
        }
        return Ok(());
    }
    // The server ends a stream after a while (the credential is checked
    // again for the next), and when it drains. The next one starts a
    // little before the last line seen (never before `since`), for lines
    // stored late; those already printed are skipped. A broken connection
    // or a server error is tried again, with a pause growing to 30 s.
    let mut cursor = since;
    let mut seen: HashMap<(String, i64), i64> = HashMap::new();
    let mut from = since;
    let mut failures = 0u32;
    loop {
        let url = function_url(&client, &args.name, &format!("/logs/stream?since={from}{filter}"));
        let request = client.request(Method::GET, &url).await?;
        let outcome = match request.send().await {
            Err(e) => Err(CliError::network(&client.endpoint, &e)),
            Ok(resp) if !resp.status().is_success() => Err(api_error(resp).await),
            Ok(resp) => {
                failures = 0;
                follow(resp, global.output, &mut seen, &mut cursor).await
            }
        };
        match outcome {
            Ok(()) => {}
            Err(e) if transient(&e) && failures < 10 => {
                failures += 1;
                output::error(&format!("{e}; trying again"));
                tokio::time::sleep(Duration::from_secs(30.min(1 << failures))).await;
            }
            Err(e) => return Err(e),
        }
        from = (cursor - LATE_MS).max(since);
        seen.retain(|_, at| *at >= from);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether a failed stream is worth asking for again: the network, or
/// the server's trouble (not a refusal).
fn transient(e: &CliError) -> bool {
    match e {
        CliError::Failed(_) => true,
        CliError::Api { status, .. } => *status >= 500 || *status == 429,
        CliError::Usage(_) => false,
    }
}

/// An event of a stream longer than this is refused.
const MAX_EVENT: usize = 1 << 20;

/// Prints the lines of one stream until it ends: the lines not seen yet
/// go into `seen`, and `cursor` moves to the newest.
async fn follow(
    resp: reqwest::Response,
    format: Format,
    seen: &mut HashMap<(String, i64), i64>,
    cursor: &mut i64,
) -> Result<(), CliError> {
    let mut body = resp.bytes_stream();
    let mut buffer = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| CliError::Failed(format!("the log stream broke: {e}")))?;
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let Some(data) = line.trim_end().strip_prefix("data:") else {
                continue;
            };
            let Ok(record) = serde_json::from_str::<Value>(data.trim_start()) else {
                continue;
            };
            if let Some(error) = record["error"].as_object() {
                let field = |k: &str| {
                    error
                        .get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                return Err(CliError::Api {
                    status: error
                        .get("status")
                        .and_then(Value::as_u64)
                        .map_or(500, |s| s as u16),
                    code: field("code"),
                    message: format!("the log stream ended: {}", field("message")),
                    trace_id: String::new(),
                });
            }
            let time = record["time_ms"].as_i64().unwrap_or(*cursor);
            let key = (
                output::text(&record["invocation_id"]),
                record["seq"].as_i64().unwrap_or(0),
            );
            if seen.insert(key, time).is_none() {
                print_line(format, &record);
            }
            *cursor = (*cursor).max(time);
        }
        if buffer.len() > MAX_EVENT {
            return Err(CliError::Failed(format!(
                "the log stream sent a line longer than {MAX_EVENT} bytes"
            )));
        }
    }
    Ok(())
}

/// How late a log line may be stored after its time (the records writer
/// batches them): a new stream looks back this far.
const LATE_MS: i64 = 10_000;

fn print_line(format: Format, line: &Value) {
    match format {
        Format::Json => anstream::println!("{line}"),
        Format::Table => {
            let at = line["time_ms"]
                .as_i64()
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                .unwrap_or_default();
            anstream::println!(
                "{at} {} {}",
                output::shown(&line["stream"]),
                output::shown(&line["line"])
            );
        }
    }
}
