//! The bus between nodes: a transport for opaque messages on two topics per cluster — one every
//! node hears, and one per node for answers. Transports know nothing of Pusher; `cluster` gives
//! the messages their meaning. Contract for every implementation:
//! - `send` never waits: while the broker is unreachable messages are dropped (and counted by the
//!   caller's logs), because local clients must keep being served;
//! - incoming messages and connection changes arrive on one channel, in the broker's order;
//! - after a lost connection the transport reconnects with backoff by itself and reports
//!   `Connected` again, so the cluster can resynchronise.

mod local;
mod nats;
mod redis;
pub(crate) mod redis_target;

pub use local::LocalAdapter;
pub(crate) use nats::connect_options as nats_connect_options;
pub use nats::NatsAdapter;
pub use redis::RedisAdapter;
pub(crate) use redis_target::RedisTarget;

use bytes::Bytes;
use std::time::Duration;
use tokio::sync::mpsc;

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Every node of the cluster (including the sender).
    All,
    /// One node, by id.
    Node(u64),
}

/// What a transport reports to the cluster.
#[derive(Debug)]
pub enum BusEvent {
    Message(Bytes),
    /// The broker is (again) reachable and this node's subscriptions are in place.
    Connected,
    /// The broker connection was lost; the transport is reconnecting.
    Disconnected,
}

/// Messages waiting to reach the broker or the cluster, per node.
pub const QUEUE: usize = 65_536;

pub trait Adapter: Send + Sync + 'static {
    /// A name for logs and `/usage`.
    fn name(&self) -> &'static str;
    /// Queues `msg` for `topic` without waiting.
    fn send(&self, topic: Topic, msg: Bytes);
    /// Starts the transport's tasks for node `node`; events go to `events`.
    fn start(&self, node: u64, events: mpsc::Sender<BusEvent>);
}

/// The queue between `send` (which never waits) and a transport's publishing task.
pub(crate) struct OutgoingQueue {
    transport: &'static str,
    tx: mpsc::Sender<(Topic, Bytes)>,
    rx: std::sync::Mutex<Option<mpsc::Receiver<(Topic, Bytes)>>>,
}

impl OutgoingQueue {
    pub(crate) fn new(transport: &'static str) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        Self {
            transport,
            tx,
            rx: std::sync::Mutex::new(Some(rx)),
        }
    }

    /// Queues a message; drops it (with a warning) when the queue is full.
    pub(crate) fn push(&self, topic: Topic, msg: Bytes) {
        if self.tx.try_send((topic, msg)).is_err() {
            tracing::warn!(
                transport = self.transport,
                "bus: outgoing queue full, message dropped"
            );
        }
    }

    /// The receiving end, for the publishing task; `None` after the first call.
    pub(crate) fn take(&self) -> Option<mpsc::Receiver<(Topic, Bytes)>> {
        self.rx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// Topic names shared by the transports: `{prefix}.all` and `{prefix}.node.{id}`.
pub fn topic_name(prefix: &str, topic: Topic) -> String {
    match topic {
        Topic::All => format!("{prefix}.all"),
        Topic::Node(id) => format!("{prefix}.node.{id}"),
    }
}

/// Reconnection delays: 100 ms doubling to 5 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6)).min(5_000))
}
