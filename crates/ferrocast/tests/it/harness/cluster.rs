//! Several real nodes sharing the machine's Redis or NATS, each test under its own topic
//! prefix so tests run in parallel; and a TCP proxy whose connections can be cut, to take the
//! broker away from nodes without touching the shared broker itself.

use ferrocast::config::{AdapterKind, AppConfig, Config};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::{config, eventually_async, TestServer};

pub const REDIS: &str = "127.0.0.1:6379";
pub const NATS: &str = "127.0.0.1:4222";

/// A topic prefix no other test uses.
pub fn unique_prefix() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "fctest-{}-{t}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A config for one node on `adapter` at `addr` (host:port), with fast heartbeats.
pub fn node_config(adapter: AdapterKind, addr: &str, prefix: &str, apps: Vec<AppConfig>) -> Config {
    let mut cfg = config(apps);
    cfg.cluster.adapter = adapter;
    cfg.cluster.redis_url = format!("redis://{addr}");
    cfg.cluster.nats_url = format!("nats://{addr}");
    cfg.cluster.prefix = prefix.to_owned();
    cfg.cluster.heartbeat_ms = 200;
    cfg.cluster.node_timeout_ms = 1500;
    cfg.cluster.request_timeout_ms = 2000;
    cfg
}

/// Starts `n` nodes and waits until each has heard from every other one.
pub async fn nodes(
    adapter: AdapterKind,
    addr: &str,
    prefix: &str,
    apps: Vec<AppConfig>,
    n: usize,
) -> Vec<TestServer> {
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(TestServer::with_config(node_config(adapter, addr, prefix, apps.clone())).await);
    }
    wait_meshed(&nodes).await;
    nodes
}

pub async fn wait_meshed(nodes: &[TestServer]) {
    let want = nodes.len() - 1;
    eventually_async("the nodes to hear each other", || async {
        nodes
            .iter()
            .all(|s| s.shared.cluster.is_connected() && s.shared.cluster.peers().len() == want)
    })
    .await;
}

/// A TCP proxy to `upstream` whose connections can be cut and later allowed again.
pub struct Proxy {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let addr = listener.local_addr().expect("addr");
        let open = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let upstream = upstream.to_owned();
        let (o, c) = (open.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !o.load(Ordering::Acquire) {
                    continue; // dropped: the connection is refused
                }
                let Ok(mut server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let task = tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                c.lock().expect("conns").push(task);
            }
        });
        Self {
            addr,
            open,
            conns,
            accept,
        }
    }

    /// Drops every proxied connection and refuses new ones: the broker is gone.
    pub fn cut(&self) {
        self.open.store(false, Ordering::Release);
        for t in self.conns.lock().expect("conns").drain(..) {
            t.abort();
        }
    }

    pub fn restore(&self) {
        self.open.store(true, Ordering::Release);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

pub const SLOW: Duration = Duration::from_secs(10);
