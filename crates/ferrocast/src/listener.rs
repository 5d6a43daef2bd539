//! The accept loop: plain TCP or TLS, a deadline on reading request headers and on the TLS
//! handshake (so slow clients cannot hold sockets open), then either a WebSocket upgrade,
//! answered on the socket (`ws::handshake`), or HTTP/1.1 through hyper with the peer address on
//! every request (`ConnectInfo`); and a graceful stop that lets in-flight requests finish.

use axum::extract::ConnectInfo;
use axum::Router;
use bytes::BytesMut;
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

use crate::state::Shared;
use crate::tls::Tls;
use crate::ws::handshake::{self, Io, Prefixed, Sniffed};

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
/// HTTP connections to finish their current request. With `upgrades`, a connection whose first
/// request is a WebSocket upgrade becomes a WebSocket of that server.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    listener: TcpListener,
    router: Router,
    upgrades: Option<Shared>,
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
        let upgrades = upgrades.clone();
        tokio::spawn(async move {
            let conn = Conn {
                peer,
                router,
                upgrades,
                limits,
                stop,
                guard,
            };
            match tls {
                None => conn.serve(Box::new(tcp)).await,
                Some(tls) => match tokio::time::timeout(
                    limits.header_read_timeout,
                    tls.acceptor().accept(tcp),
                )
                .await
                {
                    Ok(Ok(stream)) => conn.serve(Box::new(stream)).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
        });
    }
}

/// One accepted connection and what serving it needs.
struct Conn {
    peer: SocketAddr,
    router: Router,
    upgrades: Option<Shared>,
    limits: ConnectionLimits,
    stop: watch::Receiver<bool>,
    guard: InflightGuard,
}

impl Conn {
    async fn serve(mut self, mut io: Box<dyn Io>) {
        let Some(shared) = self.upgrades.take() else {
            return self.http(io).await;
        };
        let mut head = BytesMut::with_capacity(1024);
        let max = self.limits.max_header_bytes.max(8192);
        let sniffed = tokio::time::timeout(
            self.limits.header_read_timeout,
            handshake::sniff(&mut io, &mut head, max),
        )
        .await;
        match sniffed {
            Ok(Sniffed::Upgrade(req)) => {
                // A WebSocket is not an HTTP request in flight: a drain closes it instead. Its
                // own task, sized for the session alone (inside this one, every idle connection
                // held 2.4 KB more: bench/profile.md, "Fourth round").
                drop(self.guard);
                tokio::spawn(crate::ws::serve(io, head, req, self.peer, shared));
            }
            Ok(Sniffed::Http) => self.http(Prefixed::new(head, io)).await,
            Ok(Sniffed::Gone) => {}
            Err(_) => tracing::debug!(peer = %self.peer, "request head timed out"),
        }
    }

    async fn http<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        serve_http(io, self.peer, self.router, self.limits, self.stop).await;
    }
}

async fn serve_http<I>(
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
