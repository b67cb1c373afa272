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
//!
//! - `options`: how to reach NATS ([`NatsOptions`]), [`connect`], and
//!   [`NatsError`].
//! - `names`: each rule target's consumer name, and the stream's subjects
//!   (those no other covers).
//! - `router`: the router's start, and its reconcile of the stream and
//!   this node's consumers with the rules.
//! - `reader`: reading each consumer, and each message's delivery and
//!   acknowledgement.

use super::bus::{Deliverer, EventBus};
use async_nats::jetstream;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

mod names;
mod options;
mod reader;
mod router;

pub use names::{consumer_name, minimal_subjects};
pub use options::{NatsError, NatsOptions, connect};

/// Consumers this platform made start with this.
const CONSUMER_PREFIX: &str = "mc_";
/// How long the server waits for an acknowledgement before it redelivers
/// (a slow handler reports progress well before).
const ACK_WAIT: Duration = Duration::from_secs(30);
/// Messages handled at once per consumer on this node.
const IN_FLIGHT_PER_CONSUMER: usize = 256;
/// How long messages wait in the stream for their consumers at most.
const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The NATS side of the event router on this node.
pub struct NatsRouter {
    stream: String,
    client: async_nats::Client,
    js: jetstream::Context,
    deliverer: Deliverer,
    workers: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    /// One reconcile at a time (the API and the rules watcher both start
    /// them): two at once would both start a reader for a new consumer.
    reconciling: tokio::sync::Mutex<()>,
}

impl NatsRouter {
    /// The bus its deliverer delivers for.
    fn bus(&self) -> &EventBus {
        self.deliverer.bus()
    }
}

impl std::fmt::Debug for NatsRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsRouter").finish_non_exhaustive()
    }
}
