//! The WebSocket edge: `GET /app/{key}?protocol=7` is checked (draining, app, protocol version,
//! connection quota) and upgraded into a session, or upgraded only to be told the Pusher error
//! code and closed, which is how pusher-js learns why.

mod connection;
mod heartbeat;
mod session;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use ferrocast_protocol::{ErrorCode, SUPPORTED_PROTOCOLS};
use std::collections::HashMap;
use std::sync::Arc;

use crate::apps::{App, ConnectionSlot};
use crate::state::Shared;

/// Read and write buffers per connection. Small, because idle connections are the common case;
/// they grow for large messages and shrink back.
const SOCKET_BUFFER: usize = 4 * 1024;

pub async fn upgrade(
    State(shared): State<Shared>,
    Path(key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let max = shared.config.max_message_kb * 1024;
    let ws = ws
        .read_buffer_size(SOCKET_BUFFER)
        .write_buffer_size(SOCKET_BUFFER)
        .max_message_size(max)
        .max_frame_size(max);
    match admit(&shared, &key, query.get("protocol").map(String::as_str)) {
        Ok((app, slot)) => ws.on_upgrade(move |socket| session::run(socket, shared, app, slot)),
        Err(code) => {
            tracing::debug!(code = code.code(), "connection refused");
            ws.on_upgrade(move |socket| session::refuse(socket, code))
        }
    }
}

/// A WebSocket upgrade on any other path: told 4005 so clients stop retrying.
pub async fn wrong_path(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|socket| session::refuse(socket, ErrorCode::PathNotFound))
}

fn admit(
    shared: &Shared,
    key: &str,
    protocol: Option<&str>,
) -> Result<(Arc<App>, ConnectionSlot), ErrorCode> {
    if shared.shutdown.is_draining() {
        return Err(ErrorCode::ReconnectNow);
    }
    let app = shared.apps.by_key(key).ok_or(ErrorCode::AppNotFound)?;
    if !app.config.enabled {
        return Err(ErrorCode::AppDisabled);
    }
    let version: u32 = protocol
        .ok_or(ErrorCode::NoProtocol)?
        .parse()
        .map_err(|_| ErrorCode::InvalidVersion)?;
    if !SUPPORTED_PROTOCOLS.contains(&version) {
        return Err(ErrorCode::UnsupportedProtocol);
    }
    let slot = app.try_connect().ok_or(ErrorCode::OverConnectionQuota)?;
    Ok((app, slot))
}
