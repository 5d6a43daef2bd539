//! The WebSocket edge: `GET /app/{key}?protocol=7` is checked (draining, app, origin, protocol
//! version, connections per client address, connection quota, concurrent handshakes) and
//! upgraded into a session, or upgraded only to be told the Pusher error code and closed, which
//! is how pusher-js learns why. The handshake itself is `handshake.rs`, on the listener's
//! socket.

mod close;
mod connection;
#[cfg(feature = "autobahn-echo")]
pub mod echo;
pub mod handshake;
mod heartbeat;
mod session;
mod wire;
mod writer;

use bytes::BytesMut;
use ferrocast_protocol::{ErrorCode, SUPPORTED_PROTOCOLS};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::sync::OwnedSemaphorePermit;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::api::error::ApiError;
use crate::apps::{App, ConnectionSlot};
use crate::config::Config;
use crate::peers::PeerSlot;
use crate::state::Shared;
use handshake::{Io, Prefixed, UpgradeRequest};

/// Read buffer per connection, and what tungstenite buffers of its own writes (pongs, Close
/// echoes). Small, because idle connections are the common case; it grows for large messages
/// and shrinks back.
const SOCKET_BUFFER: usize = 4 * 1024;

/// Why a connection is refused: the Pusher code and a message for the client.
struct Refusal {
    code: ErrorCode,
    message: String,
    app: String,
}

impl Refusal {
    fn new(code: ErrorCode) -> Self {
        Self {
            code,
            message: code.message().to_owned(),
            app: String::new(),
        }
    }

    fn for_app(mut self, app: &App) -> Self {
        self.app = app.id.clone();
        self
    }
}

/// Answers an upgrade request the listener read from `io` (`read` holds the bytes it read):
/// `/app/{key}` becomes a session, or is told the Pusher error code and closed, which is how
/// pusher-js learns why; any other path is told 4005 so clients stop retrying.
pub async fn serve(
    mut io: Box<dyn Io>,
    read: BytesMut,
    req: UpgradeRequest,
    peer: SocketAddr,
    shared: Shared,
) {
    let permit = match handshake_permit(&shared) {
        Ok(p) => p,
        Err(busy) => {
            let _ = io.write_all(&handshake::error_response(&busy)).await;
            return;
        }
    };
    let io = Prefixed::new(read, io).write_first(req.response());
    #[cfg(feature = "autobahn-echo")]
    if req.path == echo::PATH {
        drop(permit);
        let mut io = io;
        // The echo speaks only when spoken to, and the client waits for the 101 first.
        let _ = io.flush().await;
        return echo::echo(io, &shared.config).await;
    }
    let Some(key) = req.path.strip_prefix("/app/").filter(|k| !k.contains('/')) else {
        drop(permit);
        let code = ErrorCode::PathNotFound;
        return session::refuse(io, &shared.config, code, code.message().to_owned()).await;
    };
    let key = crate::url_parts::percent_decode(key);
    let protocol = req.query.as_deref().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "protocol")
            .map(|(_, v)| v.into_owned())
    });
    let origin = req
        .headers
        .get(axum::http::header::ORIGIN)
        .and_then(|o| o.to_str().ok());
    let client = shared.peers.client_ip(peer, &req.headers);
    let admitted = admit(&shared, &key, protocol.as_deref(), origin, client);
    // The connect hook and, while someone watches, the debug feed are told the origin.
    let origin = origin.map(str::to_owned);
    drop(req);
    drop(permit);
    match admitted {
        Ok((app, slot, peer_slot)) => {
            session::run(io, shared, app, slot, origin).await;
            drop(peer_slot);
        }
        Err(r) => {
            tracing::debug!(code = r.code.code(), app = %r.app, %client, "connection refused");
            shared.metrics.connection_refused(&r.app, r.code.code());
            session::refuse(io, &shared.config, r.code, r.message).await;
        }
    }
}

/// One of the `max_concurrent_handshakes` slots, held until the connection is admitted or
/// refused; beyond the limit, a 503 at the HTTP level so a handshake flood costs as little as
/// possible.
fn handshake_permit(shared: &Shared) -> Result<OwnedSemaphorePermit, ApiError> {
    shared
        .handshakes
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Busy)
}

/// The WebSocket settings of every connection the server accepts: buffer sizes and the frame
/// and message caps. The one place they are set, so the Autobahn echo tests what clients get.
fn config(config: &Config) -> WebSocketConfig {
    let max = config.max_message_kb * 1024;
    WebSocketConfig::default()
        .read_buffer_size(SOCKET_BUFFER)
        .write_buffer_size(SOCKET_BUFFER)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

fn admit(
    shared: &Shared,
    key: &str,
    protocol: Option<&str>,
    origin: Option<&str>,
    client: IpAddr,
) -> Result<(Arc<App>, ConnectionSlot, PeerSlot), Refusal> {
    if shared.shutdown.is_draining() {
        return Err(Refusal::new(ErrorCode::ReconnectNow));
    }
    let app = shared
        .apps
        .by_key(key)
        .ok_or_else(|| Refusal::new(ErrorCode::AppNotFound))?;
    if !app.config().enabled {
        return Err(Refusal::new(ErrorCode::AppDisabled).for_app(&app));
    }
    if !app.config().origin_allowed(origin) {
        let mut r = Refusal::new(ErrorCode::Unauthorized).for_app(&app);
        r.message = format!(
            "Origin {:?} is not allowed for this app",
            origin.unwrap_or("")
        );
        return Err(r);
    }
    let version: u32 = protocol
        .ok_or_else(|| Refusal::new(ErrorCode::NoProtocol).for_app(&app))?
        .parse()
        .map_err(|_| Refusal::new(ErrorCode::InvalidVersion).for_app(&app))?;
    if !SUPPORTED_PROTOCOLS.contains(&version) {
        return Err(Refusal::new(ErrorCode::UnsupportedProtocol).for_app(&app));
    }
    // 4100, not a 40xx code: pusher-js backs off and retries, so a client behind a busy NAT
    // gets in once others leave instead of giving up for good.
    let peer_slot = shared.peers.try_acquire(client).ok_or_else(|| {
        let mut r = Refusal::new(ErrorCode::OverCapacity).for_app(&app);
        r.message = "Too many connections from this address".into();
        r
    })?;
    let slot = app
        .try_connect()
        .ok_or_else(|| Refusal::new(ErrorCode::OverConnectionQuota).for_app(&app))?;
    Ok((app, slot, peer_slot))
}
