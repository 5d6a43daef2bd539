//! A WebSocket's two halves. tungstenite reads and checks what the client sends (framing,
//! UTF-8, fragments, control frames, size caps); the connection's writer task (`writer.rs`) alone
//! writes to the socket. Whatever tungstenite writes itself (the answer to a ping, the echo of a
//! Close) is taken from it and queued on the connection's outbox like any other frame, so frames
//! framed once for many subscribers go out as they are and nothing cuts into them.

use bytes::Bytes;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::PollSender;

use super::handshake::{Io, Prefixed};
use crate::outbox::Outgoing;

/// A connection's stream once upgraded: what the handshake read ahead and the held-back `101`
/// in front of the socket.
pub(crate) type Stream = Prefixed<Box<dyn Io>>;

/// The half the writer task owns.
pub(crate) type WriteSide = WriteHalf<Stream>;

/// The half tungstenite reads, as a stream of client messages.
pub(crate) type Reader = WebSocketStream<ReadSide>;

/// The socket's read half, plus where tungstenite's own writes go.
pub(crate) struct ReadSide {
    read: ReadHalf<Stream>,
    /// The connection's outbox; `None` for a connection being refused, which answers nothing
    /// but its error and Close.
    queue: Option<PollSender<Outgoing>>,
}

/// Splits `io`: tungstenite reads (its writes go to `queue`), the caller writes.
pub(crate) async fn split(
    io: Stream,
    queue: Option<PollSender<Outgoing>>,
    config: WebSocketConfig,
) -> (Reader, WriteSide) {
    let (read, write) = tokio::io::split(io);
    let side = ReadSide { read, queue };
    let reader = WebSocketStream::from_raw_socket(side, Role::Server, Some(config)).await;
    (reader, write)
}

impl AsyncRead for ReadSide {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for ReadSide {
    /// Takes whole what tungstenite writes (complete frames) as one queued item, waiting for
    /// room in the queue rather than dropping a control frame.
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let Some(queue) = self.queue.as_mut() else {
            return Poll::Ready(Ok(buf.len()));
        };
        let closed = |_| io::Error::from(io::ErrorKind::BrokenPipe);
        ready!(queue.poll_reserve(cx)).map_err(closed)?;
        queue
            .send_item(Outgoing {
                wire: Bytes::copy_from_slice(buf),
                published_at: Instant::now(),
            })
            .map_err(closed)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
