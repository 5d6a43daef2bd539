//! The WebSocket edge: `GET /app/{key}?protocol=7` is checked (draining, app, origin, protocol
//! version, connection quota, concurrent handshakes) and upgraded into a session, or upgraded
//! only to be told the Pusher error code and closed, which is how pusher-js learns why.

mod connection;
mod heartbeat;
mod session;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use ferrocast_protocol::{ErrorCode, SUPPORTED_PROTOCOLS};
use std::collections::HashMap;
use std::sync::Arc;

use crate::apps::{App, ConnectionSlot};
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
    Path(key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // Held until the upgrade response is built; beyond the limit, refuse at the HTTP level so a
    // handshake flood costs as little as possible.
    let Ok(_permit) = shared.handshakes.clone().try_acquire_owned() else {
        return crate::api::error::ApiError::Busy.into_response();
    };
    let max = shared.config.max_message_kb * 1024;
    let ws = ws
        .read_buffer_size(SOCKET_BUFFER)
        .write_buffer_size(SOCKET_BUFFER)
        .max_message_size(max)
        .max_frame_size(max);
    let origin = headers
        .get(axum::http::header::ORIGIN)
        .and_then(|o| o.to_str().ok());
    match admit(
        &shared,
        &key,
        query.get("protocol").map(String::as_str),
        origin,
    ) {
        Ok((app, slot)) => {
            let origin = origin.map(str::to_owned);
            ws.on_upgrade(move |socket| session::run(socket, shared, app, slot, origin))
        }
        Err(r) => {
            tracing::debug!(code = r.code.code(), app = %r.app, "connection refused");
            shared.metrics.connection_refused(&r.app, r.code.code());
            ws.on_upgrade(move |socket| session::refuse(socket, r.code, r.message))
        }
    }
}

/// A WebSocket upgrade on any other path: told 4005 so clients stop retrying.
pub async fn wrong_path(ws: WebSocketUpgrade) -> Response {
    let code = ErrorCode::PathNotFound;
    ws.on_upgrade(move |socket| session::refuse(socket, code, code.message().to_owned()))
}

fn admit(
    shared: &Shared,
    key: &str,
    protocol: Option<&str>,
    origin: Option<&str>,
) -> Result<(Arc<App>, ConnectionSlot), Refusal> {
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
    let slot = app
        .try_connect()
        .ok_or_else(|| Refusal::new(ErrorCode::OverConnectionQuota).for_app(&app))?;
    Ok((app, slot))
}
