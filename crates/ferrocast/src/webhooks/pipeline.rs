//! The pipeline task: between the socket path and the durable queue. For each reported event it
//! holds leaves for their grace period (`linger.rs`), settles whether the cluster as a whole
//! changed (occupancy), gives `subscription_count` its
//! cluster-wide number, routes the event to every endpoint of the app that wants it, and writes
//! batches to the queue when they are full or old enough. A queue that cannot be written keeps
//! the batches in memory and is tried again each second, in order.

use ferrocast_protocol::webhook::WebhookEvent;
use ferrocast_protocol::ChannelName;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use super::batch::Batcher;
use super::linger::{transition, Edge, Linger};
use super::occupancy::Occupancy;
use super::queue::NewJob;
use super::{Command, Webhooks};
use crate::apps::Apps;
use crate::cluster::Cluster;

const RETRY_WRITE: Duration = Duration::from_secs(1);
/// How long full batches may wait to share one queue transaction (one synced commit) with
/// those that fill after them; far below `batch_ms`, so it adds little to a webhook's delay.
const WRITE_EVERY: Duration = Duration::from_millis(10);
/// Full batches that are written at once, without waiting for `WRITE_EVERY`.
const WRITE_AT: usize = 64;
/// Commands taken from the buffer in one turn, at most.
const TURN: usize = 1024;
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
        let mut linger = Linger::new(Duration::from_millis(s.vacated_delay_ms));
        let mut ready: Vec<NewJob> = Vec::new();
        let mut cmds = Vec::with_capacity(TURN);
        // When `ready` is written next: WRITE_EVERY after it stopped being empty, or
        // RETRY_WRITE after a failed write.
        let mut next_write: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let mut deadline = batcher.next_deadline().unwrap_or(now + IDLE);
            if let Some(at) = linger.next_deadline() {
                deadline = deadline.min(at);
            }
            if let Some(at) = next_write {
                deadline = deadline.min(at);
            }
            let mut acks = Vec::new();
            tokio::select! {
                // Whatever waits is taken in one turn, so a burst of events (10,000 connects)
                // becomes a few queue transactions rather than one per full batch.
                n = rx.recv_many(&mut cmds, TURN) => {
                    if n == 0 {
                        self.pass(&mut batcher, &mut ready, linger.drain()).await;
                        ready.extend(batcher.drain());
                        self.write(&mut ready).await;
                        return;
                    }
                    for cmd in cmds.drain(..) {
                        match cmd {
                            Command::Event { app_id, event } => {
                                let admitted = linger.admit(app_id, event, Instant::now());
                                self.pass(&mut batcher, &mut ready, admitted).await;
                            }
                            Command::Settled { app_id, event } => {
                                self.route(&mut batcher, &mut ready, &app_id, event);
                            }
                            Command::Flush(done) => {
                                self.pass(&mut batcher, &mut ready, linger.drain()).await;
                                ready.extend(batcher.drain());
                                acks.push(done);
                            }
                        }
                    }
                },
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    self.pass(&mut batcher, &mut ready, linger.due(now)).await;
                    ready.extend(batcher.due(now));
                }
            }
            let now = Instant::now();
            if ready.is_empty() {
                next_write = None;
            } else {
                let at = *next_write.get_or_insert(now + WRITE_EVERY);
                if now >= at || ready.len() >= WRITE_AT || !acks.is_empty() {
                    next_write = (!self.write(&mut ready).await).then(|| now + RETRY_WRITE);
                }
            }
            for done in acks {
                let _ = done.send(());
            }
        }
    }

    /// Settles and routes `events` (those the grace period let through).
    async fn pass(
        &self,
        batcher: &mut Batcher,
        ready: &mut Vec<NewJob>,
        events: impl IntoIterator<Item = (String, WebhookEvent)>,
    ) {
        for (app_id, event) in events {
            if let Some(event) = self.settle(&app_id, event).await {
                self.route(batcher, ready, &app_id, event);
            }
        }
    }

    /// Whether the event stands for the whole cluster (and with which count).
    async fn settle(&self, app_id: &str, event: WebhookEvent) -> Option<WebhookEvent> {
        let occ = &self.occupancy;
        let fires = match (transition(app_id, &event), &event) {
            (Some((Edge::First, key)), _) => occ.first(&key).await,
            (Some((Edge::Last, key)), _) => occ.last(&key).await,
            (None, WebhookEvent::SubscriptionCount { channel, .. }) if !self.cluster.is_local() => {
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

    /// Writes `ready` to the queue; on failure keeps it for the next turn. Whether it was
    /// written.
    async fn write(&self, ready: &mut Vec<NewJob>) -> bool {
        let queue = match self.webhooks.queue(&self.apps).await {
            Ok(q) => q.clone(),
            Err(e) => {
                tracing::error!(error = %e, pending = ready.len(), "webhooks: cannot open the queue; will retry");
                return false;
            }
        };
        match queue.push(ready.clone()).await {
            Ok(()) => {
                ready.clear();
                self.webhooks.kick();
                true
            }
            Err(e) => {
                tracing::error!(error = %e, pending = ready.len(), "webhooks: cannot write to the queue; will retry");
                false
            }
        }
    }
}
