//! The event envelope, in EventBridge's shape, and how events from each
//! kind of source become one.

use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Largest event, in bytes of its JSON envelope (EventBridge's limit).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// Where an event came from, which decides the rules that see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `POST .../events`, or a function's `events.publish`.
    Api,
    /// The platform itself, from the source named (`minicloud.storage`,
    /// `minicloud.functions`).
    Platform(String),
    /// A NATS subject.
    Subject(String),
}

/// An event: what rules match and targets receive.
#[derive(Debug, Clone)]
pub struct Event {
    /// Unique id (also the first part of idempotency keys).
    pub id: String,
    /// Who emitted it: `myapp.orders`, `minicloud.storage`, `nats`.
    pub source: String,
    /// What kind of event.
    pub detail_type: String,
    /// RFC 3339.
    pub time: String,
    /// The project it belongs to (EventBridge's account).
    pub project: String,
    /// The platform's region name.
    pub region: String,
    /// Resources it concerns.
    pub resources: Vec<String>,
    /// The body.
    pub detail: Value,
    /// For events from NATS: the subject and headers.
    pub nats: Option<NatsOrigin>,
}

/// What a NATS message brings beside its payload.
#[derive(Debug, Clone)]
pub struct NatsOrigin {
    /// The subject it was published on.
    pub subject: String,
    /// Its headers, each with all its values.
    pub headers: BTreeMap<String, Vec<String>>,
}

/// RFC 3339 of now, to the second as EventBridge writes it.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Event {
    /// The envelope as JSON: what patterns match and targets receive.
    pub fn to_value(&self) -> Value {
        let mut v = json!({
            "version": "0",
            "id": self.id,
            "detail-type": self.detail_type,
            "source": self.source,
            "account": self.project,
            "time": self.time,
            "region": self.region,
            "resources": self.resources,
            "detail": self.detail,
        });
        if let (Some(nats), Some(obj)) = (&self.nats, v.as_object_mut()) {
            obj.insert(
                "nats".into(),
                json!({ "subject": nats.subject, "headers": nats.headers }),
            );
        }
        v
    }

    /// An event from a NATS message: a JSON object payload becomes the
    /// detail; anything else is carried base64-encoded with its content
    /// type (the `Content-Type` header, or `application/octet-stream`).
    pub fn from_nats(
        id: String,
        project: &str,
        region: &str,
        subject: &str,
        headers: BTreeMap<String, Vec<String>>,
        payload: &[u8],
    ) -> Self {
        let detail = match serde_json::from_slice::<Value>(payload) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                let content_type = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                    .and_then(|(_, v)| v.first().cloned())
                    .unwrap_or_else(|| "application/octet-stream".into());
                json!({
                    "content-type": content_type,
                    "data-base64": base64::engine::general_purpose::STANDARD.encode(payload),
                })
            }
        };
        let detail_type = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("minicloud-detail-type"))
            .and_then(|(_, v)| v.first().cloned())
            .unwrap_or_else(|| "NATS Message".into());
        Self {
            id,
            source: "nats".into(),
            detail_type,
            time: now_rfc3339(),
            project: project.into(),
            region: region.into(),
            resources: Vec::new(),
            detail,
            nats: Some(NatsOrigin {
                subject: subject.into(),
                headers,
            }),
        }
    }
}

/// One entry of `PutEvents`, as the API and functions send it.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EventEntry)]
pub struct Entry {
    /// Who emits it, such as `myapp.orders`: 1 to 256 characters, no
    /// control characters; `minicloud.` sources are the platform's own.
    pub source: String,
    /// What kind of event: 1 to 128 characters, no control characters
    /// (`detail_type` is accepted too).
    #[serde(rename = "detail-type", alias = "detail_type")]
    pub detail_type: String,
    /// The body: a JSON object, or text holding one; default `{}`.
    #[serde(default)]
    pub detail: Option<Value>,
    /// Resources it concerns: at most 100, each 1 to 2048 characters;
    /// default none.
    #[serde(default)]
    pub resources: Vec<String>,
    /// When it happened, RFC 3339; default now.
    #[serde(default)]
    pub time: Option<String>,
}

/// Why an entry was refused, for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct EntryError {
    /// Stable code.
    pub code: &'static str,
    /// What to fix.
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> EntryError {
    EntryError {
        code,
        message: message.into(),
    }
}

