//! `buckets`: a project's buckets, their objects listed, and copies both
//! ways, streamed (never held whole in memory) with a progress bar.

use super::client::{CliError, Client, segment};
use super::{Global, output};
use clap::Subcommand;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// An object's address on the command line.
const SCHEME: &str = "mc://";

/// `minicloud buckets ...`.
#[derive(Debug, Subcommand)]
pub enum BucketsCommand {
    /// The project's buckets.
    List,
    /// Create a bucket.
    Create {
        /// The bucket.
        name: String,
    },
    /// Delete an empty bucket.
    Delete {
        /// The bucket.
        name: String,
    },
    /// Objects of `mc://BUCKET[/PREFIX]`, in key order; "folders" up to
    /// the next `/` unless `--recursive`.
    Ls {
        /// `mc://BUCKET` or `mc://BUCKET/PREFIX`.
        location: String,
        /// Every key under the prefix, not folders.
        #[arg(long, short = 'r')]
        recursive: bool,
    },
    /// Copy a file to an object (`cp FILE mc://BUCKET/KEY`) or an object to
    /// a file (`cp mc://BUCKET/KEY FILE`, `-` for standard output).
    Cp {
        /// The source.
        from: String,
        /// The destination.
        to: String,
        /// The object's Content-Type (an upload).
        #[arg(long)]
        content_type: Option<String>,
    },
    /// Delete an object.
    Rm {
        /// `mc://BUCKET/KEY`.
        location: String,
    },
}

/// `mc://bucket/key`: the bucket and the key (perhaps empty).
fn location(text: &str) -> Option<(String, String)> {
    let rest = text.strip_prefix(SCHEME)?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_owned(), key.to_owned()))
}

fn object_url(c: &Client, bucket: &str, key: &str) -> String {
    let key: Vec<String> = key.split('/').map(segment).collect();
    c.in_project(&format!("/buckets/{}/objects/{}", segment(bucket), key.join("/")))
}

fn bar(size: Option<u64>, message: String) -> ProgressBar {
    let bar = match size {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner(),
    };
    bar.set_message(message);
    bar
}

/// Runs a `buckets` command.
pub async fn run(global: &Global, command: BucketsCommand) -> Result<(), CliError> {
    let mut c = Client::from_profile(global)?;
    match command {
        BucketsCommand::List => {
            let items = c.all(&c.in_project("/buckets")).await?;
            output::print(global.output, &Value::Array(items), &["name", "created_ms"]);
        }
        BucketsCommand::Create { name } => {
            let body = json!({"name": name});
            c.call(Method::POST, &c.in_project("/buckets"), Some(&body))
                .await?;
            output::done(&format!("created bucket {name}"));
        }
        BucketsCommand::Delete { name } => {
            let url = c.in_project(&format!("/buckets/{}", segment(&name)));
            c.call(Method::DELETE, &url, None).await?;
            output::done(&format!("deleted bucket {name}"));
        }
        BucketsCommand::Ls {
            location: at,
            recursive,
        } => {
            let (bucket, prefix) = location(&at)
                .ok_or_else(|| CliError::Usage(format!("{at:?} is not {SCHEME}BUCKET[/PREFIX]")))?;
            let base = c.in_project(&format!("/buckets/{}/objects", segment(&bucket)));
            let mut query = format!("prefix={}", segment(&prefix));
            if !recursive {
                query.push_str("&delimiter=%2F");
            }
            let (mut objects, mut folders) = (Vec::new(), Vec::new());
            let mut cursor: Option<String> = None;
            loop {
                let mut url = format!("{base}?{query}&limit=1000");
                if let Some(k) = &cursor {
                    url.push_str(&format!("&cursor={}", segment(k)));
                }
                let page = c.call(Method::GET, &url, None).await?;
                objects.extend(page["items"].as_array().cloned().unwrap_or_default());
                folders.extend(page["common_prefixes"].as_array().cloned().unwrap_or_default());
                cursor = page["next_cursor"].as_str().map(str::to_owned);
                if cursor.is_none() {
                    break;
                }
            }
            match global.output {
                super::Format::Json => {
                    let all = json!({"items": objects, "common_prefixes": folders});
                    output::print(global.output, &all, &[]);
                }
                super::Format::Table => {
                    let mut rows: Vec<Value> = folders
                        .iter()
                        .map(|f| json!({"key": f, "size": "(folder)"}))
                        .collect();
                    rows.extend(objects);
                    output::print(
                        global.output,
                        &Value::Array(rows),
                        &["key", "size", "modified_ms"],
                    );
                }
            }
        }
        BucketsCommand::Cp {
            from,
            to,
            content_type,
        } => match (location(&from), location(&to)) {
            (None, Some((bucket, key))) => upload(&mut c, &from, &bucket, &key, content_type).await?,
            (Some((bucket, key)), None) => download(&mut c, &bucket, &key, &to).await?,
            _ => {
                return Err(CliError::Usage(format!(
                    "copy a file to {SCHEME}BUCKET/KEY or {SCHEME}BUCKET/KEY to a file"
                )));
            }
        },
        BucketsCommand::Rm { location: at } => {
            let (bucket, key) = location(&at)
                .filter(|(_, k)| !k.is_empty())
                .ok_or_else(|| CliError::Usage(format!("{at:?} is not {SCHEME}BUCKET/KEY")))?;
            c.call(Method::DELETE, &object_url(&c, &bucket, &key), None)
                .await?;
            output::done(&format!("deleted {at}"));
        }
    }
    Ok(())
}

