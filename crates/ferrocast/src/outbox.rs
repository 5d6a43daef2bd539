//! The bounded queue of encoded frames to one connection, and its close signal. Fan-out only
//! ever calls `try_send`: when a connection's queue is full it is closed as a slow consumer
//! (4100) instead of slowing the publisher or growing without bound. The close signal is separate
//! from the queue so a full queue can still be closed.

use bytes::Bytes;
use ferrocast_protocol::{ErrorCode, SocketId};
use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::PollSender;

use crate::frame::Frame;

/// Bytes to write as they are (one or more whole WebSocket frames) and when they were
/// published, for the delivery-latency metric.
#[derive(Debug)]
pub struct Outgoing {
    pub wire: Bytes,
    pub published_at: Instant,
}

/// Why a connection is being closed by someone other than itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    pub code: ErrorCode,
    pub message: Cow<'static, str>,
}

#[derive(Debug, Default)]
struct Closer {
    reason: Mutex<Option<CloseReason>>,
    notify: Notify,
}

/// What the rest of the server holds to reach one connection.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    pub socket_id: SocketId,
    tx: mpsc::Sender<Outgoing>,
    closer: Arc<Closer>,
}

/// The connection's own end: frames to write and the close signal to watch.
#[derive(Debug)]
pub struct Outbox {
    pub rx: mpsc::Receiver<Outgoing>,
    pub close: CloseSignal,
}

/// Resolves when someone asks the connection to close.
#[derive(Debug)]
pub struct CloseSignal(Arc<Closer>);

/// Creates a connection's queue of `capacity` frames.
pub fn outbox(socket_id: SocketId, capacity: usize) -> (SessionHandle, Outbox) {
    let (tx, rx) = mpsc::channel(capacity);
    let closer = Arc::new(Closer::default());
    (
        SessionHandle {
            socket_id,
            tx,
            closer: closer.clone(),
        },
        Outbox {
            rx,
            close: CloseSignal(closer),
        },
    )
}

impl SessionHandle {
    /// Queues a frame without waiting. A full queue closes the connection (slow consumer).
    /// Returns whether the frame was queued.
    pub fn send(&self, frame: Frame) -> bool {
        self.send_published(frame, Instant::now())
    }

    /// As `send`, for a frame published at `published_at` (one clock read per fan-out).
    pub fn send_published(&self, frame: Frame, published_at: Instant) -> bool {
        match self.tx.try_send(Outgoing {
            wire: frame.into_wire(),
            published_at,
        }) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close(
                    ErrorCode::OverCapacity,
                    "Connection too slow: outbound queue is full",
                );
                false
            }
            // The connection has ended and is unsubscribing itself.
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Queues a frame of a long sequence (a history replay) once the queue is at most half
    /// full, so the sequence never fills it and live fan-out to the connection keeps room.
    /// Returns false when the connection has ended or the frame could not be queued.
    pub async fn send_paced(&self, frame: Frame) -> bool {
        while self.tx.capacity() < self.tx.max_capacity().div_ceil(2) {
            if self.tx.is_closed() {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        self.send(frame)
    }

    /// The queue as a sink that waits for room, for bytes the WebSocket layer writes itself
    /// (pong replies, the echo of a Close), which must not be dropped as fan-out would be.
    pub fn poll_sender(&self) -> PollSender<Outgoing> {
        PollSender::new(self.tx.clone())
    }

    /// Asks the connection to send `pusher:error` with `code` and close. The first reason wins.
    pub fn close(&self, code: ErrorCode, message: impl Into<Cow<'static, str>>) {
        let mut reason = self
            .closer
            .reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if reason.is_none() {
            *reason = Some(CloseReason {
                code,
                message: message.into(),
            });
            self.closer.notify.notify_one();
        }
    }
}

impl CloseSignal {
    /// Waits until someone asks this connection to close, and says why.
    pub async fn closed(&self) -> CloseReason {
        loop {
            if let Some(r) = self.reason() {
                return r;
            }
            self.0.notify.notified().await;
        }
    }

    fn reason(&self) -> Option<CloseReason> {
        self.0
            .reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_closes_the_connection_as_slow() {
        let (h, mut out) = outbox(SocketId::new(1, 1), 2);
        assert!(h.send(Frame::text(b"a")));
        assert!(h.send(Frame::text(b"b")));
        assert!(!h.send(Frame::text(b"c")));
        let reason = out.close.closed().await;
        assert_eq!(reason.code, ErrorCode::OverCapacity);
        assert_eq!(
            out.rx.recv().await.map(|o| o.wire),
            Some(Frame::text(b"a").into_wire())
        );
        h.close(
            ErrorCode::ReconnectNow,
            "later reasons do not replace the first",
        );
        assert_eq!(out.close.closed().await.code, ErrorCode::OverCapacity);
    }
}
