//! Webhook settings: each app's endpoints (`[[apps.webhooks]]`: where, which events, which
//! channels) and the server's delivery settings (`[webhooks]`: batching, retries, timeouts,
//! which queue).

use ferrocast_protocol::webhook::EventType;
use serde::{Deserialize, Serialize};

use super::AdapterKind;

/// One endpoint of an app: a URL, the event types it wants and the channels it cares about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpoint {
    /// `http://` or `https://` URL the events are POSTed to.
    pub url: String,
    /// The event types sent to this endpoint; empty sends every type.
    #[serde(default)]
    pub event_types: Vec<EventType>,
    /// Only events on channels whose name starts with one of these; empty means every channel.
    #[serde(default)]
    pub channel_prefixes: Vec<String>,
}

impl WebhookEndpoint {
    /// Whether an event of `kind` on `channel` goes to this endpoint.
    pub fn wants(&self, kind: EventType, channel: &str) -> bool {
        (self.event_types.is_empty() || self.event_types.contains(&kind))
            && (self.channel_prefixes.is_empty()
                || self.channel_prefixes.iter().any(|p| channel.starts_with(p)))
    }

    pub(super) fn validate(&self) -> Result<(), &'static str> {
        check_url(&self.url)
    }
}

/// An `http://` or `https://` URL with a host (webhooks and hooks).
pub(super) fn check_url(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(()),
        _ => Err("url must be an http:// or https:// URL with a host"),
    }
}

/// Where webhook requests wait until delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WebhookQueueKind {
    /// `redis` with the Redis adapter, else `sqlite`.
    #[default]
    Auto,
    /// `<data_dir>/webhooks.db`: this node's own queue.
    Sqlite,
    /// Redis at `cluster.redis_url`, keys under `cluster.prefix`: one queue for every node.
    Redis,
}

impl WebhookQueueKind {
    /// The queue used with `adapter`: `Sqlite` or `Redis`, never `Auto`.
    pub fn resolve(self, adapter: AdapterKind) -> Self {
        match (self, adapter) {
            (Self::Auto, AdapterKind::Redis) => Self::Redis,
            (Self::Auto, _) => Self::Sqlite,
            (kind, _) => kind,
        }
    }
}

/// How webhooks are batched, queued and retried (the same for every app).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Milliseconds an event may wait for others to share its request.
    pub batch_ms: u64,
    /// Events one request holds at most.
    pub batch_max: usize,
    /// Milliseconds one request may take before it counts as failed.
    pub timeout_ms: u64,
    /// Attempts per request before it goes to the dead-letter list.
    pub max_attempts: u32,
    /// Delay before the first retry, in milliseconds; doubled on each retry, with jitter.
    pub backoff_ms: u64,
    /// Longest delay between two attempts, in milliseconds.
    pub backoff_max_ms: u64,
    /// Milliseconds `channel_vacated` and `member_removed` wait before they are sent; a return
    /// of the channel (or user) on the same node within it cancels both, as Pusher does.
    pub vacated_delay_ms: u64,
    /// Events waiting between the socket path and the queue; beyond it new events are refused
    /// (counted in `ferrocast_webhook_events_refused_total` and logged).
    pub buffer: usize,
    /// Where requests wait: `auto`, `sqlite` or `redis` (which needs the Redis adapter).
    pub queue: WebhookQueueKind,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            batch_ms: 50,
            batch_max: 100,
            timeout_ms: 5000,
            max_attempts: 10,
            backoff_ms: 1000,
            backoff_max_ms: 300_000,
            vacated_delay_ms: 3000,
            buffer: 100_000,
            queue: WebhookQueueKind::Auto,
        }
    }
}

impl WebhookSettings {
    pub(super) fn validate(
        &self,
        adapter: AdapterKind,
    ) -> Result<(), (&'static str, &'static str)> {
        if self.queue == WebhookQueueKind::Redis && adapter != AdapterKind::Redis {
            return Err((
                "webhooks.queue",
                "redis needs cluster.adapter = \"redis\" (its connection is the queue's)",
            ));
        }
        if self.batch_max == 0 {
            return Err(("webhooks.batch_max", "must be at least 1"));
        }
        if self.max_attempts == 0 {
            return Err(("webhooks.max_attempts", "must be at least 1"));
        }
        if self.timeout_ms == 0 {
            return Err(("webhooks.timeout_ms", "must be at least 1"));
        }
        if self.buffer == 0 {
            return Err(("webhooks.buffer", "must be at least 1"));
        }
        if self.backoff_max_ms < self.backoff_ms {
            return Err(("webhooks.backoff_max_ms", "must be at least backoff_ms"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_filter_by_type_and_prefix() {
        let e = WebhookEndpoint {
            url: "http://127.0.0.1:9/hook".into(),
            event_types: vec![EventType::MemberAdded],
            channel_prefixes: vec!["presence-game-".into()],
        };
        assert!(e.wants(EventType::MemberAdded, "presence-game-1"));
        assert!(!e.wants(EventType::MemberRemoved, "presence-game-1"));
        assert!(!e.wants(EventType::MemberAdded, "presence-chat-1"));
        let all = WebhookEndpoint {
            event_types: vec![],
            channel_prefixes: vec![],
            ..e.clone()
        };
        assert!(all.wants(EventType::CacheMiss, "anything"));
        assert!(e.validate().is_ok());
        for bad in ["ftp://x", "http://", "x", "https:///path"] {
            let b = WebhookEndpoint {
                url: bad.into(),
                ..e.clone()
            };
            assert!(b.validate().is_err(), "{bad}");
        }
    }
}