/// Streams a file up (a key ending in `/`, or none, takes the file's name).
async fn upload(
    c: &mut Client,
    path: &str,
    bucket: &str,
    key: &str,
    content_type: Option<String>,
) -> Result<(), CliError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| CliError::Usage(format!("cannot open {path}: {e}")))?;
    let size = file
        .metadata()
        .await
        .map_err(|e| CliError::Failed(format!("cannot read {path}: {e}")))?
        .len();
    let key = if key.is_empty() || key.ends_with('/') {
        let name = std::path::Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{key}{name}")
    } else {
        key.to_owned()
    };
    let progress = bar(Some(size), format!("uploading {path}"));
    let shown = progress.clone();
    let chunks = tokio_util::io::ReaderStream::new(file).map(move |chunk| {
        if let Ok(bytes) = &chunk {
            shown.inc(bytes.len() as u64);
        }
        chunk
    });
    let request = c
        .request(Method::PUT, &object_url(c, bucket, &key))
        .await?
        .header(
            "content-type",
            content_type.unwrap_or_else(|| "application/octet-stream".into()),
        )
        .header("content-length", size)
        .body(reqwest::Body::wrap_stream(chunks));
    let sent = c.send(request).await;
    progress.finish_and_clear();
    sent?;
    output::done(&format!("copied {path} to {SCHEME}{bucket}/{key} ({size} bytes)"));
    Ok(())
}

/// Streams an object down to a file (written beside it, then renamed, so
/// a broken copy leaves no half file) or to standard output.
async fn download(c: &mut Client, bucket: &str, key: &str, to: &str) -> Result<(), CliError> {
    if key.is_empty() {
        return Err(CliError::Usage(format!("name the object: {SCHEME}{bucket}/KEY")));
    }
    let request = c.request(Method::GET, &object_url(c, bucket, key)).await?;
    let resp = c.send(request).await?;
    let progress = bar(
        resp.content_length(),
        format!("downloading {SCHEME}{bucket}/{key}"),
    );
    let failed = |e: std::io::Error| CliError::Failed(format!("cannot write {to}: {e}"));
    let mut body = resp.bytes_stream();
    let mut written = 0u64;
    if to == "-" {
        progress.finish_and_clear();
        let mut out = tokio::io::stdout();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| CliError::Failed(format!("the download broke: {e}")))?;
            out.write_all(&chunk).await.map_err(failed)?;
        }
        out.flush().await.map_err(failed)?;
        return Ok(());
    }
    let target = std::path::Path::new(to);
    let target = if target.is_dir() {
        target.join(key.rsplit('/').next().unwrap_or(key))
    } else {
        target.to_path_buf()
    };
    let partial = target.with_extension(format!("partial-{}", std::process::id()));
    let mut file = tokio::fs::File::create(&partial).await.map_err(failed)?;
    let copied: Result<(), CliError> = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| CliError::Failed(format!("the download broke: {e}")))?;
            file.write_all(&chunk).await.map_err(failed)?;
            written += chunk.len() as u64;
            progress.inc(chunk.len() as u64);
        }
        file.sync_all().await.map_err(failed)?;
        tokio::fs::rename(&partial, &target).await.map_err(failed)
    }
    .await;
    progress.finish_and_clear();
    if copied.is_err() {
        let _ = tokio::fs::remove_file(&partial).await;
    }
    copied?;
    output::done(&format!(
        "copied {SCHEME}{bucket}/{key} to {} ({written} bytes)",
        target.display()
    ));
    Ok(())
}
