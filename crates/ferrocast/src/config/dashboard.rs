//! Settings of the browser dashboard (`/dashboard`): whether it is served, how long a login
//! lasts, and how much of the live debug feed one viewer may receive.

use serde::{Deserialize, Serialize};

/// The `[dashboard]` table. The dashboard exists only when `admin_token` is set as well.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardConfig {
    /// Serve `/dashboard` (when `admin_token` is set).
    pub enabled: bool,
    /// Seconds a login lasts; the session is forgotten after it.
    pub session_ttl: u64,
    /// Debug-feed events one viewer receives per second at most; the excess is dropped and
    /// counted ("sampling active").
    pub feed_events_per_sec: u32,
    /// Mark the session cookie `Secure` even when the server itself does not terminate TLS
    /// (behind a TLS proxy). With `[tls]` it is always `Secure`.
    pub secure_cookie: bool,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            session_ttl: 8 * 3600,
            feed_events_per_sec: 100,
            secure_cookie: false,
        }
    }
}

impl DashboardConfig {
    pub(super) fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if self.session_ttl == 0 {
            return Err(("dashboard.session_ttl", "must be at least 1 second"));
        }
        if self.feed_events_per_sec == 0 {
            return Err(("dashboard.feed_events_per_sec", "must be at least 1"));
        }
        Ok(())
    }
}
