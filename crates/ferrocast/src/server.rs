//! Wiring: binds the listeners, builds the shared state and routers, starts the background
//! tasks (cache sweep, TLS reload), and runs until the shutdown future resolves. Then it drains:
//! every connection is told 4200, the listeners stay open for `drain_grace` answering not-ready,
//! then until the connections have closed (at most `shutdown_timeout`), in-flight HTTP requests
//! finish, and `run` returns.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::adapter::{Adapter, LocalAdapter, NatsAdapter, RedisAdapter};
use crate::apps::{Apps, StoreError};
use crate::config::{AdapterKind, ClusterConfig, Config};
use crate::listener::{self, ConnectionLimits, Inflight};
use crate::metrics::Metrics;
use crate::state::Shared;
use crate::tls::{Tls, TlsError};

/// How often expired cache-channel events are dropped.
const CACHE_SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How often recorded latency samples are folded into histogram buckets.
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("invalid cluster Redis settings: {0}")]
    Redis(String),
    #[error(transparent)]
    AppStore(#[from] StoreError),
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
}

/// The bus the configuration asks for.
fn adapter(cfg: &ClusterConfig) -> Result<Arc<dyn Adapter>, StartError> {
    Ok(match cfg.adapter {
        AdapterKind::Local => Arc::new(LocalAdapter),
        AdapterKind::Redis => Arc::new(RedisAdapter::new(cfg).map_err(StartError::Redis)?),
        AdapterKind::Nats => Arc::new(NatsAdapter::new(&cfg.nats_url, &cfg.prefix)),
    })
}

/// A bound, not yet running server.
pub struct Server {
    shared: Shared,
    listener: TcpListener,
    ops_listener: TcpListener,
    tls: Option<Arc<Tls>>,
}

/// Pending connections the kernel queues per listener: std's default (128) drops SYNs during
/// connect bursts, and each dropped SYN costs the client a one-second retry.
const LISTEN_BACKLOG: u32 = 4096;

async fn bind(host: &str, port: u16) -> Result<TcpListener, StartError> {
    let err = |source| StartError::Bind {
        addr: format!("{host}:{port}"),
        source,
    };
    let addr = tokio::net::lookup_host((host, port))
        .await
        .map_err(err)?
        .next()
        .ok_or_else(|| {
            err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no address",
            ))
        })?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(err)?;
    socket.set_reuseaddr(true).map_err(err)?;
    socket.bind(addr).map_err(err)?;
    socket.listen(LISTEN_BACKLOG).map_err(err)
}

impl Server {
    /// Binds the main and operations ports (0 picks free ones) and loads the TLS files.
    pub async fn bind(config: Config) -> Result<Self, StartError> {
        let tls = match &config.tls {
            Some(t) => Some(Tls::load(&t.cert_file, &t.key_file)?),
            None => None,
        };
        let listener = bind(&config.host, config.port).await?;
        let ops_listener = bind(&config.host, config.metrics_port).await?;
        let metrics = Arc::new(Metrics::default());
        let store = crate::apps::store::open(&config).await?;
        let apps = Arc::new(Apps::new(store.list().await?, metrics.clone()));
        let adapter = adapter(&config.cluster)?;
        let history = crate::history::open(&config).await?;
        Ok(Self {
            shared: Shared::new(config, apps, store, metrics, adapter, history),
            listener,
            ops_listener,
            tls,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn ops_addr(&self) -> std::io::Result<SocketAddr> {
        self.ops_listener.local_addr()
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Serves until `shutdown` resolves (or the drain is begun through `Shared::shutdown`), then
    /// drains and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            shared,
            listener,
            ops_listener,
            tls,
        } = self;
        let mut background = vec![tokio::spawn(sweep_caches(shared.clone()))];
        background.extend(shared.cluster.start());
        background.extend(shared.history.start());
        background.push(tokio::spawn(reload_apps(shared.clone())));
        background.push(tokio::spawn(metrics_upkeep(shared.clone())));
        background.extend(shared.webhooks.start(
            shared.apps.clone(),
            shared.cluster.clone(),
            crate::webhooks::open_occupancy(&shared.config.cluster, shared.cluster.node()),
        ));
        if let Some(tls) = &tls {
            background.push(tokio::spawn(tls.clone().watch()));
        }
        let signal = shared.clone();
        tokio::spawn(async move {
            shutdown.await;
            signal.shutdown.begin();
        });

        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(shared.config.header_read_timeout),
            max_header_bytes: shared.config.max_header_kb * 1024,
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let inflight = Inflight::default();
        let main = tokio::spawn(listener::serve(
            listener,
            crate::api::router(shared.clone()),
            Some(shared.clone()),
            tls,
            limits,
            stop_rx.clone(),
            inflight.clone(),
        ));
        let ops = tokio::spawn(listener::serve(
            ops_listener,
            crate::api::ops_router(shared.clone()),
            None,
            None,
            limits,
            stop_rx,
            inflight.clone(),
        ));

        shared.shutdown.wait().await;
        tracing::info!("draining: connections are told to reconnect elsewhere (4200)");
        tokio::time::sleep(Duration::from_secs(shared.config.drain_grace)).await;
        let deadline = Instant::now() + Duration::from_secs(shared.config.shutdown_timeout);
        wait_until(deadline, || {
            shared.apps.all().iter().all(|a| a.connections() == 0)
        })
        .await;
        stop_tx.send_replace(true);
        let _ = main.await;
        let _ = ops.await;
        wait_until(deadline, || inflight.count() == 0).await;
        // The last channel_vacated events came as the connections closed; queue them.
        shared.webhooks.stop().await;
        shared.cluster.leave();
        // Give the goodbye a moment to reach the broker before the tasks stop.
        tokio::time::sleep(Duration::from_millis(50)).await;
        for task in background {
            task.abort();
        }
        Ok(())
    }
}

/// Polls `done` until it holds or `deadline` passes.
async fn wait_until(deadline: Instant, done: impl Fn() -> bool) {
    while !done() {
        if Instant::now() >= deadline {
            tracing::warn!("shutdown timeout reached with work still in flight");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Picks up app changes made to the store by other means than this cluster's admin API.
async fn reload_apps(shared: Shared) {
    if shared.store.name() == "config" {
        return;
    }
    let mut tick =
        tokio::time::interval(Duration::from_millis(shared.config.apps_reload_ms.max(100)));
    loop {
        tick.tick().await;
        match shared.store.list().await {
            Ok(records) => {
                shared.apps.apply(records);
            }
            Err(e) => tracing::warn!(error = %e, "apps reload failed; keeping the current apps"),
        }
    }
}

async fn metrics_upkeep(shared: Shared) {
    let mut tick = tokio::time::interval(METRICS_UPKEEP_EVERY);
    loop {
        tick.tick().await;
        shared.metrics.upkeep();
    }
}

async fn sweep_caches(shared: Shared) {
    let mut tick = tokio::time::interval(CACHE_SWEEP_EVERY);
    loop {
        tick.tick().await;
        let now = Instant::now();
        for app in shared.apps.all() {
            app.channels.sweep_cache(now);
        }
    }
}
