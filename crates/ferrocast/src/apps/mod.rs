//! Apps (tenants): each app's settings and its live state on this node (channels, signed-in
//! users, connection count, metric handles), found by key (every connection) or by id (every
//! API call) in the live set, `Apps`. Records come from an `AppStore` (`store.rs`); when a
//! record changes, the app keeps its live state and only its settings are swapped, so a change
//! takes effect on running connections. Apps never share state, so nothing leaks between them.

pub mod edit;
pub mod records;
pub mod sql;
pub mod store;

pub use store::{AppStore, ConfigStore, StoreError};

use ferrocast_protocol::ErrorCode;
use ferrocast_protocol::SocketId;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use crate::outbox::SessionHandle;

use crate::channels::users::Users;
use crate::channels::Registry;
use crate::config::AppConfig;
use crate::debug_feed::DebugTap;
use crate::metrics::{AppMetrics, Metrics};

/// An app's current settings, with the rate limiters built from them.
#[derive(Debug)]
pub struct Settings {
    pub config: AppConfig,
    /// GCRA limit on events published through the HTTP API (one cell per target channel).
    pub backend_events: Option<DefaultDirectRateLimiter>,
    /// GCRA limit on HTTP API read requests.
    pub read_requests: Option<DefaultDirectRateLimiter>,
}

impl Settings {
    fn new(config: AppConfig) -> Self {
        Self {
            backend_events: per_second(config.max_backend_events_per_sec),
            read_requests: per_second(config.max_read_requests_per_sec),
            config,
        }
    }
}

impl Deref for Settings {
    type Target = AppConfig;

    fn deref(&self) -> &AppConfig {
        &self.config
    }
}

/// An app and its state on this node.
#[derive(Debug)]
pub struct App {
    /// The app id, fixed for the app's life.
    pub id: String,
    settings: RwLock<Arc<Settings>>,
    pub channels: Registry,
    pub users: Users,
    pub metrics: AppMetrics,
    /// What happens to the app, for the dashboard's debug console (free while unwatched).
    pub debug: Arc<DebugTap>,
    connections: AtomicUsize,
    /// This node's open connections, to close them when the app is disabled or deleted.
    sessions: Mutex<HashMap<SocketId, SessionHandle>>,
    /// Connections on the other nodes of the cluster, from their heartbeats.
    remote_connections: AtomicUsize,
}

/// A per-second GCRA limiter allowing a burst of one second's worth; `None` when unlimited.
pub fn per_second(n: u32) -> Option<DefaultDirectRateLimiter> {
    NonZeroU32::new(n).map(|n| RateLimiter::direct(Quota::per_second(n)))
}

/// Holds one of an app's connection slots; gives it back when dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    app: Arc<App>,
    socket: Option<SocketId>,
}

impl ConnectionSlot {
    /// Records the connection that holds the slot, so the app can close it.
    pub fn attach(&mut self, handle: &SessionHandle) {
        self.socket = Some(handle.socket_id);
        lock(&self.app.sessions).insert(handle.socket_id, handle.clone());
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Some(id) = self.socket {
            lock(&self.app.sessions).remove(&id);
        }
        self.app.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl App {
    pub fn new(config: AppConfig, metrics: &Metrics) -> Self {
        Self {
            id: config.id.clone(),
            metrics: metrics.app(&config.id),
            settings: RwLock::new(Arc::new(Settings::new(config))),
            channels: Registry::default(),
            users: Users::default(),
            debug: Arc::default(),
            connections: AtomicUsize::new(0),
            sessions: Mutex::default(),
            remote_connections: AtomicUsize::new(0),
        }
    }

    /// The current settings (cheap: a shared pointer).
    pub fn config(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, config: AppConfig) {
        *self
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(Settings::new(config));
    }

    /// Takes a connection slot, or `None` when the app is at `max_connections` across the
    /// cluster (other nodes' counts are as fresh as their last heartbeat).
    pub fn try_connect(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let max = self.config().max_connections;
        let prev = self.connections.fetch_add(1, Ordering::AcqRel);
        let slot = ConnectionSlot {
            app: self.clone(),
            socket: None,
        };
        let elsewhere = self.remote_connections.load(Ordering::Acquire);
        (max == 0 || prev + elsewhere < max).then_some(slot)
    }

    /// Connections on this node.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    pub fn local_connections(&self) -> usize {
        self.connections()
    }

    pub fn set_remote_connections(&self, n: usize) {
        self.remote_connections.store(n, Ordering::Release);
    }

    /// Closes every connection of this app with `code`.
    fn close_all(&self, code: ErrorCode, message: &'static str) {
        let sessions: Vec<SessionHandle> = lock(&self.sessions).values().cloned().collect();
        for socket in sessions {
            socket.close(code, message);
        }
    }
}

#[derive(Debug, Default)]
struct Live {
    by_id: HashMap<String, Arc<App>>,
    by_key: HashMap<String, Arc<App>>,
}

/// What applying a new set of records changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
}

/// The live set of apps on this node. Lookups never touch the store.
#[derive(Debug)]
pub struct Apps {
    live: RwLock<Live>,
    metrics: Arc<Metrics>,
}

impl Apps {
    pub fn new(configs: Vec<AppConfig>, metrics: Arc<Metrics>) -> Self {
        let apps = Self {
            live: RwLock::default(),
            metrics,
        };
        apps.apply(configs);
        apps
    }

    /// The server's metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn by_key(&self, key: &str) -> Option<Arc<App>> {
        self.live
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_key
            .get(key)
            .cloned()
    }

    pub fn by_id(&self, id: &str) -> Option<Arc<App>> {
        self.live
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_id
            .get(id)
            .cloned()
    }

    pub fn all(&self) -> Vec<Arc<App>> {
        self.live
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_id
            .values()
            .cloned()
            .collect()
    }

    /// Makes the live set exactly `configs`. Apps that stay keep their connections; an app that
    /// is disabled has its connections closed with 4003, and a removed one with 4001.
    pub fn apply(&self, configs: Vec<AppConfig>) -> Applied {
        let mut applied = Applied::default();
        let mut closing: Vec<(Arc<App>, ErrorCode, &'static str)> = Vec::new();
        {
            let mut live = self.live.write().unwrap_or_else(PoisonError::into_inner);
            let mut next = Live::default();
            for config in configs {
                let app = match live.by_id.remove(&config.id) {
                    Some(app) => {
                        let before = app.config();
                        if before.config != config {
                            if before.enabled && !config.enabled {
                                closing.push((
                                    app.clone(),
                                    ErrorCode::AppDisabled,
                                    "Application was disabled",
                                ));
                            }
                            app.replace(config);
                            applied.updated += 1;
                        }
                        app
                    }
                    None => {
                        applied.added += 1;
                        Arc::new(App::new(config, &self.metrics))
                    }
                };
                next.by_key.insert(app.config().key.clone(), app.clone());
                next.by_id.insert(app.id.clone(), app);
            }
            for (_, gone) in live.by_id.drain() {
                applied.removed += 1;
                closing.push((gone, ErrorCode::AppNotFound, "Application was deleted"));
            }
            *live = next;
        }
        for (app, code, message) in closing {
            app.close_all(code, message);
        }
        applied
    }
}

#[cfg(test)]
mod tests;