impl Entry {
    /// The event this entry describes, checked.
    pub fn into_event(self, id: String, project: &str, region: &str) -> Result<Event, EntryError> {
        let source = self.source.trim();
        if source.is_empty() || source.len() > 256 {
            return Err(refuse("invalid_source", "source must be 1 to 256 characters"));
        }
        if source.chars().any(char::is_control) {
            return Err(refuse(
                "invalid_source",
                "source must not hold control characters",
            ));
        }
        if source.starts_with("minicloud.") {
            return Err(refuse(
                "reserved_source",
                format!("source {source:?}: sources starting with \"minicloud.\" are the platform's own"),
            ));
        }
        if self.detail_type.is_empty() || self.detail_type.len() > 128 {
            return Err(refuse(
                "invalid_detail_type",
                "detail-type must be 1 to 128 characters",
            ));
        }
        if self.detail_type.chars().any(char::is_control) {
            return Err(refuse(
                "invalid_detail_type",
                "detail-type must not hold control characters",
            ));
        }
        if self.resources.len() > 100 || self.resources.iter().any(|r| r.is_empty() || r.len() > 2048) {
            return Err(refuse(
                "invalid_resources",
                "resources: at most 100, each 1 to 2048 characters",
            ));
        }
        let detail = match self.detail {
            None => Value::Object(Map::new()),
            Some(Value::String(text)) => serde_json::from_str(&text)
                .map_err(|e| refuse("invalid_detail", format!("detail is not JSON: {e}")))?,
            Some(v) => v,
        };
        if !detail.is_object() {
            return Err(refuse("invalid_detail", "detail must be a JSON object"));
        }
        let time = match self.time {
            None => now_rfc3339(),
            Some(t) => {
                chrono::DateTime::parse_from_rfc3339(&t)
                    .map_err(|e| refuse("invalid_time", format!("time {t:?} is not RFC 3339: {e}")))?;
                t
            }
        };
        let event = Event {
            id,
            source: source.to_owned(),
            detail_type: self.detail_type,
            time,
            project: project.into(),
            region: region.into(),
            resources: self.resources,
            detail,
            nats: None,
        };
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_payloads_become_detail_and_others_are_base64() {
        let e = Event::from_nats("1".into(), "p", "local", "a.b", BTreeMap::new(), br#"{"x":1}"#);
        assert_eq!(e.detail, json!({"x": 1}));
        let v = e.to_value();
        assert_eq!(v["nats"]["subject"], "a.b");
        assert_eq!(v["detail-type"], "NATS Message");
        let mut headers = BTreeMap::new();
        headers.insert("Content-Type".to_owned(), vec!["text/plain".to_owned()]);
        let e = Event::from_nats("2".into(), "p", "local", "a.b", headers, b"hi");
        assert_eq!(
            e.detail,
            json!({"content-type": "text/plain", "data-base64": "aGk="})
        );
        let e = Event::from_nats("3".into(), "p", "local", "a.b", BTreeMap::new(), b"[1]");
        assert_eq!(e.detail["content-type"], "application/octet-stream");
    }

    #[test]
    fn entries_are_checked() {
        let entry = |v: Value| serde_json::from_value::<Entry>(v).expect("entry shape");
        let ok = entry(json!({"source": "shop", "detail-type": "Order", "detail": "{\"n\": 1}"}))
            .into_event("id".into(), "p", "local")
            .expect("valid");
        assert_eq!(ok.to_value()["detail"]["n"], 1);
        let code = |v: Value| {
            entry(v)
                .into_event("id".into(), "p", "local")
                .map(|_| "ok")
                .unwrap_or_else(|e| e.code)
        };
        assert_eq!(
            code(json!({"source": "minicloud.storage", "detail-type": "x"})),
            "reserved_source"
        );
        assert_eq!(code(json!({"source": "", "detail-type": "x"})), "invalid_source");
        assert_eq!(
            code(json!({"source": "a\u{0}b", "detail-type": "x"})),
            "invalid_source"
        );
        assert_eq!(
            code(json!({"source": "a", "detail-type": "x\ny"})),
            "invalid_detail_type"
        );
        assert_eq!(
            code(json!({"source": "a", "detail-type": ""})),
            "invalid_detail_type"
        );
        assert_eq!(
            code(json!({"source": "a", "detail-type": "x", "detail": [1]})),
            "invalid_detail"
        );
        assert_eq!(
            code(json!({"source": "a", "detail-type": "x", "time": "noon"})),
            "invalid_time"
        );
    }
}
