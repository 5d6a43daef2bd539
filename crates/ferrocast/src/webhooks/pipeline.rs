//! The pipeline task: between the socket path and the durable queue. For each reported event it
//! settles whether the cluster as a whole changed (occupancy), gives `subscription_count` its
//! cluster-wide number, routes the event to every endpoint of the app that wants it, and writes
//! batches to the queue when they are full or old enough. A queue that cannot be written keeps
//! the batches in memory and is tried again each second, in order.

use ferrocast_protocol::webhook::WebhookEvent;
use ferrocast_protocol::ChannelName;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use super::batch::Batcher;
use super::occupancy::Occupancy;
use super::queue::NewJob;
use super::{Command, Webhooks};
use crate::apps::Apps;
use crate::cluster::Cluster;

const RETRY_WRITE: Duration = Duration::from_secs(1);
/// A deadline far enough away to mean "none".
const IDLE: Duration = Duration::from_secs(3600);

pub(super) struct Pipeline {
    pub webhooks: Webhooks,
    pub apps: Arc<Apps>,
    pub cluster: Arc<Cluster>,
    pub occupancy: Arc<dyn Occupancy>,
}

impl Pipeline {
    pub(super) async fn run(self, mut rx: mpsc::Receiver<Command>) {
        let s = &self.webhooks.inner.settings;
        let mut batcher = Batcher::new(s.batch_max, Duration::from_millis(s.batch_ms));
        let mut ready: Vec<NewJob> = Vec::new();
        loop {
            let now = Instant::now();
            let mut deadline = batcher.next_deadline().unwrap_or(now + IDLE);
            if !ready.is_empty() {
                deadline = deadline.min(now + RETRY_WRITE);
            }
            let mut ack = None;
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    None => {
                        ready.extend(batcher.drain());
                        self.write(&mut ready).await;
                        return;
                    }
                    Some(Command::Event { app_id, event }) => {
                        if let Some(event) = self.settle(&app_id, event).await {
                            self.route(&mut batcher, &mut ready, &app_id, event);
                        }
                    }
                    Some(Command::Flush(done)) => {
                        ready.extend(batcher.drain());
                        ack = Some(done);
                    }
                },
                _ = tokio::time::sleep_until(deadline.into()) => {
                    ready.extend(batcher.due(Instant::now()));
                }
            }
            if !ready.is_empty() {
                self.write(&mut ready).await;
            }
            if let Some(done) = ack {
                let _ = done.send(());
            }
        }
    }

    /// Whether the event stands for the whole cluster (and with which count).
    async fn settle(&self, app_id: &str, event: WebhookEvent) -> Option<WebhookEvent> {
        let occ = &self.occupancy;
        let fires = match &event {
            WebhookEvent::ChannelOccupied { channel } => {
                occ.first(&format!("{app_id} {channel}")).await
            }
            WebhookEvent::ChannelVacated { channel } => {
                occ.last(&format!("{app_id} {channel}")).await
            }
            WebhookEvent::MemberAdded { channel, user_id } => {
                occ.first(&format!("{app_id} {channel} {user_id}")).await
            }
            WebhookEvent::MemberRemoved { channel, user_id } => {
                occ.last(&format!("{app_id} {channel} {user_id}")).await
            }
            WebhookEvent::SubscriptionCount { channel, .. } if !self.cluster.is_local() => {
                let app = self.apps.by_id(app_id)?;
                let name = ChannelName::parse(channel, usize::MAX).ok()?;
                let counts = self.cluster.counts(&app, &[name]).await;
                let subscription_count = counts.first().map_or(0, |c| c.subscriptions);
                return Some(WebhookEvent::SubscriptionCount {
                    channel: channel.clone(),
                    subscription_count,
                });
            }
            _ => true,
        };
        fires.then_some(event)
    }

    fn route(
        &self,
        batcher: &mut Batcher,
        ready: &mut Vec<NewJob>,
        app_id: &str,
        event: WebhookEvent,
    ) {
        let Some(app) = self.apps.by_id(app_id) else {
            return;
        };
        let cfg = app.config();
        let now = Instant::now();
        for endpoint in cfg
            .webhooks
            .iter()
            .filter(|e| e.wants(event.kind(), event.channel()))
        {
            ready.extend(batcher.add(app_id, &endpoint.url, event.clone(), now));
        }
    }

    /// Writes `ready` to the queue; on failure keeps it for the next turn.
    async fn write(&self, ready: &mut Vec<NewJob>) {
        let queue = match self.webhooks.queue(&self.apps).await {
            Ok(q) => q.clone(),
            Err(e) => {
                tracing::error!(error = %e, pending = ready.len(), "webhooks: cannot open the queue; will retry");
                return;
            }
        };
        match queue.push(ready.clone()).await {
            Ok(()) => {
                ready.clear();
                self.webhooks.kick();
            }
            Err(e) => {
                tracing::error!(error = %e, pending = ready.len(), "webhooks: cannot write to the queue; will retry")
            }
        }
    }
}
