//! `doc-indexer`: the second step of the event pipeline. An event rule
//! hands it each `Document Processed` event that `upload-processor`
//! publishes; it records the document's word count in the key-value bucket
//! `index` and counts the documents. Deliveries come at least once: the
//! idempotency key makes a repeat harmless.

use minicloud_sdk::{events, kv};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Envelope {
    detail: Processed,
}

#[derive(Deserialize)]
struct Processed {
    key: String,
    summary: Summary,
}

#[derive(Deserialize)]
struct Summary {
    words: u64,
}

fn index(event: Envelope) -> Result<Value, minicloud_sdk::Error> {
    let store = kv::Store::open("index")?;
    if let Some(delivery) = events::current_delivery() {
        let seen = format!("seen/{}", delivery.idempotency_key);
        if store.exists(&seen)? {
            return Ok(json!({ "duplicate": true }));
        }
        store.set(&seen, b"1")?;
    }
    let doc = event.detail;
    store.set_json(&format!("words/{}", doc.key), &doc.summary.words)?;
    let documents = store.increment("documents", 1)?;
    Ok(json!({ "indexed": doc.key, "documents": documents }))
}

minicloud_sdk::json_handler!(index);
