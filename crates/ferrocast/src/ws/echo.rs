//! Test builds only (`autobahn-echo` feature): `GET /autobahn` upgrades with the same settings
//! as `/app/{key}` (handshake slots, buffers, frame and message caps) and echoes every text and
//! binary message, so the Autobahn suite checks the WebSocket layer Pusher clients get: framing,
//! fragmentation, UTF-8 validation, ping/pong and the closing handshake.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use std::time::Duration;

use super::close;
use crate::state::Shared;

/// Where the echo listens.
pub const PATH: &str = "/autobahn";

pub async fn upgrade(State(shared): State<Shared>, ws: WebSocketUpgrade) -> Response {
    let _permit = match super::handshake_permit(&shared) {
        Ok(p) => p,
        Err(busy) => return busy.into_response(),
    };
    let write_timeout = Duration::from_secs(shared.config.write_timeout);
    super::configure(ws, &shared.config).on_upgrade(move |socket| echo(socket, write_timeout))
}

async fn echo(mut ws: WebSocket, write_timeout: Duration) {
    while let Some(msg) = ws.recv().await {
        match msg {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                if !matches!(
                    tokio::time::timeout(write_timeout, ws.send(m)).await,
                    Ok(Ok(()))
                ) {
                    return;
                }
            }
            // tungstenite queues the pong itself and writes it before the next read.
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Ok(Message::Close(_)) => {
                // The echo of the client's Close is queued; flush it, then drop the TCP
                // connection first, as a server should (RFC 6455 7.1.1).
                let _ = tokio::time::timeout(write_timeout, ws.flush()).await;
                return;
            }
            Err(e) => {
                close::fail(&mut ws, &e).await;
                return;
            }
        }
    }
}
