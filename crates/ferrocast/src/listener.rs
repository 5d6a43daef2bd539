//! The accept loop: plain TCP or TLS, HTTP/1.1 with WebSocket upgrades, a deadline on reading
//! request headers and on the TLS handshake (so slow clients cannot hold sockets open), the
//! peer address on every request (`ConnectInfo`), and a graceful stop that lets in-flight
//! requests finish.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::tls::Tls;

/// Limits applied to every connection of a listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time allowed to send a request's headers (and the TLS handshake).
    pub header_read_timeout: Duration,
    /// Largest request head (line and headers) in bytes.
    pub max_header_bytes: usize,
}

/// Counts HTTP connections still being served, so a drain can wait for them.
#[derive(Debug, Default, Clone)]
pub struct Inflight(Arc<AtomicUsize>);

struct InflightGuard(Arc<AtomicUsize>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Inflight {
    fn enter(&self) -> InflightGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        InflightGuard(self.0.clone())
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// Serves `router` on `listener` until `stop` turns true; then stops accepting and asks open
/// HTTP connections to finish their current request.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<Tls>>,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
    inflight: Inflight,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stopped(&mut stop) => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let stop = stop.clone();
        let guard = inflight.enter();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _guard = guard;
            match tls {
                None => serve_connection(tcp, peer, router, limits, stop).await,
                Some(tls) => match tokio::time::timeout(
                    limits.header_read_timeout,
                    tls.acceptor().accept(tcp),
                )
                .await
                {
                    Ok(Ok(stream)) => serve_connection(stream, peer, router, limits, stop).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
        });
    }
}

async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = router.map_request(move |mut req: axum::http::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    let conn = builder
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "http connection ended with an error");
            }
            return;
        }
        _ = stopped(&mut stop) => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}

/// Resolves once `stop` is true. (The borrow `wait_for` returns is dropped here, so callers'
/// futures stay `Send`.)
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
