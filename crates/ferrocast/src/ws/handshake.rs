//! The WebSocket handshake, done on the socket rather than through hyper and axum: the listener
//! reads a connection's first request head, and an upgrade request is answered here, so a
//! connecting client costs one small parse, no HTTP connection task and no upgrade hand-over
//! (bench/profile.md, "Fourth round"). Everything else goes on to hyper with the bytes read so
//! far put back in front of the stream (`Prefixed`).
//!
//! The `101 Switching Protocols` answer is held back and written together with the first frame
//! the session sends (`pusher:connection_established` or the refusal), in one syscall; where no
//! frame follows at once (an app with a connect hook, the Autobahn echo) it is written straight
//! away.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use bytes::{Buf, BytesMut};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use crate::api::error::ApiError;

/// Headers read at most; a request with more goes to hyper, which refuses it (431).
const MAX_HEADERS: usize = 64;

/// A connection's stream, whatever it runs on (TCP or TLS).
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// What the first request on a connection turned out to be.
pub enum Sniffed {
    /// A WebSocket upgrade with everything RFC 6455 asks of it.
    Upgrade(UpgradeRequest),
    /// Anything else, including a head too large to parse here: for hyper.
    Http,
    /// The peer closed or failed before sending a whole head.
    Gone,
}

/// The parts of an upgrade request the server uses.
pub struct UpgradeRequest {
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    /// The `Sec-WebSocket-Accept` value that answers the client's key.
    pub accept: String,
}

impl UpgradeRequest {
    /// The answer that switches the connection to WebSocket.
    pub fn response(&self) -> Vec<u8> {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\
             sec-websocket-accept: {}\r\n\r\n",
            self.accept
        )
        .into_bytes()
    }
}

/// A refusal at the HTTP level (the handshake limit), as the API would answer it, and the
/// connection closed.
pub fn error_response(e: &ApiError) -> Vec<u8> {
    let body = serde_json::json!({ "error": e.to_string(), "code": e.code() }).to_string();
    let status = e.status();
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes()
}

/// Reads until `buf` holds a whole request head (or `max` bytes, or the peer stops), and tells
/// whether it is a WebSocket upgrade. The bytes read stay in `buf`, but for an upgrade's head,
/// which is taken out: what follows it is the client's first frames.
pub async fn sniff<I: Io>(io: &mut I, buf: &mut BytesMut, max: usize) -> Sniffed {
    loop {
        match parse(buf) {
            Parsed::Partial if buf.len() < max => {}
            Parsed::Partial | Parsed::Other => return Sniffed::Http,
            Parsed::Upgrade(req, len) => {
                buf.advance(len);
                return Sniffed::Upgrade(req);
            }
        }
        buf.reserve(1024);
        match io.read_buf(buf).await {
            Ok(0) | Err(_) => return Sniffed::Gone,
            Ok(_) => {}
        }
    }
}

enum Parsed {
    Partial,
    Other,
    /// The request and the length of its head.
    Upgrade(UpgradeRequest, usize),
}

fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Other,
    };
    if req.method != Some("GET") || req.version != Some(1) {
        return Parsed::Other;
    }
    let mut map = HeaderMap::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) else {
            return Parsed::Other;
        };
        map.append(name, value);
    }
    let has_token = |name: &str, token: &str| {
        map.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    // Only a complete upgrade is answered here; a partial one gets hyper's and axum's answer.
    let key = match map.get("sec-websocket-key") {
        Some(key)
            if has_token("upgrade", "websocket")
                && has_token("connection", "upgrade")
                && map.get("sec-websocket-version").is_some_and(|v| v == "13") =>
        {
            key
        }
        _ => return Parsed::Other,
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let target = req.path.unwrap_or("/");
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (target, None),
    };
    Parsed::Upgrade(
        UpgradeRequest {
            path: path.to_owned(),
            query,
            headers: map,
            accept,
        },
        len,
    )
}

/// A stream with bytes put in front of it both ways: bytes already read from it (handed back
/// to whoever reads next), and bytes to write before the next write (the held-back `101`).
pub struct Prefixed<I> {
    read: BytesMut,
    /// Bytes owed to the stream, written before anything else.
    write: Vec<u8>,
    /// Whether the next write may join `write` (only the first one does).
    joins: bool,
    inner: I,
}

impl<I> Prefixed<I> {
    pub fn new(read: BytesMut, inner: I) -> Self {
        // An emptied head buffer would otherwise be held for the connection's whole life.
        let read = if read.is_empty() {
            BytesMut::new()
        } else {
            read
        };
        Self {
            read,
            write: Vec::new(),
            joins: false,
            inner,
        }
    }

    /// `bytes` go out ahead of, and in the same write as, the next bytes written.
    pub fn write_first(mut self, bytes: Vec<u8>) -> Self {
        self.write = bytes;
        self.joins = true;
        self
    }
}

impl<I: AsyncWrite + Unpin> Prefixed<I> {
    /// Writes out what is owed.
    fn poll_owed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.write.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.write))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.write.drain(..n);
        }
        self.write = Vec::new();
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            buf.put_slice(&self.read[..n]);
            self.read.advance(n);
            if self.read.is_empty() {
                self.read = BytesMut::new(); // give the head's buffer back
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Prefixed<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.joins {
            // Taken whole: the prefix and these bytes leave in one write, or what is left of
            // them before the next write or flush.
            this.joins = false;
            this.write.extend_from_slice(buf);
            if let Poll::Ready(Err(e)) = this.poll_owed(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        ready!(this.poll_owed(cx))?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.joins {
            // The first write joins the `101`; the rest follow in the next write.
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
            return self.poll_write(cx, first);
        }
        let this = &mut *self;
        ready!(this.poll_owed(cx))?;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_owed(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_owed(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
