//! The last event of a cache channel, kept for new subscribers until its TTL runs out.

use bytes::Bytes;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct CachedEvent {
    pub event: String,
    pub data: String,
    /// The frame as it was sent, replayed as-is to new subscribers.
    pub frame: Bytes,
    pub stored_at: Instant,
    pub ttl: Duration,
}

impl CachedEvent {
    pub fn is_fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.stored_at) < self.ttl
    }

    /// Seconds left before it expires.
    pub fn ttl_left(&self, now: Instant) -> u64 {
        self.ttl
            .saturating_sub(now.saturating_duration_since(self.stored_at))
            .as_secs()
    }
}
