//! NATS subjects as event sources, through JetStream.
//!
//! One stream (`MINICLOUD_EVENTS` unless `--nats-stream` names another)
//! captures every subject that enabled rules
//! listen on, so a message published by any plain NATS client is kept even
//! while no MiniCloud node runs. Each (rule, target) has a durable pull
//! consumer that every node reads from, so each message is handled by one
//! node in the normal case. A message is acknowledged only after its target
//! succeeded or it was stored as a dead letter; failures are negatively
//! acknowledged with the rule's backoff, so a poison message waits its turn
//! without blocking the others.
//!
//! nats-server 2.9 takes one filter subject per consumer: a rule with one
//! subject filters on the server, a rule with several reads the whole
//! stream and skips what its subjects do not match.

use super::bus::{Deliverer, EventBus, idempotency_key};
use super::envelope::Event;
use super::rules::{Rule, subject_matches};
use super::{RuleSet, TargetError};
use crate::store::events::DeliveryRow;
use async_nats::jetstream::{self, AckKind, consumer::PullConsumer};
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Consumers this platform made start with this.
const CONSUMER_PREFIX: &str = "mc_";
/// How long the server waits for an acknowledgement before it redelivers
/// (a slow handler reports progress well before).
const ACK_WAIT: Duration = Duration::from_secs(30);
/// Messages handled at once per consumer on this node.
const IN_FLIGHT_PER_CONSUMER: usize = 256;
/// How long messages wait in the stream for their consumers at most.
const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// How to reach NATS.
#[derive(Debug, Clone, Default)]
pub struct NatsOptions {
    /// `nats://[user:password@]host:port`, or several, comma-separated.
    pub url: String,
    /// The stream that captures the rules' subjects.
    pub stream: String,
    /// A `.creds` file (JWT and NKey seed).
    pub creds: Option<PathBuf>,
    /// CA certificates to trust (PEM); implies TLS.
    pub tls_ca: Option<PathBuf>,
    /// A client certificate and its key (PEM), for mutual TLS.
    pub tls_cert: Option<(PathBuf, PathBuf)>,
}

/// NATS could not be used.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The connection failed.
    #[error(
        "cannot connect to NATS at {url}: {message}; start nats-server with JetStream (-js) or leave --nats-url out"
    )]
    Connect {
        /// Where.
        url: String,
        /// What the client said.
        message: String,
    },
    /// JetStream refused a stream or consumer change.
    #[error("JetStream refused {what}: {message}")]
    JetStream {
        /// What was being done.
        what: String,
        /// What the server said.
        message: String,
    },
}

fn js_err(what: impl Into<String>) -> impl FnOnce(String) -> NatsError {
    let what = what.into();
    move |message| NatsError::JetStream { what, message }
}

/// Connects with the options.
pub async fn connect(o: &NatsOptions) -> Result<async_nats::Client, NatsError> {
    let failed = |message: String| NatsError::Connect {
        url: crate::util::redact_url(&o.url),
        message: crate::util::scrub_password(&message, &o.url),
    };
    let mut options = async_nats::ConnectOptions::new()
        .name("minicloud")
        .connection_timeout(Duration::from_secs(5));
    if let Some(creds) = &o.creds {
        options = options
            .credentials_file(creds)
            .await
            .map_err(|e| failed(e.to_string()))?;
    }
    if let Some(ca) = &o.tls_ca {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let Some((cert, key)) = &o.tls_cert {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    options
        .connect(o.url.as_str())
        .await
        .map_err(|e| failed(e.to_string()))
}

/// The consumer name of a rule's target: `mc_<rule id>_<target id>`, with
/// characters NATS does not allow in names replaced.
pub fn consumer_name(rule_id: &str, target_id: &str) -> String {
    let clean: String = target_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{CONSUMER_PREFIX}{rule_id}_{clean}")
}

/// The subjects of `filters` that no other covers (a stream refuses
/// overlapping subjects).
pub fn minimal_subjects<'a>(filters: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let all: BTreeSet<&str> = filters.into_iter().collect();
    all.iter()
        .filter(|f| !all.iter().any(|g| g != *f && covers(g, f)))
        .map(|f| (*f).to_owned())
        .collect()
}

/// Whether every subject `b` matches, `a` matches too.
fn covers(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for (i, ta) in a.iter().enumerate() {
        match (*ta, b.get(i)) {
            (">", Some(_)) => return true,
            (_, None) | (_, Some(&">")) => return false,
            ("*", Some(_)) => {}
            (x, Some(y)) if x == *y => {}
            _ => return false,
        }
    }
    a.len() == b.len()
}

/// The NATS side of the event router on this node.
pub struct NatsRouter {
    stream: String,
    client: async_nats::Client,
    js: jetstream::Context,
    bus: EventBus,
    deliverer: Deliverer,
    workers: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    /// One reconcile at a time (the API and the rules watcher both start
    /// them): two at once would both start a reader for a new consumer.
    reconciling: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for NatsRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsRouter").finish_non_exhaustive()
    }
}

