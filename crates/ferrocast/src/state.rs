//! What every edge (WebSocket, HTTP API) shares: the configuration, the apps, the socket-id
//! generator and the drain signal.

use ferrocast_protocol::SocketId;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::adapter::Adapter;
use crate::apps::AppStore;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

#[derive(Clone)]
pub struct Shared {
    pub config: Arc<Config>,
    pub apps: Arc<dyn AppStore>,
    pub cluster: Arc<Cluster>,
    pub metrics: Arc<Metrics>,
    pub shutdown: Shutdown,
    /// Bounds concurrent WebSocket upgrades (`max_concurrent_handshakes`).
    pub handshakes: Arc<tokio::sync::Semaphore>,
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
        apps: Arc<dyn AppStore>,
        metrics: Arc<Metrics>,
        adapter: Arc<dyn Adapter>,
    ) -> Self {
        let node = rand::random_range(1..1_000_000_000u64);
        let cluster = Cluster::new(node, adapter, apps.clone(), config.cluster.clone());
        Self {
            handshakes: Arc::new(tokio::sync::Semaphore::new(
                config.max_concurrent_handshakes.max(1),
            )),
            config: Arc::new(config),
            apps,
            cluster,
            metrics,
            shutdown: Shutdown::default(),
            ids: Arc::new(SocketIds {
                node,
                next: AtomicU64::new(1),
            }),
        }
    }

    pub fn next_socket_id(&self) -> SocketId {
        SocketId::new(self.ids.node, self.ids.next.fetch_add(1, Ordering::Relaxed))
    }
}
