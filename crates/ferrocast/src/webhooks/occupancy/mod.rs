//! Cluster-wide 0↔1 transitions for `channel_occupied`/`channel_vacated` and
//! `member_added`/`member_removed`: each node knows only its own sockets, so a node's first
//! subscriber of a channel (or a user's first socket in a presence channel) fires the event only
//! if no other node has one. The shared record of who holds what is in Redis (`redis.rs`) or in
//! NATS JetStream KV (`nats.rs`); on one node, or when JetStream is unavailable, the node's own
//! view is the cluster's.
//!
//! A node that dies without leaving (SIGKILL, power loss) cannot say it let go: every node runs
//! `upkeep` each heartbeat, which keeps its own liveness mark fresh and clears the holdings of
//! nodes whose mark expired. The keys that no node holds any more then fire their
//! `channel_vacated`/`member_removed` once, through the webhook pipeline of the node that
//! cleared them.

mod nats;
mod redis;

use ferrocast_protocol::webhook::WebhookEvent;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::Webhooks;
use crate::apps::Apps;
use crate::config::{AdapterKind, ClusterConfig};
pub use nats::NatsOccupancy;
pub use redis::RedisOccupancy;

/// An occupancy check's future.
pub(super) type OccupancyFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who holds what, across the cluster. Keys are `"{app_id} {channel}"` for a channel and
/// `"{app_id} {channel} {user_id}"` for a presence member (`channel_key`, `member_key`).
pub trait Occupancy: Send + Sync + 'static {
    /// This node now holds `key`; whether no node held it before (the event fires).
    fn first<'a>(&'a self, key: &'a str) -> OccupancyFuture<'a, bool>;
    /// This node no longer holds `key`; whether no node holds it now (the event fires).
    fn last<'a>(&'a self, key: &'a str) -> OccupancyFuture<'a, bool>;
    /// How often `upkeep` runs; `None` when there is nothing to keep (one node).
    fn upkeep_every(&self) -> Option<Duration> {
        None
    }
    /// Marks this node alive and removes dead nodes from what they held. Returns the keys that
    /// no node holds any more because of it: their last-events are this node's to send.
    fn upkeep(&self) -> OccupancyFuture<'_, Vec<String>> {
        Box::pin(async { Vec::new() })
    }
}

/// A store shared by the nodes; `Occupancy` follows from it, with the same failure handling
/// for every store.
trait SharedStore: Send + Sync + 'static {
    /// For logs.
    const NAME: &'static str;
    type Error: std::fmt::Display + Send;
    /// This node takes (`first`) or lets go of `key`; whether the event fires.
    fn transition(
        &self,
        first: bool,
        key: &str,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
    /// Refreshes this node's liveness and removes dead nodes; the keys emptied so far are in
    /// `emptied` even when a later step fails.
    fn upkeep_into(
        &self,
        emptied: &mut Vec<String>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    fn heartbeat(&self) -> Duration;
}

impl<S: SharedStore> Occupancy for S {
    fn first<'a>(&'a self, key: &'a str) -> OccupancyFuture<'a, bool> {
        Box::pin(settle(self, true, key))
    }

    fn last<'a>(&'a self, key: &'a str) -> OccupancyFuture<'a, bool> {
        Box::pin(settle(self, false, key))
    }

    fn upkeep_every(&self) -> Option<Duration> {
        Some(self.heartbeat())
    }

    fn upkeep(&self) -> OccupancyFuture<'_, Vec<String>> {
        Box::pin(async move {
            let mut emptied = Vec::new();
            if let Err(e) = self.upkeep_into(&mut emptied).await {
                tracing::warn!(store = S::NAME, error = %e, "webhooks: occupancy upkeep failed; retrying next heartbeat");
            }
            emptied
        })
    }
}

/// A transition; when the store cannot answer, the event fires anyway (a duplicate is better
/// than a lost event) and the failure is logged.
async fn settle<S: SharedStore>(store: &S, first: bool, key: &str) -> bool {
    match store.transition(first, key).await {
        Ok(fires) => fires,
        Err(e) => {
            tracing::warn!(store = S::NAME, error = %e, "webhooks: occupancy check failed; sending the event anyway");
            true
        }
    }
}

