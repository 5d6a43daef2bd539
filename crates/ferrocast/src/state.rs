//! What every edge (WebSocket, HTTP API) shares: the configuration, the apps, the cluster, the
//! history, the socket-id generator and the drain signal.

use ferrocast_protocol::SocketId;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::adapter::Adapter;
use crate::apps::{AppStore, Apps, StoreError};
use crate::cluster::Cluster;
use crate::config::Config;
use crate::dashboard::Dashboard;
use crate::history::{self, History};
use crate::hooks::Hooks;
use crate::metrics::Metrics;
use crate::peers::PeerLimits;
use crate::shutdown::Shutdown;
use crate::webhooks::Webhooks;

#[derive(Clone)]
pub struct Shared {
    pub config: Arc<Config>,
    pub apps: Arc<Apps>,
    /// Where app records are kept; `apps` is loaded from it.
    pub store: Arc<dyn AppStore>,
    pub cluster: Arc<Cluster>,
    /// Channel history: stores events of history channels, serves recovery and the API.
    pub history: Arc<History>,
    pub metrics: Arc<Metrics>,
    pub shutdown: Shutdown,
    /// Where the socket path reports webhook events.
    pub webhooks: Webhooks,
    /// The client of the apps' server hooks.
    pub hooks: Hooks,
    /// Bounds concurrent WebSocket upgrades (`max_concurrent_handshakes`).
    pub handshakes: Arc<tokio::sync::Semaphore>,
    /// WebSockets per client address (`clients.max_connections_per_ip`).
    pub peers: Arc<PeerLimits>,
    /// Dashboard sessions and login limits.
    pub dashboard: Arc<Dashboard>,
    ids: Arc<SocketIds>,
}

/// Socket ids unique on this node: a random node number, then a counter.
#[derive(Debug)]
struct SocketIds {
    node: u64,
    next: AtomicU64,
}

impl Shared {
    /// The node's shared state; its id (the first half of every socket id) is random.
    pub fn new(
        config: Config,
        apps: Arc<Apps>,
        store: Arc<dyn AppStore>,
        metrics: Arc<Metrics>,
        adapter: Arc<dyn Adapter>,
        history: history::Opened,
    ) -> Self {
        let node = rand::random_range(1..1_000_000_000u64);
        let cluster = Cluster::new(
            node,
            adapter,
            apps.clone(),
            store.clone(),
            config.cluster.clone(),
        );
        let history = History::new(history, cluster.clone());
        let webhooks = Webhooks::new(&config, node, metrics.webhooks());
        Self {
            history,
            webhooks,
            hooks: Hooks::default(),
            handshakes: Arc::new(tokio::sync::Semaphore::new(
                config.max_concurrent_handshakes.max(1),
            )),
            peers: Arc::new(PeerLimits::new(&config.clients)),
            dashboard: Arc::new(Dashboard::new(&config)),
            config: Arc::new(config),
            apps,
            store,
            cluster,
            metrics,
            shutdown: Shutdown::default(),
            ids: Arc::new(SocketIds {
                node,
                next: AtomicU64::new(1),
            }),
        }
    }

    /// Reloads the apps from the store here, and asks every other node to do the same.
    pub async fn reload_apps(&self) -> Result<(), StoreError> {
        let applied = self.apps.apply(self.store.list().await?);
        tracing::info!(?applied, "apps reloaded");
        self.cluster.apps_changed();
        Ok(())
    }

    pub fn next_socket_id(&self) -> SocketId {
        SocketId::new(self.ids.node, self.ids.next.fetch_add(1, Ordering::Relaxed))
    }
}
