//! Exercises every platform capability through the SDK, one operation per
//! call: `{"op": "...", ...}` in, the result (or `{"error": {"kind",
//! "message"}}`) out. See README.md beside the crate for the contract.

use minicloud_sdk::__serde_json::{Value, json};
use minicloud_sdk::storage::Bucket;
use minicloud_sdk::wasi::http::outgoing_handler;
use minicloud_sdk::wasi::http::types::{Fields, OutgoingRequest, Scheme};
use minicloud_sdk::{Error, config, identity, kv, log, secrets};

fn s<'a>(input: &'a Value, key: &str) -> &'a str {
    input[key].as_str().unwrap_or_default()
}

fn run(input: &Value) -> Result<Value, Error> {
    Ok(match s(input, "op") {
        "kv-set" => {
            kv::Store::open(s(input, "bucket"))?.set(s(input, "key"), s(input, "value").as_bytes())?;
            json!({ "ok": true })
        }
        "kv-get" => {
            let v = kv::Store::open(s(input, "bucket"))?.get(s(input, "key"))?;
            json!({ "value": v.map(|b| String::from_utf8_lossy(&b).into_owned()) })
        }
        "kv-delete" => {
            kv::Store::open(s(input, "bucket"))?.delete(s(input, "key"))?;
            json!({ "ok": true })
        }
        "kv-incr" => {
            let n = kv::Store::open(s(input, "bucket"))?
                .increment(s(input, "key"), input["delta"].as_i64().unwrap_or(1))?;
            json!({ "value": n })
        }
        "kv-append" => {
            // Compare-and-swap: appends to the value.
            let suffix = s(input, "value").to_owned();
            let v = kv::Store::open(s(input, "bucket"))?.update(s(input, "key"), |cur| {
                let mut next = cur.unwrap_or_default().to_vec();
                next.extend_from_slice(suffix.as_bytes());
                next
            })?;
            json!({ "value": String::from_utf8_lossy(&v) })
        }
        "kv-keys" => json!({ "keys": kv::Store::open(s(input, "bucket"))?.keys()? }),
        "kv-loop" => {
            // Calls until the platform refuses: proves the host-call cap.
            let store = kv::Store::open(s(input, "bucket"))?;
            let n = input["n"].as_u64().unwrap_or(10);
            for i in 0..n {
                if let Err(e) = store.get("k") {
                    return Ok(
                        json!({ "calls": i, "error": { "kind": e.kind(), "message": e.to_string() } }),
                    );
                }
            }
            json!({ "calls": n })
        }
        "kv-bench" => {
            // n gets in one invocation, for the host-call benchmark.
            let store = kv::Store::open(s(input, "bucket"))?;
            let mut found = 0;
            for _ in 0..input["n"].as_u64().unwrap_or(0) {
                found += usize::from(store.get(s(input, "key"))?.is_some());
            }
            json!({ "found": found })
        }
        "get-bench" => {
            let bucket = Bucket::open(s(input, "bucket"))?;
            let mut bytes = 0;
            for _ in 0..input["n"].as_u64().unwrap_or(0) {
                bytes += bucket.get(s(input, "key"))?.len();
            }
            json!({ "bytes": bytes })
        }
        "put" => {
            let bucket = Bucket::open(s(input, "bucket"))?;
            let size = input["repeat"].as_u64().unwrap_or(1) as usize;
            let body = s(input, "body").repeat(size);
            let content_type = input["content_type"].as_str();
            let meta = bucket.put_with(
                s(input, "key"),
                body.as_bytes(),
                content_type,
                &[("source", "caps")],
            )?;
            json!({ "key": meta.key, "size": meta.size, "etag": meta.etag, "content_type": meta.content_type })
        }
        "get" => {
            let bytes = Bucket::open(s(input, "bucket"))?.get(s(input, "key"))?;
            json!({ "size": bytes.len(), "body": String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]) })
        }
        "head" => {
            let m = Bucket::open(s(input, "bucket"))?.head(s(input, "key"))?;
            json!({ "size": m.size, "etag": m.etag, "metadata": m.metadata })
        }
        "delete" => {
            Bucket::open(s(input, "bucket"))?.delete(s(input, "key"))?;
            json!({ "ok": true })
        }
        "list" => {
            let page = Bucket::open(s(input, "bucket"))?.list(
                s(input, "prefix"),
                input["delimiter"].as_str(),
                None,
            )?;
            let keys: Vec<String> = page.objects.into_iter().map(|o| o.key).collect();
            json!({ "keys": keys, "prefixes": page.common_prefixes })
        }
        "secret" => json!({ "value": secrets::get(s(input, "name"))? }),
        "config" => json!({ "value": config::get(s(input, "key")), "all": config::all() }),
        "log" => {
            log::info(s(input, "message"));
            log::warn("a warning");
            json!({ "ok": true })
        }
        "whoami" => {
            let c = identity::caller();
            let kind = match c.kind {
                identity::PrincipalKind::User => "user",
                identity::PrincipalKind::ApiKey => "api-key",
                identity::PrincipalKind::Anonymous => "anonymous",
            };
            json!({ "kind": kind, "id": c.id, "name": c.name, "org": c.org, "mrn": c.mrn })
        }
        "authorize" => json!({ "allowed": identity::authorize(s(input, "action"), s(input, "resource"))? }),
        "fetch" => fetch(s(input, "authority"), s(input, "path")),
        other => return Err(Error::Invalid(format!("unknown op {other:?}"))),
    })
}

/// A plain-HTTP GET through `wasi:http/outgoing-handler`.
fn fetch(authority: &str, path: &str) -> Value {
    let req = OutgoingRequest::new(Fields::new());
    let _ = req.set_scheme(Some(&Scheme::Http));
    let _ = req.set_authority(Some(authority));
    let _ = req.set_path_with_query(Some(path));
    match outgoing_handler::handle(req, None) {
        Err(code) => json!({ "error": { "kind": "http", "message": format!("{code:?}") } }),
        Ok(future) => {
            future.subscribe().block();
            match future.get() {
                Some(Ok(Ok(resp))) => json!({ "status": resp.status() }),
                Some(Ok(Err(code))) => json!({ "error": { "kind": "http", "message": format!("{code:?}") } }),
                _ => json!({ "error": { "kind": "http", "message": "no response" } }),
            }
        }
    }
}

fn handle(input: Value) -> Result<Value, String> {
    Ok(match run(&input) {
        Ok(v) => v,
        Err(e) => json!({ "error": { "kind": e.kind(), "message": e.to_string() } }),
    })
}

minicloud_sdk::json_handler!(handle);
