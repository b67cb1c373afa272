//! The router's start, and its reconcile: the stream's subjects and this
//! node's consumers brought in step with the rules in force.

use super::options::js_err;
use super::{ACK_WAIT, CONSUMER_PREFIX, MAX_AGE, NatsError, NatsRouter, consumer_name, minimal_subjects};
use crate::events::bus::Deliverer;
use async_nats::jetstream::{self, consumer::PullConsumer};
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

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
            deliverer,
            workers: Mutex::default(),
            reconciling: tokio::sync::Mutex::default(),
        });
        router.reconcile().await?;
        let watcher = router.clone();
        tokio::spawn(async move {
            loop {
                watcher.bus().rules_changed().await;
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
        let rules = self.bus().rules();
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
    async fn subjects_owned(&self, rule: &crate::events::rules::Rule) -> bool {
        let org = match self.bus().project(&rule.project_id).await {
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
            .find_map(|s| crate::events::rules::subject_in_org(s, &org).err());
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

    /// Stops reading (at shutdown): unacknowledged messages go back to the
    /// server for another node, or this one restarted.
    pub fn stop(&self) {
        for (_, task) in self.workers().drain() {
            task.abort();
        }
    }
}
