//! Apps (tenants): each app's settings and its live state on this node (channels, signed-in
//! users, connection count, rate limiters, metric handles), found by key (every connection) or
//! by id (every API call). Apps never share state, so nothing leaks between them.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::channels::users::Users;
use crate::channels::Registry;
use crate::config::AppConfig;
use crate::metrics::{AppMetrics, Metrics};

/// An app and its state on this node.
#[derive(Debug)]
pub struct App {
    pub config: AppConfig,
    pub channels: Registry,
    pub users: Users,
    pub metrics: AppMetrics,
    /// GCRA limit on events published through the HTTP API (one cell per target channel).
    pub backend_events: Option<DefaultDirectRateLimiter>,
    /// GCRA limit on HTTP API read requests.
    pub read_requests: Option<DefaultDirectRateLimiter>,
    connections: AtomicUsize,
    /// Connections on the other nodes of the cluster, from their heartbeats.
    remote_connections: AtomicUsize,
}

/// A per-second GCRA limiter allowing a burst of one second's worth; `None` when unlimited.
pub fn per_second(n: u32) -> Option<DefaultDirectRateLimiter> {
    NonZeroU32::new(n).map(|n| RateLimiter::direct(Quota::per_second(n)))
}

/// Holds one of an app's connection slots; gives it back when dropped.
#[derive(Debug)]
pub struct ConnectionSlot(Arc<App>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

impl App {
    pub fn new(config: AppConfig, metrics: &Metrics) -> Self {
        Self {
            metrics: metrics.app(&config.id),
            backend_events: per_second(config.max_backend_events_per_sec),
            read_requests: per_second(config.max_read_requests_per_sec),
            config,
            channels: Registry::default(),
            users: Users::default(),
            connections: AtomicUsize::new(0),
            remote_connections: AtomicUsize::new(0),
        }
    }

    /// Takes a connection slot, or `None` when the app is at `max_connections` across the
    /// cluster (other nodes' counts are as fresh as their last heartbeat).
    pub fn try_connect(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let max = self.config.max_connections;
        let prev = self.connections.fetch_add(1, Ordering::AcqRel);
        let slot = ConnectionSlot(self.clone());
        let elsewhere = self.remote_connections.load(Ordering::Acquire);
        (max == 0 || prev + elsewhere < max).then_some(slot)
    }

    /// Connections on this node.
    pub fn connections(&self) -> usize {
        self.local_connections()
    }

    pub fn local_connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    pub fn set_remote_connections(&self, n: usize) {
        self.remote_connections.store(n, Ordering::Release);
    }
}

/// Where apps come from. Lookups are on the hot path and must not block.
pub trait AppStore: Send + Sync + 'static {
    fn by_key(&self, key: &str) -> Option<Arc<App>>;
    fn by_id(&self, id: &str) -> Option<Arc<App>>;
    fn all(&self) -> Vec<Arc<App>>;
}

/// The apps listed in the configuration, fixed for the process's life.
#[derive(Debug)]
pub struct StaticApps {
    by_key: HashMap<String, Arc<App>>,
    by_id: HashMap<String, Arc<App>>,
}

impl StaticApps {
    pub fn new(apps: &[AppConfig], metrics: &Metrics) -> Self {
        let apps: Vec<Arc<App>> = apps
            .iter()
            .cloned()
            .map(|c| Arc::new(App::new(c, metrics)))
            .collect();
        Self {
            by_key: apps
                .iter()
                .map(|a| (a.config.key.clone(), a.clone()))
                .collect(),
            by_id: apps
                .iter()
                .map(|a| (a.config.id.clone(), a.clone()))
                .collect(),
        }
    }
}

impl AppStore for StaticApps {
    fn by_key(&self, key: &str) -> Option<Arc<App>> {
        self.by_key.get(key).cloned()
    }

    fn by_id(&self, id: &str) -> Option<Arc<App>> {
        self.by_id.get(id).cloned()
    }

    fn all(&self) -> Vec<Arc<App>> {
        self.by_id.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_slots_respect_the_limit_and_are_returned() {
        let config = AppConfig {
            max_connections: 1,
            ..Default::default()
        };
        let app = Arc::new(App::new(config, &Metrics::default()));
        let first = app.try_connect().expect("first fits");
        assert!(app.try_connect().is_none());
        assert_eq!(
            app.connections(),
            1,
            "a refused attempt gives its slot back"
        );
        drop(first);
        assert_eq!(app.connections(), 0);
        assert!(app.try_connect().is_some());
    }
}