impl NatsRouter {
    /// Starts reading the rules' consumers over `client`, delivering
    /// their messages through `deliverer`, and keeps the stream and
    /// consumers in step with the rules.
    pub async fn start(
        client: async_nats::Client,
        stream: String,
        deliverer: Deliverer,
    ) -> Result<Arc<Self>, NatsError> {
        let router = Arc::new(Self {
            stream,
            js: jetstream::new(client.clone()),
            client,
            bus: deliverer.bus().clone(),
            deliverer,
            workers: Mutex::default(),
            reconciling: tokio::sync::Mutex::default(),
        });
        router.reconcile().await?;
        let watcher = router.clone();
        tokio::spawn(async move {
            loop {
                watcher.bus.rules_changed().await;
                if let Err(e) = watcher.reconcile().await {
                    tracing::warn!(error = %e, "cannot bring NATS consumers in step with the rules");
                }
            }
        });
        Ok(router)
    }

    /// The client, for publishing.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Brings the stream's subjects and this node's consumers in step with
    /// the rules in force.
    pub async fn reconcile(self: &Arc<Self>) -> Result<(), NatsError> {
        let _one = self.reconciling.lock().await;
        let rules = self.bus.rules();
        // Rules listening outside their org's subjects (stored before
        // subjects had owners) are not listened on.
        let mut listening = Vec::new();
        for rule in rules
            .all()
            .filter(|r| r.enabled && !r.sources.subjects.is_empty())
        {
            if self.subjects_owned(rule).await {
                listening.push(rule);
            }
        }
        let mut wanted: BTreeMap<String, (String, String)> = BTreeMap::new();
        for rule in &listening {
            for t in &rule.targets {
                wanted.insert(consumer_name(&rule.id, &t.id), (rule.id.clone(), t.id.clone()));
            }
        }
        let subjects = minimal_subjects(
            listening
                .iter()
                .flat_map(|r| r.sources.subjects.iter().map(String::as_str)),
        );
        let stream = if subjects.is_empty() {
            // Nothing listens on NATS: make no stream (an existing one keeps
            // its subjects; its consumers go below).
            self.js.get_stream(&self.stream).await.ok()
        } else {
            Some(self.ensure_stream(&subjects).await?)
        };
        let Some(stream) = stream else { return Ok(()) };
        // Consumers no rule wants any more: stop reading, and delete them.
        let running: Vec<String> = self.workers().keys().cloned().collect();
        for name in running.iter().filter(|n| !wanted.contains_key(*n)) {
            if let Some(task) = self.workers().remove(name) {
                task.abort();
            }
        }
        let mut names = stream.consumer_names();
        let mut existing = BTreeSet::new();
        while let Some(name) = names.next().await {
            match name {
                Ok(n) => {
                    existing.insert(n);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list the stream's consumers");
                    break;
                }
            }
        }
        for name in existing
            .iter()
            .filter(|n| n.starts_with(CONSUMER_PREFIX) && !wanted.contains_key(*n))
        {
            if let Err(e) = stream.delete_consumer(name).await {
                tracing::debug!(error = %e, consumer = %name, "consumer already gone");
            }
        }
        for (name, (rule_id, target_id)) in wanted {
            if self.workers().contains_key(&name) {
                continue;
            }
            let Some(rule) = rules.rule(&rule_id) else {
                continue;
            };
            let filter = match rule.sources.subjects.as_slice() {
                [one] => one.clone(),
                _ => String::new(),
            };
            let config = jetstream::consumer::pull::Config {
                durable_name: Some(name.clone()),
                description: Some(format!("MiniCloud rule {} target {target_id}", rule.name)),
                filter_subject: filter,
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                // New rules see messages from their creation on.
                deliver_policy: jetstream::consumer::DeliverPolicy::New,
                max_ack_pending: 10_000,
                ..Default::default()
            };
            let consumer: PullConsumer = stream
                .get_or_create_consumer(&name, config)
                .await
                .map_err(|e| e.to_string())
                .map_err(js_err(format!("consumer {name}")))?;
            let task = tokio::spawn(self.clone().read(consumer, rule_id, target_id));
            self.workers().insert(name, task);
        }
        Ok(())
    }

