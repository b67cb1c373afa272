//! `upload-processor`: reads an uploaded text object from one bucket and
//! writes a derived object to another: the text in upper case, with a JSON
//! summary of its lines and words beside it; then publishes a `Document
//! Processed` event (source `docs.processed`) for the next step. Invoked
//! with `{"bucket": "uploads", "key": "notes/today.txt"}`, directly or by
//! an event rule on object-created events that shapes its input so (see
//! `examples/doc-indexer`).

use minicloud_sdk::events::Event;
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
    let event = Event::new("docs.processed", "Document Processed")
        .detail(&json!({ "bucket": out_bucket, "key": upload.key, "summary": summary }))
        .resource(&format!("{out_bucket}/{}", upload.key))
        .publish()?;
    minicloud_sdk::log::info(&format!(
        "processed {} ({} bytes); event {event}",
        upload.key,
        bytes.len()
    ));
    Ok(json!({ "written": [upper.key, format!("{}.summary.json", upload.key)], "summary": summary }))
}

minicloud_sdk::json_handler!(process);
