//! Questions one node asks all the others over the bus, and its answers to theirs: counts and
//! channel lists summed over the cluster, and the last event of a cache channel for a node that
//! has no copy (it started after the last publish).

use bytes::Bytes;
use ferrocast_protocol::ChannelName;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

use super::message::{Answer, BusMessage, CacheCopy, Query};
use super::{lock, Cluster, Pending};
use crate::adapter::Topic;
use crate::apps::App;
use crate::channels::{CachedEvent, Counts};

impl Cluster {
    /// Cluster-wide counts of `channels` (subscriptions summed over nodes; presence members
    /// are replicated, so this node knows them).
    pub async fn counts(&self, app: &App, channels: &[ChannelName]) -> Vec<Counts> {
        let mut counts: Vec<Counts> = channels
            .iter()
            .map(|c| app.channels.counts(c.as_str()))
            .collect();
        let query = Query::Counts {
            app: app.id.clone(),
            channels: channels.iter().map(|c| c.to_string()).collect(),
        };
        for answer in self.ask(query).await {
            if let Answer::Counts { subscriptions } = answer {
                for (c, n) in counts.iter_mut().zip(subscriptions) {
                    c.subscriptions += n;
                }
            }
        }
        counts
    }

    /// Channels occupied anywhere in the cluster, with their cluster-wide counts.
    pub async fn channels(&self, app: &App, prefix: &str) -> Vec<(String, Counts)> {
        let mut merged: HashMap<String, Counts> = app
            .channels
            .list(prefix)
            .into_iter()
            .map(|(n, c)| (n.to_string(), c))
            .collect();
        let query = Query::Channels {
            app: app.id.clone(),
            prefix: prefix.to_owned(),
        };
        for answer in self.ask(query).await {
            if let Answer::Channels { channels } = answer {
                for (name, subs) in channels {
                    let users = app.channels.counts(&name).users;
                    let entry = merged.entry(name).or_insert(Counts {
                        subscriptions: 0,
                        users,
                    });
                    entry.subscriptions += subs;
                }
            }
        }
        let mut out: Vec<_> = merged.into_iter().collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Asks every live node; returns the answers that came within `request_timeout_ms`.
    async fn ask(&self, query: Query) -> Vec<Answer> {
        let peers = self.peers();
        if peers.is_empty() {
            return Vec::new();
        }
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let waiting = peers.into_iter().collect();
        lock(&self.pending).insert(
            id,
            Pending {
                waiting,
                answers: Vec::new(),
                done: Some(tx),
            },
        );
        self.send(
            Topic::All,
            &BusMessage::Request {
                from: self.node,
                id,
                query,
            },
        );
        let timeout = Duration::from_millis(self.config.request_timeout_ms);
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answers)) => answers,
            _ => {
                let partial = lock(&self.pending).remove(&id);
                tracing::warn!(id, "cluster: some nodes did not answer in time");
                partial.map(|p| p.answers).unwrap_or_default()
            }
        }
    }

    /// The freshest copy of a cache channel's last event that another node holds, to seed
    /// this node when it has none.
    pub async fn fetch_cached(&self, app: &App, channel: &ChannelName) -> Option<CachedEvent> {
        let query = Query::Cache {
            app: app.id.clone(),
            channel: channel.to_string(),
        };
        self.ask(query)
            .await
            .into_iter()
            .filter_map(|a| match a {
                Answer::Cache { copy } => copy,
                _ => None,
            })
            .max_by_key(|c| c.ttl_left_ms)
            .and_then(|c| {
                let mut event = cached_event(&Bytes::from(c.frame), app)?;
                event.ttl = Duration::from_millis(c.ttl_left_ms);
                Some(event)
            })
    }

    pub(super) fn answer(&self, query: Query) -> Answer {
        match query {
            Query::Counts { app, channels } => {
                let app = self.apps.by_id(&app);
                let subscriptions = channels
                    .iter()
                    .map(|c| {
                        app.as_ref()
                            .map_or(0, |a| a.channels.counts(c).subscriptions)
                    })
                    .collect();
                Answer::Counts { subscriptions }
            }
            Query::Cache { app, channel } => {
                let now = Instant::now();
                let copy = self
                    .apps
                    .by_id(&app)
                    .and_then(|a| a.channels.cached(&channel, now))
                    .map(|c| CacheCopy {
                        frame: String::from_utf8_lossy(&c.frame).into_owned(),
                        ttl_left_ms: c
                            .ttl
                            .saturating_sub(now.saturating_duration_since(c.stored_at))
                            .as_millis() as u64,
                    });
                Answer::Cache { copy }
            }
            Query::Channels { app, prefix } => {
                let channels = self
                    .apps
                    .by_id(&app)
                    .map(|a| {
                        a.channels
                            .list(&prefix)
                            .into_iter()
                            .map(|(n, c)| (n.to_string(), c.subscriptions))
                            .collect()
                    })
                    .unwrap_or_default();
                Answer::Channels { channels }
            }
        }
    }
}

/// Rebuilds a cache entry from a frame received from a peer.
pub(super) fn cached_event(frame: &Bytes, app: &App) -> Option<CachedEvent> {
    #[derive(serde::Deserialize)]
    struct Fields {
        event: String,
        data: String,
    }
    let f: Fields = serde_json::from_slice(frame).ok()?;
    Some(CachedEvent {
        event: f.event,
        data: f.data,
        frame: frame.clone(),
        stored_at: Instant::now(),
        ttl: Duration::from_secs(app.config().cache_ttl),
    })
}
