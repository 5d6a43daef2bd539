//! The connection actor: one task per WebSocket that owns the socket and selects over the
//! client's frames, its outbox, its keep-alive deadlines, its close signal and the server's
//! drain. All writes happen here, in the order frames were queued, a batch per flush.

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::Bytes;
use ferrocast_protocol::{ErrorCode, ServerMessage};
use futures_util::SinkExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use super::connection::{Closing, Connection};
use super::heartbeat::{Due, Heartbeat};
use crate::apps::{App, ConnectionSlot};
use crate::hooks::Verdict;
use crate::metrics::AppMetrics;
use crate::outbox::{outbox, Outgoing};
use crate::state::Shared;

/// Frames written per flush at most, so one busy socket cannot starve its own reads.
const MAX_BATCH: usize = 64;

/// Close code for a message over the size cap (RFC 6455).
const CLOSE_TOO_BIG: u16 = 1009;

pub(super) async fn run(
    mut ws: WebSocket,
    shared: Shared,
    app: Arc<App>,
    mut slot: ConnectionSlot,
    origin: Option<String>,
) {
    let cfg = shared.config.clone();
    let socket_id = shared.next_socket_id();
    // The app's connect hook may refuse the connection (4009) or sign it in as a user.
    let sid = socket_id.to_string();
    let user = match shared.hooks.connect(&app, &sid, origin.as_deref()).await {
        Verdict::Deny(message) => {
            drop(slot);
            return refuse(ws, ErrorCode::Unauthorized, message).await;
        }
        Verdict::Allow(user) => user,
    };
    let metrics = app.metrics.clone();
    metrics.connections_opened.increment(1);
    let (handle, mut out) = outbox(socket_id, cfg.outbox_capacity);
    slot.attach(&handle);
    let mut conn = Connection::new(app.clone(), &shared, handle.clone());
    if let Some((id, info)) = user {
        conn.assume_user(id, info);
    }
    tracing::debug!(app = %app.id, %socket_id, "connected");
    handle.send(
        ServerMessage::ConnectionEstablished {
            socket_id,
            activity_timeout: cfg.activity_timeout,
        }
        .encode(),
    );

    let start = Instant::now();
    let secs = Duration::from_secs;
    let mut heartbeat = Heartbeat::new(
        secs(cfg.activity_timeout),
        secs(cfg.pong_timeout),
        secs(cfg.idle_timeout),
        start,
    );
    let settings = app.config();
    let signin_deadline = settings
        .user_auth_required
        .then(|| start + secs(settings.user_auth_timeout));
    let write_timeout = secs(cfg.write_timeout);

    let end: Option<Closing> = loop {
        let mut deadline = heartbeat.next_deadline();
        if let Some(d) = signin_deadline.filter(|_| !conn.is_signed_in()) {
            deadline = deadline.min(d);
        }
        tokio::select! {
            reason = out.close.closed() => break Some(Closing::new(reason.code, reason.message)),
            _ = shared.shutdown.wait() => break Some(Closing::new(ErrorCode::ReconnectNow, ErrorCode::ReconnectNow.message())),
            first = out.rx.recv() => {
                let Some(first) = first else { break None };
                if write_batch(&mut ws, first, &mut out.rx, write_timeout, &metrics).await.is_err() {
                    break None;
                }
            }
            msg = ws.recv() => {
                let now = Instant::now();
                match msg {
                    Some(Ok(Message::Text(text))) => {
                        metrics.ws_messages_received.increment(1);
                        metrics.ws_bytes_received.increment(text.len() as u64);
                        match conn.handle_text(&text, now).await {
                            Ok(keepalive) => heartbeat.on_frame(now, keepalive),
                            Err(closing) => break Some(closing),
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        heartbeat.on_frame(now, false);
                        let msg = ServerMessage::Error { code: ErrorCode::InvalidMessage, message: "Binary frames are not supported" };
                        handle.send(msg.encode());
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => heartbeat.on_frame(now, true),
                    Some(Ok(Message::Close(_))) => {
                        // tungstenite has queued the echo of the client's Close (RFC 6455
                        // 5.5.1); flush it so the client sees a clean close, not a dropped socket.
                        let _ = tokio::time::timeout(Duration::from_secs(1), ws.flush()).await;
                        break None;
                    }
                    None => break None,
                    Some(Err(e)) => {
                        tracing::debug!(%socket_id, error = %e, "websocket read error");
                        if is_too_big(&e) {
                            close_with(&mut ws, CLOSE_TOO_BIG, "Message too big").await;
                        }
                        break None;
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                let now = Instant::now();
                if signin_deadline.is_some_and(|d| now >= d) && !conn.is_signed_in() {
                    break Some(Closing::new(ErrorCode::Unauthorized, "Connection not signed in within the allowed time"));
                }
                match heartbeat.poll(now) {
                    Due::SendPing => { handle.send(ServerMessage::Ping.encode()); }
                    Due::Close(code) => break Some(Closing::new(code, code.message())),
                    Due::Nothing => {}
                }
            }
        }
    };
    conn.cleanup();
    if let Some(closing) = end {
        if closing.code == ErrorCode::OverCapacity {
            metrics.slow_consumers.increment(1);
        }
        tracing::debug!(%socket_id, code = closing.code.code(), reason = %closing.message, "closing");
        let frame = ServerMessage::Error {
            code: closing.code,
            message: &closing.message,
        }
        .encode();
        let close_code = if closing.code.closes() {
            closing.code.code()
        } else {
            1000
        };
        let _ = tokio::time::timeout(write_timeout, async {
            ws.send(text(frame)).await?;
            ws.send(Message::Close(Some(CloseFrame {
                code: close_code,
                reason: Utf8Bytes::from(&*closing.message),
            })))
            .await
        })
        .await;
    }
    metrics.connections_closed.increment(1);
    tracing::debug!(app = %app.id, %socket_id, "disconnected");
    drop(slot);
}

/// Sends `pusher:error` with `code` and closes at once, for connections refused at the door.
pub(super) async fn refuse(mut ws: WebSocket, code: ErrorCode, message: String) {
    let frame = ServerMessage::Error {
        code,
        message: &message,
    }
    .encode();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        ws.send(text(frame)).await?;
        ws.send(Message::Close(Some(CloseFrame {
            code: code.code(),
            reason: Utf8Bytes::from(message),
        })))
        .await?;
        // Wait briefly for the client's close reply, so the close is clean.
        while let Some(Ok(_)) = ws.recv().await {}
        Ok::<_, axum::Error>(())
    })
    .await;
}

fn text(frame: Bytes) -> Message {
    // Frames are serde_json output or slices of valid UTF-8 client text, so this never fails.
    Message::Text(Utf8Bytes::try_from(frame).unwrap_or_else(|_| Utf8Bytes::from_static("")))
}

/// Writes `first` and whatever else is already queued, then flushes once, and records how long
/// the oldest frame waited since it was published.
async fn write_batch(
    ws: &mut WebSocket,
    first: Outgoing,
    rx: &mut mpsc::Receiver<Outgoing>,
    limit: Duration,
    metrics: &AppMetrics,
) -> Result<(), ()> {
    let oldest = first.published_at;
    let (mut frames, mut bytes) = (1u64, first.frame.len() as u64);
    let write = async {
        ws.feed(text(first.frame)).await?;
        for _ in 1..MAX_BATCH {
            match rx.try_recv() {
                Ok(o) => {
                    frames += 1;
                    bytes += o.frame.len() as u64;
                    ws.feed(text(o.frame)).await?;
                }
                Err(_) => break,
            }
        }
        ws.flush().await
    };
    let result = tokio::time::timeout(limit, write).await;
    if matches!(result, Ok(Ok(()))) {
        metrics.ws_messages_sent.increment(frames);
        metrics.ws_bytes_sent.increment(bytes);
        metrics
            .delivery_latency
            .record(oldest.elapsed().as_secs_f64());
        Ok(())
    } else {
        Err(())
    }
}

async fn close_with(ws: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }));
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.send(frame)).await;
}

fn is_too_big(e: &axum::Error) -> bool {
    let s = e.to_string();
    s.contains("too long") || s.contains("too big") || s.contains("Space limit")
}
