//! Wiring: binds the listeners, builds the shared state and routers, starts the background
//! tasks, and runs until the shutdown future resolves, then drains (4200 to every connection)
//! within `shutdown_timeout`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::apps::{AppStore, StaticApps};
use crate::config::Config;
use crate::state::Shared;

/// How often expired cache-channel events are dropped.
const CACHE_SWEEP_EVERY: Duration = Duration::from_secs(60);

/// A bound, not yet running server.
pub struct Server {
    shared: Shared,
    listener: TcpListener,
    ops_listener: TcpListener,
}

impl Server {
    /// Binds the main and operations ports (0 picks free ones).
    pub async fn bind(config: Config) -> std::io::Result<Self> {
        let listener = TcpListener::bind((config.host.as_str(), config.port)).await?;
        let ops_listener = TcpListener::bind((config.host.as_str(), config.metrics_port)).await?;
        let apps: Arc<dyn AppStore> = Arc::new(StaticApps::new(&config.apps));
        Ok(Self {
            shared: Shared::new(config, apps),
            listener,
            ops_listener,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn ops_addr(&self) -> std::io::Result<SocketAddr> {
        self.ops_listener.local_addr()
    }

    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Serves until `shutdown` resolves (or the drain is begun through `Shared::shutdown`), then
    /// drains: the listeners stay open for `drain_grace` and until the connections have closed
    /// (at most `shutdown_timeout`), in-flight requests finish, and it returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            shared,
            listener,
            ops_listener,
        } = self;
        let sweeper = tokio::spawn(sweep_caches(shared.clone()));
        let signal = shared.clone();
        tokio::spawn(async move {
            shutdown.await;
            signal.shutdown.begin();
        });
        let (drained_tx, drained_rx) = watch::channel(false);
        let draining = shared.clone();
        tokio::spawn(async move {
            draining.shutdown.wait().await;
            tracing::info!("draining: connections are told to reconnect elsewhere (4200)");
            tokio::time::sleep(Duration::from_secs(draining.config.drain_grace)).await;
            wait_for_connections(&draining).await;
            drained_tx.send_replace(true);
        });
        let drained = move || {
            let mut rx = drained_rx.clone();
            async move {
                let _ = rx.wait_for(|d| *d).await;
            }
        };
        let ops = axum::serve(ops_listener, crate::api::ops_router(shared.clone()))
            .with_graceful_shutdown(drained());
        let ops = tokio::spawn(async move { ops.await });
        axum::serve(listener, crate::api::router(shared.clone()))
            .with_graceful_shutdown(drained())
            .await?;
        sweeper.abort();
        let _ = ops.await;
        Ok(())
    }
}

/// Waits until every connection has closed, or `shutdown_timeout` has passed.
async fn wait_for_connections(shared: &Shared) {
    let deadline = Instant::now() + Duration::from_secs(shared.config.shutdown_timeout);
    while Instant::now() < deadline {
        if shared.apps.all().iter().all(|a| a.connections() == 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::warn!("shutdown timeout reached with connections still open");
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
