//! Apps (tenants): each app's settings and its live state on this node (channels, signed-in
//! users, connection count), found by key (every connection) or by id (every API call). Apps
//! never share state, so nothing leaks between them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::channels::users::Users;
use crate::channels::Registry;
use crate::config::AppConfig;

/// An app and its state on this node.
#[derive(Debug)]
pub struct App {
    pub config: AppConfig,
    pub channels: Registry,
    pub users: Users,
    connections: AtomicUsize,
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
    pub fn new(config: AppConfig) -> Self {
        Self {
            config,
            channels: Registry::default(),
            users: Users::default(),
            connections: AtomicUsize::new(0),
        }
    }

    /// Takes a connection slot, or `None` when the app is at `max_connections`.
    pub fn try_connect(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let max = self.config.max_connections;
        let prev = self.connections.fetch_add(1, Ordering::AcqRel);
        let slot = ConnectionSlot(self.clone());
        (max == 0 || prev < max).then_some(slot)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
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
    pub fn new(apps: &[AppConfig]) -> Self {
        let apps: Vec<Arc<App>> = apps
            .iter()
            .cloned()
            .map(|c| Arc::new(App::new(c)))
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
        let app = Arc::new(App::new(AppConfig {
            max_connections: 1,
            ..Default::default()
        }));
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
