//! The connection actor: one task per WebSocket that reads the client's frames and selects over
//! them, its keep-alive deadlines, its close signal and the server's drain. Writes happen in the
//! connection's writer task (`writer.rs`); the actor queues frames to it through the outbox and,
//! at the end, takes the sink back to write the closing frames.

use ferrocast_protocol::{ErrorCode, ServerMessage, SocketId};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use tungstenite::Message;

use super::close;
use super::connection::{Closing, Connection};
use super::heartbeat::{Due, Heartbeat};
use super::wire::{self, Stream, WriteSide};
use super::writer;
use crate::apps::{App, ConnectionSlot};
use crate::debug_feed::DebugEvent;
use crate::frame::Frame;
use crate::hooks::Verdict;
use crate::metrics::AppMetrics;
use crate::outbox::outbox;
use crate::state::Shared;

pub(super) async fn run(
    mut io: Stream,
    shared: Shared,
    app: Arc<App>,
    mut slot: ConnectionSlot,
    origin: Option<String>,
) {
    let cfg = shared.config.clone();
    let socket_id = shared.next_socket_id();
    // The app's connect hook may refuse the connection (4009) or sign it in as a user. The
    // first frame waits for it; the handshake does not.
    if app.config().hooks.connect.is_some() {
        let _ = io.flush().await;
    }
    let sid = socket_id.to_string();
    let user = match shared.hooks.connect(&app, &sid, origin.as_deref()).await {
        Verdict::Deny(message) => {
            drop(slot);
            return refuse(io, &cfg, ErrorCode::Unauthorized, message).await;
        }
        Verdict::Allow(user) => user,
    };
    let metrics = app.metrics.clone();
    metrics.connections_opened.increment(1);
    let (handle, out) = outbox(socket_id, cfg.outbox_capacity);
    slot.attach(&handle);
    let mut conn = Connection::new(app.clone(), &shared, handle.clone());
    if let Some((id, info)) = user {
        conn.assume_user(id, info);
    }
    tracing::debug!(app = %app.id, %socket_id, "connected");
    app.debug.emit(|| DebugEvent::Connected {
        socket_id: socket_id.to_string(),
        origin,
    });
    handle.send(Frame::encode(&ServerMessage::ConnectionEstablished {
        socket_id,
        activity_timeout: cfg.activity_timeout,
    }));

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

    let (mut stream, write) =
        wire::split(io, Some(handle.poll_sender()), super::config(&cfg)).await;
    let (stop, stopped) = oneshot::channel();
    let mut writer = tokio::spawn(writer::run(
        write,
        out.rx,
        stopped,
        write_timeout,
        Some(metrics.clone()),
    ));
    let mut writer_ended = None;

    let end = loop {
        let mut deadline = heartbeat.next_deadline();
        if let Some(d) = signin_deadline.filter(|_| !conn.is_signed_in()) {
            deadline = deadline.min(d);
        }
        tokio::select! {
            reason = out.close.closed() => break End::Error(Closing::new(reason.code, reason.message)),
            _ = shared.shutdown.wait() => break End::Error(Closing::new(ErrorCode::ReconnectNow, ErrorCode::ReconnectNow.message())),
            ended = &mut writer => {
                // The socket stopped taking writes (error or write timeout): nothing more to say.
                writer_ended = Some(ended);
                break End::Quiet;
            }
            msg = stream.next() => {
                let now = Instant::now();
                match msg {
                    Some(Ok(Message::Text(text))) => {
                        metrics.ws_messages_received.increment(1);
                        metrics.ws_bytes_received.increment(text.len() as u64);
                        match conn.handle_text(&text, now).await {
                            Ok(keepalive) => heartbeat.on_frame(now, keepalive),
                            Err(closing) => break End::Error(closing),
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        heartbeat.on_frame(now, false);
                        let msg = ServerMessage::Error { code: ErrorCode::InvalidMessage, message: "Binary frames are not supported" };
                        handle.send(Frame::encode(&msg));
                    }
                    // `Frame` is for writing raw frames; reads never yield it.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => heartbeat.on_frame(now, true),
                    // tungstenite has queued the echo of the client's Close (RFC 6455 5.5.1);
                    // flush it so the client sees a clean close, not a dropped socket.
                    Some(Ok(Message::Close(_))) => break End::EchoClose,
                    None => break End::Quiet,
                    Some(Err(e)) => {
                        tracing::debug!(%socket_id, error = %e, "websocket read error");
                        break match close::failure(&e) {
                            Some((code, reason)) => End::ReadError(code, reason),
                            None => End::Quiet,
                        };
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                let now = Instant::now();
                if signin_deadline.is_some_and(|d| now >= d) && !conn.is_signed_in() {
                    break End::Error(Closing::new(ErrorCode::Unauthorized, "Connection not signed in within the allowed time"));
                }
                match heartbeat.poll(now) {
                    Due::SendPing => { handle.send(Frame::encode(&ServerMessage::Ping)); }
                    Due::Close(code) => break End::Error(Closing::new(code, code.message())),
                    Due::Nothing => {}
                }
            }
        }
    };
    conn.cleanup();
    let closed_with = match &end {
        End::Error(c) => Some((c.code, &*c.message)),
        _ => None,
    };
    app.debug
        .emit(|| DebugEvent::disconnected(socket_id, closed_with));
    if matches!(end, End::EchoClose) {
        // Queues tungstenite's echo of the client's Close for the writer.
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.flush()).await;
    }
    let _ = stop.send(());
    let sink = match writer_ended {
        Some(ended) => ended,
        None => writer.await,
    };
    if let Ok(Some(mut sink)) = sink {
        finish(&mut sink, end, write_timeout, &metrics, socket_id).await;
    }
    metrics.connections_closed.increment(1);
    tracing::debug!(app = %app.id, %socket_id, "disconnected");
    drop(slot);
}

/// How a session ended, and so what it still writes before the socket is dropped.
enum End {
    /// The client went away or the socket failed: nothing to write.
    Quiet,
    /// The client sent Close: tungstenite's echo of it is queued.
    EchoClose,
    /// A read the protocol forbids (too big, invalid UTF-8, broken framing): close with its
    /// RFC 6455 code.
    ReadError(u16, &'static str),
    /// The server closes: `pusher:error` with the code, then a Close frame.
    Error(Closing),
}

async fn finish(
    sink: &mut WriteSide,
    end: End,
    write_timeout: Duration,
    metrics: &AppMetrics,
    socket_id: SocketId,
) {
    let second = Duration::from_secs(1);
    match end {
        End::Quiet | End::EchoClose => {}
        End::ReadError(code, reason) => {
            writer::close(sink, second, None, code, reason).await;
        }
        End::Error(closing) => {
            if closing.code == ErrorCode::OverCapacity {
                metrics.slow_consumers.increment(1);
            }
            tracing::debug!(%socket_id, code = closing.code.code(), reason = %closing.message, "closing");
            let frame = Frame::encode(&ServerMessage::Error {
                code: closing.code,
                message: &closing.message,
            });
            let close_code = if closing.code.closes() {
                closing.code.code()
            } else {
                1000
            };
            writer::close(
                sink,
                write_timeout,
                Some(frame),
                close_code,
                &closing.message,
            )
            .await;
        }
    }
}

/// Sends `pusher:error` with `code` and closes at once, for connections refused at the door.
pub(super) async fn refuse(
    io: Stream,
    cfg: &crate::config::Config,
    code: ErrorCode,
    message: String,
) {
    let (mut ws, mut write) = wire::split(io, None, super::config(cfg)).await;
    let frame = Frame::encode(&ServerMessage::Error {
        code,
        message: &message,
    });
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        writer::close(
            &mut write,
            Duration::from_secs(5),
            Some(frame),
            code.code(),
            &message,
        )
        .await;
        // Wait briefly for the client's close reply, so the close is clean.
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}
