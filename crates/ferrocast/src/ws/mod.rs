//! The WebSocket edge: `GET /app/{key}?protocol=7` is checked (draining, app, origin, protocol
//! version, connections per client address, connection quota, concurrent handshakes) and
//! upgraded into a session, or upgraded only to be told the Pusher error code and closed, which
//! is how pusher-js learns why.

mod close;
mod connection;
#[cfg(feature = "autobahn-echo")]
pub mod echo;
mod heartbeat;
mod session;
mod writer;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use ferrocast_protocol::{ErrorCode, SUPPORTED_PROTOCOLS};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;

use crate::api::error::ApiError;
use crate::apps::{App, ConnectionSlot};
use crate::config::Config;
use crate::peers::PeerSlot;
use crate::state::Shared;

/// Read and write buffers per connection. Small, because idle connections are the common case;
/// they grow for large messages and shrink back.
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

pub async fn upgrade(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let _permit = match handshake_permit(&shared) {
        Ok(p) => p,
        Err(busy) => return busy.into_response(),
    };
    let ws = configure(ws, &shared.config);
    let origin = headers
        .get(axum::http::header::ORIGIN)
        .and_then(|o| o.to_str().ok());
    let client = shared.peers.client_ip(peer, &headers);
    match admit(
        &shared,
        &key,
        query.get("protocol").map(String::as_str),
        origin,
        client,
    ) {
        Ok((app, slot, peer_slot)) => {
            // The connect hook and, while someone watches, the debug feed are told the origin.
            let origin = origin.map(str::to_owned);
            ws.on_upgrade(move |socket| async move {
                session::run(socket, shared, app, slot, origin).await;
                drop(peer_slot);
            })
        }
        Err(r) => {
            tracing::debug!(code = r.code.code(), app = %r.app, %client, "connection refused");
            shared.metrics.connection_refused(&r.app, r.code.code());
            ws.on_upgrade(move |socket| session::refuse(socket, r.code, r.message))
        }
    }
}

/// One of the `max_concurrent_handshakes` slots, held until the upgrade response is built;
/// beyond the limit, a 503 at the HTTP level so a handshake flood costs as little as possible.
fn handshake_permit(shared: &Shared) -> Result<OwnedSemaphorePermit, ApiError> {
    shared
        .handshakes
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Busy)
}

/// The WebSocket settings of every upgrade the server accepts: buffer sizes and the frame and
/// message caps. The one place they are set, so the Autobahn echo tests what clients get.
fn configure(ws: WebSocketUpgrade, config: &Config) -> WebSocketUpgrade {
    let max = config.max_message_kb * 1024;
    ws.read_buffer_size(SOCKET_BUFFER)
        .write_buffer_size(SOCKET_BUFFER)
        .max_message_size(max)
        .max_frame_size(max)
}

/// A WebSocket upgrade on any other path: told 4005 so clients stop retrying.
pub async fn wrong_path(ws: WebSocketUpgrade, config: &Config) -> Response {
    let code = ErrorCode::PathNotFound;
    configure(ws, config)
        .on_upgrade(move |socket| session::refuse(socket, code, code.message().to_owned()))
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
