//! `upload-processor`: reads an uploaded text object from one bucket and
//! writes a derived object to another: the text in upper case, with a JSON
//! summary of its lines and words beside it. Invoked with
//! `{"bucket": "uploads", "key": "notes/today.txt"}` (the shape an
//! object-created event will deliver).

use minicloud_sdk::storage::Bucket;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Upload {
    bucket: String,
    key: String,
}

fn process(upload: Upload) -> Result<Value, minicloud_sdk::Error> {
    let out_bucket = minicloud_sdk::config::get("output_bucket").unwrap_or_else(|| "processed".into());
    let bytes = Bucket::open(&upload.bucket)?.get(&upload.key)?;
    let text = String::from_utf8_lossy(&bytes);
    let out = Bucket::open(&out_bucket)?;
    let upper = out.put_with(
        &format!("{}.upper.txt", upload.key),
        text.to_uppercase().as_bytes(),
        Some("text/plain; charset=utf-8"),
        &[("source-key", &upload.key)],
    )?;
    let summary = json!({
        "source": { "bucket": upload.bucket, "key": upload.key, "bytes": bytes.len() },
        "lines": text.lines().count(),
        "words": text.split_whitespace().count(),
    });
    out.put(
        &format!("{}.summary.json", upload.key),
        summary.to_string().as_bytes(),
        Some("application/json"),
    )?;
    minicloud_sdk::log::info(&format!("processed {} ({} bytes)", upload.key, bytes.len()));
    Ok(json!({ "written": [upper.key, format!("{}.summary.json", upload.key)], "summary": summary }))
}

minicloud_sdk::json_handler!(process);
