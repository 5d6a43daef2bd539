//! The writing half of a connection: a task that owns the socket's sink and drains the outbox,
//! several frames per flush. It is a task of its own so that an outgoing frame wakes only the
//! writer: when reads and writes shared one `select!`, every delivery also re-polled the read
//! side, and tungstenite zero-filled its read buffer before each read that found nothing (40 %
//! of user-space instructions in the fan-out profile, bench/profile.md).

use bytes::Bytes;
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::{Message, Utf8Bytes};

use crate::apps::App;
use crate::outbox::Outgoing;

pub(super) type Sink = SplitSink<super::Socket, Message>;

/// Frames written per flush at most, so one busy socket cannot hold the sink for long.
const MAX_BATCH: usize = 64;

/// Writes queued frames until told to stop, the queue closes or a write fails or times out.
/// Gives the sink back when stopped, so the session can write its closing frames; `None` when
/// the socket is no longer writable.
pub(super) async fn run(
    mut sink: Sink,
    mut rx: mpsc::Receiver<Outgoing>,
    mut stop: oneshot::Receiver<()>,
    limit: Duration,
    app: Arc<App>,
) -> Option<Sink> {
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => return Some(sink),
            first = rx.recv() => {
                let first = first?;
                if write_batch(&mut sink, first, &mut rx, limit, &app).await.is_err() {
                    return None;
                }
            }
        }
    }
}

/// Writes `first` and whatever else is already queued, then flushes once, and records how long
/// the oldest frame waited since it was published.
async fn write_batch(
    sink: &mut Sink,
    first: Outgoing,
    rx: &mut mpsc::Receiver<Outgoing>,
    limit: Duration,
    app: &App,
) -> Result<(), ()> {
    let oldest = first.published_at;
    let (mut frames, mut bytes) = (1u64, first.frame.len() as u64);
    let write = async {
        sink.feed(text(first.frame)).await?;
        for _ in 1..MAX_BATCH {
            match rx.try_recv() {
                Ok(o) => {
                    frames += 1;
                    bytes += o.frame.len() as u64;
                    sink.feed(text(o.frame)).await?;
                }
                Err(_) => break,
            }
        }
        sink.flush().await
    };
    let result = tokio::time::timeout(limit, write).await;
    if matches!(result, Ok(Ok(()))) {
        let metrics = &app.metrics;
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

/// Sends the last frames of a connection: an optional `pusher:error`, then a Close.
pub(super) async fn close(
    sink: &mut Sink,
    limit: Duration,
    error: Option<Bytes>,
    code: u16,
    reason: Utf8Bytes,
) {
    let _ = tokio::time::timeout(limit, async {
        if let Some(frame) = error {
            sink.feed(text(frame)).await?;
        }
        sink.send(Message::Close(Some(CloseFrame {
            code: code.into(),
            reason,
        })))
        .await
    })
    .await;
}

pub(super) fn text(frame: Bytes) -> Message {
    // Frames are serde_json output or slices of valid UTF-8 client text, so this never fails.
    Message::Text(Utf8Bytes::try_from(frame).unwrap_or_else(|_| Utf8Bytes::from_static("")))
}
