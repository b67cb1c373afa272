//! Reading a consumer, and each message's delivery: acknowledged once its
//! target succeeded or it was stored as a dead letter, negatively
//! acknowledged with the rule's backoff when it failed.

use super::{ACK_WAIT, IN_FLIGHT_PER_CONSUMER, NatsRouter};
use crate::events::bus::idempotency_key;
use crate::events::envelope::Event;
use crate::events::rules::{Rule, subject_matches};
use crate::events::{RuleSet, TargetError};
use crate::store::events::DeliveryRow;
use async_nats::jetstream::{self, AckKind, consumer::PullConsumer};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

impl NatsRouter {
    /// Reads one consumer for as long as its rule wants it.
    pub(super) async fn read(self: Arc<Self>, consumer: PullConsumer, rule_id: String, target_id: String) {
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
        let rules: Arc<RuleSet> = self.bus().rules();
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
        let Ok(Some(project)) = self.bus().project(&rule.project_id).await else {
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
            self.bus().region(),
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
                let _slot = self.bus().slot(&row.project_id).await?;
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
        match self.bus().dead_letter_now(rule, row, error).await {
            Ok(()) => Some(AckKind::Ack),
            Err(e) => {
                tracing::error!(error = %e, "cannot store a dead letter; the message will be redelivered");
                None
            }
        }
    }
}
