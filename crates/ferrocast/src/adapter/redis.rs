//! Redis pub/sub transport: one connection subscribes to this node's two channels (and is
//! re-established with backoff when it drops), a connection manager publishes.

use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use tokio::sync::mpsc;

use super::{backoff, topic_name, Adapter, BusEvent, OutgoingQueue, Topic};

pub struct RedisAdapter {
    client: redis::Client,
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
    /// `url` is `redis://[user:password@]host:port[/db]`.
    pub fn new(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            prefix: prefix.to_owned(),
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
            tokio::spawn(publish(self.client.clone(), self.prefix.clone(), rx));
        }
        let channels = [
            topic_name(&self.prefix, Topic::All),
            topic_name(&self.prefix, Topic::Node(node)),
        ];
        tokio::spawn(subscribe(self.client.clone(), channels, events));
    }
}

async fn publish(client: redis::Client, prefix: String, mut rx: mpsc::Receiver<(Topic, Bytes)>) {
    let mut attempt = 0;
    let mut conn: Option<ConnectionManager> = None;
    while let Some((topic, msg)) = rx.recv().await {
        if conn.is_none() {
            match ConnectionManager::new(client.clone()).await {
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
            }
        }
    }
}

async fn subscribe(client: redis::Client, channels: [String; 2], events: mpsc::Sender<BusEvent>) {
    let mut attempt = 0;
    loop {
        match client.get_async_pubsub().await {
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
