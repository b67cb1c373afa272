//! Dead letters: deliveries out of attempts or age, stored in the
//! project's dead letters, counted, logged, and published to their rule's
//! dead-letter subject if it has one.

use super::{EventBus, Write};
use crate::events::rules::Rule;
use crate::store::StoreError;
use crate::store::events::{Batch, DeliveryRow};

impl EventBus {
    /// Stores a dead letter now (for deliveries not on the table, such as
    /// NATS messages, which are acknowledged only once it is stored).
    pub async fn dead_letter_now(
        &self,
        rule: &Rule,
        row: DeliveryRow,
        error: String,
    ) -> Result<(), StoreError> {
        self.count_dead(rule, &row, &error);
        let batch = Batch {
            dead: vec![(row, rule.name.clone(), error)],
            ..Batch::default()
        };
        self.inner
            .store
            .apply_deliveries(&batch, &self.inner.node, self.lease_until())
            .await
    }

    /// Counts and logs a dead letter, and publishes it to the rule's
    /// dead-letter subject if it has one.
    fn count_dead(&self, rule: &Rule, row: &DeliveryRow, error: &str) {
        metrics::counter!("minicloud_events_dead_lettered_total", "rule" => rule.name.clone()).increment(1);
        tracing::warn!(rule = %rule.name, event = %row.event_id, attempts = row.attempts, %error, "delivery dead-lettered");
        let org = self
            .inner
            .projects
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&rule.project_id)
            .map(|p| p.org_name.clone());
        let owned = |subject: &str| {
            org.as_deref()
                .is_some_and(|org| crate::events::rules::subject_in_org(subject, org).is_ok())
        };
        if let Some(subject) = rule.dead_letter.subject.as_deref().filter(|s| !owned(s)) {
            tracing::warn!(rule = %rule.name, subject, "dead letter not published: the subject is outside the rule's org");
        } else if let (Some(subject), Some(client)) = (&rule.dead_letter.subject, &self.inner.nats) {
            let letter = serde_json::json!({
                "rule": rule.name,
                "target": row.target_id,
                "idempotency_key": row.id,
                "attempts": row.attempts,
                "error": error,
                "event": serde_json::from_str::<serde_json::Value>(&row.event_json).unwrap_or_default(),
            });
            let (client, subject) = (client.clone(), subject.clone());
            tokio::spawn(async move {
                if let Err(e) = client.publish(subject, letter.to_string().into()).await {
                    tracing::warn!(error = %e, "cannot publish a dead letter to its subject");
                }
            });
        }
    }

    pub(super) fn dead(&self, rule: &Rule, row: DeliveryRow, error: String) {
        self.count_dead(rule, &row, &error);
        self.write(Write::Dead(row, rule.name.clone(), error));
    }
}