/// One node: its own view is the cluster's.
pub struct LocalOccupancy;

impl Occupancy for LocalOccupancy {
    fn first<'a>(&'a self, _: &'a str) -> OccupancyFuture<'a, bool> {
        Box::pin(async { true })
    }

    fn last<'a>(&'a self, _: &'a str) -> OccupancyFuture<'a, bool> {
        Box::pin(async { true })
    }
}

/// Where this node settles transitions: the shared store of its adapter, else its own view.
pub fn open(cfg: &ClusterConfig, node: u64) -> Arc<dyn Occupancy> {
    match cfg.adapter {
        AdapterKind::Redis => match RedisOccupancy::new(cfg, node) {
            Ok(o) => return Arc::new(o),
            Err(e) => {
                tracing::error!(error = %e, "webhooks: invalid Redis settings; occupancy is per node")
            }
        },
        AdapterKind::Nats => return Arc::new(NatsOccupancy::new(cfg, node)),
        AdapterKind::Local => {}
    }
    Arc::new(LocalOccupancy)
}

/// The occupancy key of `channel`.
pub(super) fn channel_key(app_id: &str, channel: &str) -> String {
    format!("{app_id} {channel}")
}

/// The occupancy key of `user_id` in presence channel `channel`.
pub(super) fn member_key(app_id: &str, channel: &str, user_id: &str) -> String {
    format!("{app_id} {channel} {user_id}")
}

/// The app and the event a key stands for once no node holds it. App ids and channel names
/// hold no spaces; a user id may, so it is everything after the second one.
fn vacated(key: &str) -> Option<(String, WebhookEvent)> {
    let mut parts = key.splitn(3, ' ');
    let (app, channel) = (parts.next()?, parts.next()?);
    if app.is_empty() || channel.is_empty() {
        return None;
    }
    let channel = channel.to_owned();
    let event = match parts.next() {
        Some(user) => WebhookEvent::MemberRemoved {
            channel,
            user_id: user.to_owned(),
        },
        None => WebhookEvent::ChannelVacated { channel },
    };
    Some((app.to_owned(), event))
}

/// The events for keys emptied by removing a dead node: members before channels, as when a
/// socket leaves.
fn vacated_events(keys: &[String]) -> Vec<(String, WebhookEvent)> {
    let mut events: Vec<_> = keys.iter().filter_map(|k| vacated(k)).collect();
    events.sort_by_key(|(_, e)| matches!(e, WebhookEvent::ChannelVacated { .. }));
    events
}

/// Runs the occupancy's upkeep every interval for as long as the server runs; the last-events
/// it finds go into this node's pipeline as already settled. While no app has a webhook
/// endpoint the store is left alone: nothing would be sent, and a cluster without webhooks
/// should cost its broker nothing.
pub(super) async fn run_upkeep(occupancy: Arc<dyn Occupancy>, webhooks: Webhooks, apps: Arc<Apps>) {
    let Some(every) = occupancy.upkeep_every() else {
        return;
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !apps.all().iter().any(|a| !a.config().webhooks.is_empty()) {
            continue;
        }
        let keys = occupancy.upkeep().await;
        for (app_id, event) in vacated_events(&keys) {
            tracing::info!(app = %app_id, channel = event.channel(), kind = ?event.kind(), "webhooks: last holder was a dead node");
            webhooks.settled(app_id, event).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_back_to_their_events() {
        let keys = [
            channel_key("app-1", "presence-room"),
            member_key("app-1", "presence-room", "user with spaces"),
            channel_key("app-1", "news"),
            "nospace".to_owned(),
            " leading".to_owned(),
        ];
        let events = vacated_events(&keys);
        assert_eq!(events.len(), 3);
        assert_eq!(
            events[0],
            (
                "app-1".to_owned(),
                WebhookEvent::MemberRemoved {
                    channel: "presence-room".into(),
                    user_id: "user with spaces".into()
                }
            )
        );
        assert_eq!(
            events[1].1,
            WebhookEvent::ChannelVacated {
                channel: "presence-room".into()
            }
        );
        assert_eq!(
            events[2].1,
            WebhookEvent::ChannelVacated {
                channel: "news".into()
            }
        );
    }
}