    /// Whether every subject `rule` listens on is its org's.
    async fn subjects_owned(&self, rule: &super::rules::Rule) -> bool {
        let org = match self.bus.project(&rule.project_id).await {
            Ok(Some(p)) => p.org_name,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(error = %e, rule = %rule.name, "cannot read a rule's project; not listening for it now");
                return false;
            }
        };
        let outside = rule
            .sources
            .subjects
            .iter()
            .find_map(|s| super::rules::subject_in_org(s, &org).err());
        if let Some(why) = &outside {
            tracing::warn!(rule = %rule.name, %why, "not listening for a rule outside its org's subjects; change its subjects");
        }
        outside.is_none()
    }

    fn workers(&self) -> std::sync::MutexGuard<'_, HashMap<String, tokio::task::JoinHandle<()>>> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stream, created or with its subjects set to `subjects`
    /// (sorted, as [`minimal_subjects`] returns them).
    async fn ensure_stream(&self, subjects: &[String]) -> Result<jetstream::stream::Stream, NatsError> {
        let config = jetstream::stream::Config {
            name: self.stream.clone(),
            description: Some("MiniCloud: the subjects event rules listen on".into()),
            subjects: subjects.to_vec(),
            retention: jetstream::stream::RetentionPolicy::Interest,
            storage: jetstream::stream::StorageType::File,
            max_age: MAX_AGE,
            ..Default::default()
        };
        let stream = self
            .js
            .get_or_create_stream(config.clone())
            .await
            .map_err(|e| e.to_string())
            .map_err(js_err(format!("stream {}", self.stream)))?;
        let mut current = stream.cached_info().config.subjects.clone();
        current.sort();
        if current != subjects {
            self.js
                .update_stream(config)
                .await
                .map_err(|e| e.to_string())
                .map_err(js_err(format!("the subjects of stream {}", self.stream)))?;
        }
        Ok(stream)
    }

    /// Reads one consumer for as long as its rule wants it.
    async fn read(self: Arc<Self>, consumer: PullConsumer, rule_id: String, target_id: String) {
        let slots = Arc::new(Semaphore::new(IN_FLIGHT_PER_CONSUMER));
        loop {
            let mut messages = match consumer.messages().await {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, rule = %rule_id, "cannot read a NATS consumer; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            while let Some(next) = messages.next().await {
                let message = match next {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, rule = %rule_id, "NATS consumer stream failed; reopening");
                        break;
                    }
                };
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let router = self.clone();
                let (rule_id, target_id) = (rule_id.clone(), target_id.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    router.handle(message, &rule_id, &target_id).await;
                });
            }
        }
    }

    async fn handle(&self, message: jetstream::Message, rule_id: &str, target_id: &str) {
        let rules: Arc<RuleSet> = self.bus.rules();
        let Some(rule) = rules.rule(rule_id) else { return };
        let Some(target) = rule.target(target_id) else {
            return;
        };
        let subject = message.subject.to_string();
        let ack = |kind: AckKind| {
            let m = &message;
            async move {
                if let Err(e) = m.ack_with(kind).await {
                    tracing::warn!(error = %e, "cannot acknowledge a NATS message");
                }
            }
        };
        if !rule.sources.subjects.iter().any(|f| subject_matches(f, &subject)) {
            ack(AckKind::Ack).await;
            return;
        }
        let Ok(info) = message.info() else {
            tracing::warn!(%subject, "a NATS message without JetStream metadata");
            return;
        };
        let (sequence, delivered, published) = (info.stream_sequence, info.delivered, info.published);
        // Left unacknowledged when the project cannot be read: the server
        // delivers it again.
        let Ok(Some(project)) = self.bus.project(&rule.project_id).await else {
            return;
        };
        let headers: BTreeMap<String, Vec<String>> = message
            .headers
            .iter()
            .flat_map(|h| h.iter())
            .map(|(k, v)| (k.to_string(), v.iter().map(ToString::to_string).collect()))
            .collect();
        let event_id = format!("nats-{sequence}");
        let event = Event::from_nats(
            event_id.clone(),
            &project.name,
            self.bus.region(),
            &subject,
            headers,
            &message.payload,
        );
        let value = event.to_value();
        if delivered == 1 {
            metrics::counter!("minicloud_events_received_total", "project" => project.name.clone(), "origin" => "nats")
                .increment(1);
        }
        if !rule.matches(&value) {
            ack(AckKind::Ack).await;
            return;
        }
        if delivered == 1 {
            metrics::counter!("minicloud_events_matched_total", "project" => project.name.clone(), "rule" => rule.name.clone())
                .increment(1);
        }
        let accepted_ms = published.timestamp_millis();
        let row = DeliveryRow {
            id: idempotency_key(&event_id, &rule.id, &target.id),
            project_id: project.id.clone(),
            rule_id: rule.id.clone(),
            target_id: target.id.clone(),
            event_id,
            event_json: value.to_string(),
            attempts: delivered - 1,
            accepted_ms,
            due_ms: 0,
            last_error: String::new(),
            // A NATS message starts a chain, like an API event.
            hops: 0,
        };
        let kind = self.deliver(rule, row, &message).await;
        if let Some(kind) = kind {
            ack(kind).await;
        }
    }

    /// Runs one attempt; what to answer the server, or nothing when the
    /// message must be left to redelivery (the dead letter could not be
    /// stored).
    async fn deliver(
        &self,
        rule: &Rule,
        mut row: DeliveryRow,
        message: &jetstream::Message,
    ) -> Option<AckKind> {
        let max_age_ms = (rule.retry.max_age_secs * 1000) as i64;
        if crate::util::now_ms() - row.accepted_ms > max_age_ms {
            let error = format!(
                "the event is older than the rule's maximum age of {} s",
                rule.retry.max_age_secs
            );
            return self.dead(rule, row, error).await;
        }
        let target = rule.target(&row.target_id)?;
        let result = {
            // The project's delivery slots bound NATS attempts as they bound
            // the bus's own: a project's backlog on many rules cannot take
            // the node.
            let attempt = async {
                let _slot = self.bus.slot(&row.project_id).await?;
                Some(self.deliverer.attempt(rule, target, &row).await)
            };
            let mut attempt = std::pin::pin!(attempt);
            // A slow handler (or one waiting for a slot) keeps its message:
            // progress resets the ack wait.
            loop {
                tokio::select! {
                    r = &mut attempt => break r,
                    () = tokio::time::sleep(ACK_WAIT / 3) => {
                        let _ = message.ack_with(AckKind::Progress).await;
                    }
                }
            }
        };
        // The bus is closing: the server delivers the message again.
        let result = result?;
        match result {
            Ok(()) => {
                metrics::counter!("minicloud_events_delivered_total", "rule" => rule.name.clone())
                    .increment(1);
                metrics::histogram!("minicloud_event_delivery_seconds")
                    .record((crate::util::now_ms() - row.accepted_ms).max(0) as f64 / 1e3);
                Some(AckKind::Ack)
            }
            Err(TargetError::Throttled(after)) => Some(AckKind::Nak(Some(after))),
            Err(TargetError::Failed(error)) => {
                row.attempts += 1;
                if row.attempts >= i64::from(rule.retry.max_attempts) {
                    return self.dead(rule, row, error).await;
                }
                metrics::counter!("minicloud_events_retried_total", "rule" => rule.name.clone()).increment(1);
                Some(AckKind::Nak(Some(rule.retry.backoff(row.attempts as u32))))
            }
        }
    }

    async fn dead(&self, rule: &Rule, row: DeliveryRow, error: String) -> Option<AckKind> {
        match self.bus.dead_letter_now(rule, row, error).await {
            Ok(()) => Some(AckKind::Ack),
            Err(e) => {
                tracing::error!(error = %e, "cannot store a dead letter; the message will be redelivered");
                None
            }
        }
    }

    /// Stops reading (at shutdown): unacknowledged messages go back to the
    /// server for another node, or this one restarted.
    pub fn stop(&self) {
        for (_, task) in self.workers().drain() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_subjects_are_reduced() {
        assert_eq!(
            minimal_subjects(["orders.*", "orders.eu", "orders.>", "invoices.new", "orders.eu.x"]),
            vec!["invoices.new".to_owned(), "orders.>".to_owned()]
        );
        assert_eq!(
            minimal_subjects(["a.*.c", "a.b.c", "a.b.*"]),
            vec!["a.*.c".to_owned(), "a.b.*".to_owned()]
        );
        assert!(covers("a.*", "a.*"));
        assert!(!covers("a.*", "a.>"));
        assert!(covers("a.>", "a.*.c"));
        assert!(!covers("a.b", "a.*"));
    }

    #[test]
    fn consumer_names_are_safe() {
        assert_eq!(consumer_name("r1", "thumb.v2"), "mc_r1_thumb_v2");
    }
}
