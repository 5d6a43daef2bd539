//! One app's settings: credentials, switches and limits. Defaults are Pusher's own limits.

use serde::{Deserialize, Serialize};

use super::hooks::HooksConfig;
use super::webhooks::WebhookEndpoint;

/// An app (tenant): its credentials, what it allows and its limits. `0` means "no limit"
/// where a limit says so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    pub id: String,
    pub key: String,
    pub secret: String,
    /// The secret before the last rotation, still accepted until `previous_secret_expires_at`.
    pub previous_secret: Option<String>,
    /// Unix time (seconds) after which `previous_secret` is refused.
    pub previous_secret_expires_at: Option<u64>,
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
    /// Events the HTTP API may publish per second, counting one per target channel (429
    /// above); 0 = unlimited.
    pub max_backend_events_per_sec: u32,
    /// HTTP API read requests (GET) per second (429 above); 0 = unlimited.
    pub max_read_requests_per_sec: u32,
    /// Origins allowed to open WebSockets, e.g. `https://app.example.com` or
    /// `https://*.example.com`; empty allows any (and clients that send no Origin).
    pub allowed_origins: Vec<String>,
    /// Channels one connection may subscribe to at once.
    pub max_channels_per_connection: usize,
    /// Ids a sign-in's watchlist may hold; the rest are dropped with 4302.
    pub max_watchlist_size: usize,
    /// How long a cache channel keeps its last event, in seconds.
    pub cache_ttl: u64,
    /// Channels whose events are kept for recovery and the history API; the first matching
    /// rule applies (docs/history.md).
    pub history: Vec<super::HistoryRule>,
    /// Where this app's webhooks go (`[[apps.webhooks]]`).
    pub webhooks: Vec<WebhookEndpoint>,
    /// Server hooks (`[apps.hooks]`): the app decides on connections, subscriptions and client
    /// events.
    pub hooks: HooksConfig,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            id: "app-id".into(),
            key: "app-key".into(),
            secret: "app-secret".into(),
            previous_secret: None,
            previous_secret_expires_at: None,
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
            max_backend_events_per_sec: 0,
            max_read_requests_per_sec: 0,
            allowed_origins: Vec::new(),
            max_channels_per_connection: 1000,
            max_watchlist_size: 100,
            cache_ttl: 1800,
            history: Vec::new(),
            webhooks: Vec::new(),
            hooks: HooksConfig::default(),
        }
    }
}

/// The largest size setting in KiB (1 GiB), so `kb * 1024` never overflows.
pub(super) const MAX_KB: usize = 1 << 20;

impl AppConfig {
    pub fn max_payload_bytes(&self) -> usize {
        self.max_payload_kb * 1024
    }

    pub fn max_user_info_bytes(&self) -> usize {
        self.max_presence_user_info_kb * 1024
    }

    /// Checks one app's settings on their own; the error names the field and says why.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        for (name, value) in [
            ("id", &self.id),
            ("key", &self.key),
            ("secret", &self.secret),
        ] {
            if value.is_empty() {
                return Err((name, "must not be empty"));
            }
        }
        let url_safe = |v: &str| {
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        if !url_safe(&self.id) {
            return Err(("id", "may only hold A-Z a-z 0-9 - _ ."));
        }
        if !url_safe(&self.key) {
            return Err(("key", "may only hold A-Z a-z 0-9 - _ ."));
        }
        if self.max_channel_name_length == 0 {
            return Err(("max_channel_name_length", "must be at least 1"));
        }
        if self.max_event_name_length == 0 {
            return Err(("max_event_name_length", "must be at least 1"));
        }
        if self.max_payload_kb == 0 {
            return Err(("max_payload_kb", "must be at least 1"));
        }
        if self.max_channels_per_event == 0 {
            return Err(("max_channels_per_event", "must be at least 1"));
        }
        if self.max_batch_size == 0 {
            return Err(("max_batch_size", "must be at least 1"));
        }
        // Sizes are multiplied by 1024; far below where that could overflow.
        if self.max_payload_kb > MAX_KB {
            return Err(("max_payload_kb", "must be at most 1048576 (1 GiB)"));
        }
        if self.max_presence_user_info_kb > MAX_KB {
            return Err((
                "max_presence_user_info_kb",
                "must be at most 1048576 (1 GiB)",
            ));
        }
        for rule in &self.history {
            rule.validate().map_err(|reason| ("history", reason))?;
        }
        for hook in &self.webhooks {
            hook.validate().map_err(|reason| ("webhooks", reason))?;
        }
        self.hooks.validate()?;
        Ok(())
    }

    /// The history rule of `channel`, if its events are kept.
    pub fn history_rule(&self, channel: &str) -> Option<&super::HistoryRule> {
        self.history.iter().find(|r| r.matches(channel))
    }

    /// Whether `check` accepts the current secret, or the previous one while its rotation window
    /// lasts (`now` in unix seconds). Every secret is tried, so timing does not tell which.
    pub fn any_secret(&self, now: u64, check: impl Fn(&str) -> bool) -> bool {
        let current = check(&self.secret);
        let previous = match (&self.previous_secret, self.previous_secret_expires_at) {
            (Some(p), Some(until)) if now <= until => check(p),
            _ => false,
        };
        current | previous
    }

    /// Whether a WebSocket from `origin` may connect.
    pub fn origin_allowed(&self, origin: Option<&str>) -> bool {
        if self.allowed_origins.is_empty() {
            return true;
        }
        let Some(origin) = origin else { return false };
        self.allowed_origins
            .iter()
            .any(|allowed| origin_matches(allowed, origin))
    }

    /// Whether this is the built-in development app, whose secret is public anyway.
    pub fn is_builtin_default(&self) -> bool {
        let d = Self::default();
        self.id == d.id && self.key == d.key && self.secret == d.secret
    }
}

/// `allowed` is an exact origin, `*`, or a scheme with a `*.` host wildcard
/// (`https://*.example.com` matches `https://a.example.com` but not `https://example.com`).
fn origin_matches(allowed: &str, origin: &str) -> bool {
    if allowed == "*" || allowed.eq_ignore_ascii_case(origin) {
        return true;
    }
    match allowed.split_once("://*.") {
        Some((scheme, domain)) => origin.split_once("://").is_some_and(|(s, host)| {
            s.eq_ignore_ascii_case(scheme)
                && host
                    .to_ascii_lowercase()
                    .ends_with(&format!(".{}", domain.to_ascii_lowercase()))
        }),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_exactly_or_by_subdomain_wildcard() {
        let rotating = AppConfig {
            secret: "new".into(),
            previous_secret: Some("old".into()),
            previous_secret_expires_at: Some(100),
            ..Default::default()
        };
        assert!(
            rotating.any_secret(100, |s| s == "old"),
            "old secret inside the window"
        );
        assert!(
            !rotating.any_secret(101, |s| s == "old"),
            "old secret after the window"
        );
        assert!(rotating.any_secret(101, |s| s == "new"));
        let app = AppConfig {
            allowed_origins: vec![
                "https://app.example.com".into(),
                "https://*.example.org".into(),
            ],
            ..Default::default()
        };
        assert!(app.origin_allowed(Some("https://app.example.com")));
        assert!(app.origin_allowed(Some("https://a.b.example.org")));
        assert!(!app.origin_allowed(Some("https://example.org")));
        assert!(!app.origin_allowed(Some("http://a.example.org")));
        assert!(!app.origin_allowed(Some("https://evil-example.org")));
        assert!(!app.origin_allowed(None));
        assert!(
            AppConfig::default().origin_allowed(None),
            "no list allows everyone"
        );
    }
}
