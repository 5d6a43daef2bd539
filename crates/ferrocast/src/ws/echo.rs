//! Test builds only (`autobahn-echo` feature): `GET /autobahn` upgrades through the same
//! handshake as `/app/{key}` (handshake slots, buffers, frame and message caps) and echoes every text and
//! binary message, so the Autobahn suite checks the WebSocket layer Pusher clients get: framing,
//! fragmentation, UTF-8 validation, ping/pong and the closing handshake.

use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tungstenite::Message;

use super::{close, Socket};

/// Where the echo listens.
pub const PATH: &str = "/autobahn";

pub(super) async fn echo(mut ws: Socket, write_timeout: Duration) {
    while let Some(msg) = ws.next().await {
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
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
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
