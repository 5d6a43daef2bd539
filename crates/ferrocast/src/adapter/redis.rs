//! Redis pub/sub transport: one connection subscribes to this node's two channels (and is
//! re-established with backoff when it drops), another publishes. Both find their server
//! through `RedisTarget` on every (re)connect.

use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use std::sync::Arc;
use tokio::sync::mpsc;

use super::redis_target::RedisTarget;
use super::{backoff, topic_name, Adapter, BusEvent, OutgoingQueue, Topic};
use crate::config::ClusterConfig;

pub struct RedisAdapter {
    target: Arc<RedisTarget>,
    prefix: String,
    outgoing: OutgoingQueue,
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password; never print it.
        f.debug_struct("RedisAdapter")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisAdapter {
    /// The adapter for `cfg`'s Redis settings (URL, TLS, Sentinel); says what is wrong with them.
    pub fn new(cfg: &ClusterConfig) -> Result<Self, String> {
        Ok(Self {
            target: Arc::new(RedisTarget::new(cfg)?),
            prefix: cfg.prefix.clone(),
            outgoing: OutgoingQueue::new("redis"),
        })
    }
}

impl Adapter for RedisAdapter {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn send(&self, topic: Topic, msg: Bytes) {
        self.outgoing.push(topic, msg);
    }

    fn start(&self, node: u64, events: mpsc::Sender<BusEvent>) {
        let rx = self.outgoing.take();
        if let Some(rx) = rx {
            tokio::spawn(publish(self.target.clone(), self.prefix.clone(), rx));
        }
        let channels = [
            topic_name(&self.prefix, Topic::All),
            topic_name(&self.prefix, Topic::Node(node)),
        ];
        tokio::spawn(subscribe(self.target.clone(), channels, events));
    }
}

async fn publish(target: Arc<RedisTarget>, prefix: String, mut rx: mpsc::Receiver<(Topic, Bytes)>) {
    let mut attempt = 0;
    let mut conn: Option<ConnectionManager> = None;
    while let Some((topic, msg)) = rx.recv().await {
        if conn.is_none() {
            let manager = match target.client().await {
                Ok(client) => ConnectionManager::new(client).await,
                Err(e) => Err(e),
            };
            match manager {
                Ok(c) => {
                    conn = Some(c);
                    attempt = 0;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "redis adapter: cannot connect to publish; message dropped");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                    continue;
                }
            }
        }
        if let Some(c) = conn.as_mut() {
            let sent: redis::RedisResult<()> = redis::cmd("PUBLISH")
                .arg(topic_name(&prefix, topic))
                .arg(msg.as_ref())
                .query_async(c)
                .await;
            if let Err(e) = sent {
                tracing::debug!(error = %e, "redis adapter: publish failed; message dropped");
                // Look the server up again: after a Sentinel failover the old one is a replica.
                conn = None;
            }
        }
    }
}

async fn subscribe(
    target: Arc<RedisTarget>,
    channels: [String; 2],
    events: mpsc::Sender<BusEvent>,
) {
    let mut attempt = 0;
    loop {
        let pubsub = match target.client().await {
            Ok(client) => client.get_async_pubsub().await,
            Err(e) => Err(e),
        };
        match pubsub {
            Ok(mut pubsub) => {
                let subscribed = async {
                    for c in &channels {
                        pubsub.subscribe(c).await?;
                    }
                    Ok::<_, redis::RedisError>(())
                }
                .await;
                if let Err(e) = subscribed {
                    tracing::warn!(error = %e, "redis adapter: subscribe failed");
                } else {
                    attempt = 0;
                    tracing::info!("redis adapter: connected");
                    if events.send(BusEvent::Connected).await.is_err() {
                        return;
                    }
                    let mut stream = pubsub.into_on_message();
                    while let Some(msg) = stream.next().await {
                        let payload = Bytes::copy_from_slice(msg.get_payload_bytes());
                        if events.send(BusEvent::Message(payload)).await.is_err() {
                            return;
                        }
                    }
                    tracing::warn!("redis adapter: connection lost; reconnecting");
                    if events.send(BusEvent::Disconnected).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "redis adapter: cannot connect; retrying"),
        }
        tokio::time::sleep(backoff(attempt)).await;
        attempt += 1;
    }
}
