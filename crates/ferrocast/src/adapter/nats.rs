//! NATS core transport: async-nats reconnects by itself and keeps the subscriptions; its
//! connection events are turned into `Connected`/`Disconnected` for the cluster.

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{topic_name, Adapter, BusEvent, OutgoingQueue, Topic};
use crate::url_parts::{percent_decode, split_userinfo};

pub struct NatsAdapter {
    url: String,
    prefix: String,
    outgoing: OutgoingQueue,
}

impl std::fmt::Debug for NatsAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsAdapter")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl NatsAdapter {
    pub fn new(url: &str, prefix: &str) -> Self {
        Self {
            url: url.to_owned(),
            prefix: prefix.to_owned(),
            outgoing: OutgoingQueue::new("nats"),
        }
    }
}

impl Adapter for NatsAdapter {
    fn name(&self) -> &'static str {
        "nats"
    }

    fn send(&self, topic: Topic, msg: Bytes) {
        self.outgoing.push(topic, msg);
    }

    fn start(&self, node: u64, events: mpsc::Sender<BusEvent>) {
        let rx = self.outgoing.take();
        let Some(rx) = rx else { return };
        tokio::spawn(run(self.url.clone(), self.prefix.clone(), node, rx, events));
    }
}

/// The address to connect to and the options carrying `url`'s credentials. Credentials go to
/// async-nats as options, and the URL it gets has none: it does not read them from the URL, and
/// it logs the URL it connects to.
pub(crate) fn connect_options(url: &str) -> (String, async_nats::ConnectOptions) {
    let (address, userinfo) = split_userinfo(url);
    let mut options = async_nats::ConnectOptions::new();
    match userinfo.map(|u| u.split_once(':').ok_or(u)) {
        Some(Ok((user, pass))) => {
            options = options.user_and_password(percent_decode(user), percent_decode(pass));
        }
        Some(Err(token)) => options = options.token(percent_decode(token)),
        None => {}
    }
    (address, options)
}

async fn run(
    url: String,
    prefix: String,
    node: u64,
    mut outgoing: mpsc::Receiver<(Topic, Bytes)>,
    events: mpsc::Sender<BusEvent>,
) {
    let conn_events = events.clone();
    let (address, options) = connect_options(&url);
    let options = options
        .retry_on_initial_connect()
        .event_callback(move |event| {
            let tx = conn_events.clone();
            async move {
                let e = match event {
                    async_nats::Event::Connected => BusEvent::Connected,
                    async_nats::Event::Disconnected => BusEvent::Disconnected,
                    _ => return,
                };
                tracing::info!(event = ?e, "nats adapter");
                let _ = tx.send(e).await;
            }
        });
    let client = match options.connect(address.as_str()).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "nats adapter: invalid connection settings");
            return;
        }
    };
    for subject in [
        topic_name(&prefix, Topic::All),
        topic_name(&prefix, Topic::Node(node)),
    ] {
        match client.subscribe(subject).await {
            Ok(mut sub) => {
                let tx = events.clone();
                tokio::spawn(async move {
                    while let Some(msg) = sub.next().await {
                        if tx.send(BusEvent::Message(msg.payload)).await.is_err() {
                            return;
                        }
                    }
                });
            }
            Err(e) => tracing::error!(error = %e, "nats adapter: subscribe failed"),
        }
    }
    while let Some((topic, msg)) = outgoing.recv().await {
        if let Err(e) = client.publish(topic_name(&prefix, topic), msg).await {
            tracing::debug!(error = %e, "nats adapter: publish failed; message dropped");
        }
    }
}
