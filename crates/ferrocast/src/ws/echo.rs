//! Test builds only (`autobahn-echo` feature): `GET /autobahn` upgrades through the same
//! handshake as `/app/{key}` (handshake slots, buffers, frame and message caps) and echoes every text and
//! binary message, so the Autobahn suite checks the WebSocket layer Pusher clients get: framing,
//! fragmentation, UTF-8 validation, ping/pong, the closing handshake, and the split of a socket
//! into tungstenite's reading and the writer task's writing (`wire.rs`, `writer.rs`).

use ferrocast_protocol::SocketId;
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::sync::oneshot;
use tungstenite::Message;

use super::wire::{self, Stream};
use super::{close, writer};
use crate::config::Config;
use crate::outbox::outbox;

/// Where the echo listens.
pub const PATH: &str = "/autobahn";

pub(super) async fn echo(io: Stream, config: &Config) {
    let write_timeout = Duration::from_secs(config.write_timeout);
    let (handle, out) = outbox(SocketId::new(0, 0), config.outbox_capacity);
    let (mut ws, write) = wire::split(io, Some(handle.poll_sender()), super::config(config)).await;
    let (stop, stopped) = oneshot::channel();
    let writer = tokio::spawn(writer::run(write, out.rx, stopped, write_timeout, None));
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                // Queued for the writer, waiting for room as a slow reader would make it.
                if !matches!(
                    tokio::time::timeout(write_timeout, ws.send(m)).await,
                    Ok(Ok(()))
                ) {
                    break;
                }
            }
            // tungstenite queues the pong itself and hands it over before the next read.
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            Ok(Message::Close(_)) => {
                // Hands the echo of the client's Close to the writer; the socket is dropped
                // once it is written, as a server should (RFC 6455 7.1.1).
                let _ = tokio::time::timeout(write_timeout, ws.flush()).await;
                break;
            }
            Err(e) => {
                close::fail(&mut ws, &e).await;
                break;
            }
        }
    }
    let _ = stop.send(());
    let _ = tokio::time::timeout(write_timeout, writer).await;
}
