//! Batching: events for one endpoint wait at most `batch_ms` and at most `batch_max` of them share
//! a request. A newer `subscription_count` of a channel replaces the one still waiting, so a
//! burst of subscriptions costs one event. Pure: time is passed in.

use ferrocast_protocol::webhook::WebhookEvent;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::queue::NewJob;

struct Pending {
    since: Instant,
    events: Vec<WebhookEvent>,
}

/// The batches being filled, one per endpoint (app id, URL).
pub(super) struct Batcher {
    max: usize,
    delay: Duration,
    pending: HashMap<(String, String), Pending>,
}

fn job((app_id, url): (String, String), events: &[WebhookEvent]) -> NewJob {
    NewJob {
        app_id,
        url,
        // Serialising plain data cannot fail.
        events: serde_json::to_string(events).unwrap_or_else(|_| "[]".into()),
    }
}

impl Batcher {
    pub(super) fn new(max: usize, delay: Duration) -> Self {
        Self {
            max: max.max(1),
            delay,
            pending: HashMap::new(),
        }
    }

    /// Adds an event for one endpoint; returns the batch if it is now full.
    pub(super) fn add(
        &mut self,
        app_id: &str,
        url: &str,
        event: WebhookEvent,
        now: Instant,
    ) -> Option<NewJob> {
        let key = (app_id.to_owned(), url.to_owned());
        let batch = self.pending.entry(key.clone()).or_insert_with(|| Pending {
            since: now,
            events: Vec::new(),
        });
        let replaced = match &event {
            WebhookEvent::SubscriptionCount { channel, .. } => batch
                .events
                .iter_mut()
                .find(|e| {
                    matches!(e, WebhookEvent::SubscriptionCount { channel: c, .. } if c == channel)
                })
                .map(|slot| *slot = event.clone())
                .is_some(),
            _ => false,
        };
        if !replaced {
            batch.events.push(event);
        }
        if batch.events.len() >= self.max {
            let full = self.pending.remove(&key)?;
            return Some(job(key, &full.events));
        }
        None
    }

    /// When the oldest waiting batch is due.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.since + self.delay).min()
    }

    /// The batches that have waited `batch_ms`.
    pub(super) fn due(&mut self, now: Instant) -> Vec<NewJob> {
        let delay = self.delay;
        let keys: Vec<_> = self
            .pending
            .iter()
            .filter(|(_, p)| now >= p.since + delay)
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| self.pending.remove(&k).map(|p| job(k, &p.events)))
            .collect()
    }

    /// Every waiting batch, at once (shutdown).
    pub(super) fn drain(&mut self) -> Vec<NewJob> {
        self.pending
            .drain()
            .map(|(k, p)| job(k, &p.events))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn occupied(c: &str) -> WebhookEvent {
        WebhookEvent::ChannelOccupied { channel: c.into() }
    }

    #[test]
    fn batches_close_on_size_or_age() {
        let t0 = Instant::now();
        let mut b = Batcher::new(2, Duration::from_millis(50));
        assert!(b.add("a", "u", occupied("x"), t0).is_none());
        assert_eq!(b.next_deadline(), Some(t0 + Duration::from_millis(50)));
        let full = b.add("a", "u", occupied("y"), t0).expect("full at 2");
        assert_eq!(
            full.events,
            r#"[{"name":"channel_occupied","channel":"x"},{"name":"channel_occupied","channel":"y"}]"#
        );
        assert!(b.next_deadline().is_none());
        assert!(b.add("a", "u", occupied("z"), t0).is_none());
        assert!(
            b.add("a", "v", occupied("z"), t0).is_none(),
            "another endpoint"
        );
        assert!(b.due(t0 + Duration::from_millis(49)).is_empty());
        assert_eq!(b.due(t0 + Duration::from_millis(50)).len(), 2);
        assert!(b.drain().is_empty());
    }

    #[test]
    fn a_newer_subscription_count_replaces_the_waiting_one() {
        let t0 = Instant::now();
        let mut b = Batcher::new(10, Duration::from_millis(50));
        for n in 1..=3 {
            let e = WebhookEvent::SubscriptionCount {
                channel: "c".into(),
                subscription_count: n,
            };
            assert!(b.add("a", "u", e, t0).is_none());
        }
        let jobs = b.drain();
        assert_eq!(
            jobs[0].events,
            r#"[{"name":"subscription_count","channel":"c","subscription_count":3}]"#
        );
    }
}
