//! The pump from the outbox onto the bus: platform events that were
//! written with the change they announce (objects stored and removed,
//! invocations failed) or on their own (loops stopped) are
//! claimed by one node with a lease, published under the ids they were
//! written with, and removed. A pump that dies between publishing and
//! removing leaves rows that the next claim publishes again, which stores
//! nothing new: delivery rows are keyed by the event's id.

use super::EventBus;
use crate::events::envelope::Origin;
use crate::events::platform::PlatformEvent;
use crate::store::outbox::OutboxRow;
use crate::util::now_ms;
use std::collections::HashMap;
use std::time::Duration;

/// How long a claim holds rows before another node may take them.
const CLAIM: Duration = Duration::from_secs(30);
/// How often the pump looks without being woken (rows of other nodes, of
/// a previous life, or left by a failure).
const POLL: Duration = Duration::from_secs(1);
/// Rows per claim.
const BATCH: i64 = 256;

impl EventBus {
    /// Moves the outbox onto the bus for as long as the bus is open; the
    /// bus's outbox signal wakes it after a write.
    pub(super) fn forward_outbox(&self) {
        let signal = self.inner.outbox.clone();
        let bus = self.clone();
        tokio::spawn(async move {
            let owner = format!("{}/outbox", bus.node());
            bus.inner.store.until_started().await;
            while !bus.closing() {
                while !bus.closing() && bus.pump_once(&owner).await {}
                signal.wait(POLL).await;
            }
        });
    }

    /// Claims and publishes one batch; whether there may be more.
    async fn pump_once(&self, owner: &str) -> bool {
        let now = now_ms();
        let until = now + CLAIM.as_millis() as i64;
        let rows = match self.inner.store.claim_outbox(owner, now, until, BATCH).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim the event outbox; retrying");
                return false;
            }
        };
        let full = rows.len() as i64 == BATCH;
        let mut groups: HashMap<(String, i64), Vec<OutboxRow>> = HashMap::new();
        for row in rows {
            groups
                .entry((row.project_id.clone(), row.hops))
                .or_default()
                .push(row);
        }
        for ((project_id, hops), rows) in groups {
            if let Err(e) = self.publish_outbox(&project_id, hops, &rows).await {
                // Left claimed: the next claim after the lease retries them.
                tracing::warn!(error = %e, project_id, "cannot move outbox events onto the bus; retrying");
            }
        }
        full
    }

    async fn publish_outbox(&self, project_id: &str, hops: i64, rows: &[OutboxRow]) -> Result<(), String> {
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let Some(project) = self.project(project_id).await.map_err(|e| e.to_string())? else {
            // The project is gone, and so are its rules.
            return self
                .inner
                .store
                .remove_outbox(&ids)
                .await
                .map_err(|e| e.to_string());
        };
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let e: PlatformEvent = match serde_json::from_str(&row.event_json) {
                Ok(e) => e,
                Err(err) => {
                    tracing::error!(error = %err, id = %row.id, "an outbox row is not an event; dropped");
                    continue;
                }
            };
            metrics::counter!("minicloud_platform_events_total",
                "source" => e.source.clone(), "detail_type" => e.detail_type.clone())
            .increment(1);
            let time = chrono::DateTime::from_timestamp_millis(row.created_ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_else(crate::events::envelope::now_rfc3339);
            let source = e.source.clone();
            events.push((
                Origin::Platform(source),
                self.platform_event(&project, e, row.id.clone(), time),
            ));
        }
        let hops = u32::try_from(hops).unwrap_or(u32::MAX);
        self.publish_with_hops(&project, events, hops)
            .await
            .map_err(|e| e.to_string())?;
        self.inner
            .store
            .remove_outbox(&ids)
            .await
            .map_err(|e| e.to_string())
    }
}
