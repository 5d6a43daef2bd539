//! The test harness: a real server in-process on 127.0.0.1:0, a WebSocket client whose every
//! wait has a deadline, and an HTTP API client that signs like the official SDKs.

mod api;
pub mod cluster;
pub mod dashboard;
pub mod history;
pub mod process;
pub mod raw;
pub mod receiver;
mod ws;

pub use api::{assert_error, http_get, now, sign_exact, ApiClient};
pub use ws::{watchlist_events, Frame, WsClient};

use ferrocast::config::{AppConfig, Config};
use ferrocast::state::Shared;
use ferrocast::Server;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long any single wait in a test may take.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// The app most tests use.
pub fn test_app() -> AppConfig {
    AppConfig {
        id: "test-app".into(),
        key: "test-key".into(),
        secret: "test-secret".into(),
        ..Default::default()
    }
}

/// A config serving `apps` on loopback with ephemeral ports.
pub fn config(apps: Vec<AppConfig>) -> Config {
    Config {
        host: "127.0.0.1".into(),
        port: 0,
        metrics_port: 0,
        apps,
        drain_grace: 0,
        // Tests keep apps and history in memory unless they test a store.
        app_store: "config".into(),
        history: ferrocast::config::HistoryConfig {
            store: ferrocast::config::HistoryStoreKind::Memory,
            ..Default::default()
        },
        shutdown_timeout: 3,
        ..Default::default()
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub ops_addr: SocketAddr,
    pub shared: Shared,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Starts a server with the one test app.
    pub async fn start() -> Self {
        Self::with_config(config(vec![test_app()])).await
    }

    pub async fn with_app(app: AppConfig) -> Self {
        Self::with_config(config(vec![app])).await
    }

    pub async fn with_config(cfg: Config) -> Self {
        let server = Server::bind(cfg).await.expect("bind");
        let addr = server.local_addr().expect("addr");
        let ops_addr = server.ops_addr().expect("ops addr");
        let shared = server.shared().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            ops_addr,
            shared,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn ws_url(&self, key: &str, query: &str) -> String {
        format!("ws://{}/app/{key}?{query}", self.addr)
    }

    /// Connects with protocol 7 to the app with `key` and reads connection_established.
    pub async fn connect(&self, key: &str) -> WsClient {
        WsClient::connect(&self.ws_url(key, "protocol=7&client=js&version=8.4.0")).await
    }

    pub fn api(&self, app: &AppConfig) -> ApiClient {
        ApiClient::new(format!("http://{}", self.addr), app.clone())
    }

    /// Starts draining and waits for the server to return.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let r = tokio::time::timeout(Duration::from_secs(10), task).await;
            assert!(
                matches!(r, Ok(Ok(Ok(())))),
                "server did not stop cleanly: {r:?}"
            );
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A fresh directory under the system temp dir (a server's `data_dir`).
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrocast-{name}-{}", cluster::unique_prefix()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Polls `f` until it returns true or the deadline passes.
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + DEADLINE;
    while !f() {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls the async check `f` until it returns true, within a longer deadline (cluster work
/// crosses a broker and waits for heartbeats).
pub async fn eventually_async<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + Duration::from_secs(15);
    while !f().await {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
