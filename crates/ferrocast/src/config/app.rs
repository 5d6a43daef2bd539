//! One app's settings: credentials, switches and limits. Defaults are Pusher's own limits.

use serde::{Deserialize, Serialize};

/// An app (tenant): its credentials, what it allows and its limits. `0` means "no limit"
/// where a limit says so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    pub id: String,
    pub key: String,
    pub secret: String,
    /// A disabled app refuses connections (4003) and API calls (403).
    pub enabled: bool,
    /// Whether clients may send `client-*` events on private and presence channels.
    pub client_events: bool,
    /// Whether every connection must `pusher:signin` within `user_auth_timeout` seconds (4009).
    pub user_auth_required: bool,
    pub user_auth_timeout: u64,
    /// Concurrent connections allowed; 0 = unlimited. Over it: 4004.
    pub max_connections: usize,
    /// Largest event `data` in KiB, for the HTTP API (413) and client events (4301).
    pub max_payload_kb: usize,
    /// Channels one publish may name (400 above).
    pub max_channels_per_event: usize,
    /// Events one batch may hold (400 above).
    pub max_batch_size: usize,
    pub max_channel_name_length: usize,
    pub max_event_name_length: usize,
    /// Members of one presence channel; a new member beyond it is refused.
    pub max_presence_members: usize,
    /// Size of a presence member's `user_info`, in KiB.
    pub max_presence_user_info_kb: usize,
    /// Client events one connection may send per second (4301 above); 0 = unlimited.
    pub max_client_events_per_sec: u32,
    /// Channels one connection may subscribe to at once.
    pub max_channels_per_connection: usize,
    /// Ids a sign-in's watchlist may hold; the rest are dropped with 4302.
    pub max_watchlist_size: usize,
    /// How long a cache channel keeps its last event, in seconds.
    pub cache_ttl: u64,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            id: "app-id".into(),
            key: "app-key".into(),
            secret: "app-secret".into(),
            enabled: true,
            client_events: true,
            user_auth_required: false,
            user_auth_timeout: 30,
            max_connections: 0,
            max_payload_kb: 10,
            max_channels_per_event: 100,
            max_batch_size: 10,
            max_channel_name_length: 200,
            max_event_name_length: 200,
            max_presence_members: 100,
            max_presence_user_info_kb: 1,
            max_client_events_per_sec: 10,
            max_channels_per_connection: 1000,
            max_watchlist_size: 100,
            cache_ttl: 1800,
        }
    }
}

impl AppConfig {
    pub fn max_payload_bytes(&self) -> usize {
        self.max_payload_kb * 1024
    }

    pub fn max_user_info_bytes(&self) -> usize {
        self.max_presence_user_info_kb * 1024
    }

    /// Whether this is the built-in development app, whose secret is public anyway.
    pub fn is_builtin_default(&self) -> bool {
        let d = Self::default();
        self.id == d.id && self.key == d.key && self.secret == d.secret
    }
}
