//! Raw TCP for hostile-client tests: connect from a chosen loopback address, dribble bytes,
//! upgrade to a WebSocket by hand and write frames exactly as given (fragments, invalid UTF-8,
//! floods) — what a well-behaved library refuses to send — and read the server's frames back.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::DEADLINE;

pub const TEXT: u8 = 0x1;
pub const CONTINUATION: u8 = 0x0;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;

/// A TCP connection to `addr` whose source address is `from` (any of 127.0.0.0/8 works on
/// Linux loopback).
pub async fn tcp_from(from: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(addr).await
}

pub struct RawClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = tokio::time::timeout(DEADLINE, TcpStream::connect(addr))
            .await
            .expect("connect deadline")
            .expect("connect");
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// A WebSocket on `path` after a hand-made handshake; panics unless the server says 101.
    pub async fn websocket(addr: SocketAddr, path: &str) -> Self {
        let mut c = Self::connect(addr).await;
        c.write(handshake(addr, path).as_bytes())
            .await
            .expect("handshake");
        let head = c.read_head().await;
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        c
    }

    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Writes `bytes` one at a time, `every` apart, until done or the server closes; returns
    /// how many were written.
    pub async fn dribble(&mut self, bytes: &[u8], every: Duration) -> usize {
        for (i, b) in bytes.iter().enumerate() {
            if self.stream.write_all(&[*b]).await.is_err() || self.closed_within(every).await {
                return i;
            }
        }
        bytes.len()
    }

    /// Whether the server ended the connection (EOF or reset) within `within`; bytes it sends
    /// meanwhile are kept for later reads.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let mut chunk = [0u8; 4096];
        let end = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(end, self.stream.read(&mut chunk)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads an HTTP response head (up to the blank line), or whatever came before EOF.
    pub async fn read_head(&mut self) -> String {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return String::from_utf8_lossy(&head).into_owned();
            }
            match tokio::time::timeout(DEADLINE, self.stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.buf.extend_from_slice(&chunk[..n]),
                _ => return String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned(),
            }
        }
    }

    /// Writes one masked client frame.
    pub async fn send_frame(
        &mut self,
        fin: bool,
        opcode: u8,
        payload: &[u8],
    ) -> std::io::Result<()> {
        self.write(&frame(fin, opcode, payload)).await
    }

    /// The server's next frame (opcode, payload); `None` at EOF or after the deadline.
    pub async fn read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut chunk = [0u8; 65536];
        loop {
            if let Some((opcode, payload, used)) = parse_frame(&self.buf) {
                self.buf.drain(..used);
                return Some((opcode, payload));
            }
            match tokio::time::timeout(DEADLINE, self.stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.buf.extend_from_slice(&chunk[..n]),
                _ => return None,
            }
        }
    }

    /// Takes in what the server has sent so far without waiting; `Some(code)` once a Close
    /// frame has arrived (the code, if it carried one).
    pub fn close_received(&mut self) -> Option<Option<u16>> {
        let mut chunk = [0u8; 65536];
        while let Ok(n @ 1..) = self.stream.try_read(&mut chunk) {
            self.buf.extend_from_slice(&chunk[..n]);
        }
        let mut at = 0;
        while let Some((opcode, payload, used)) = parse_frame(&self.buf[at..]) {
            at += used;
            if opcode == CLOSE {
                return Some(
                    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]])),
                );
            }
        }
        None
    }

    /// Skips frames until a Close; returns its code (`None` if the socket ended without one).
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            match self.read_frame().await? {
                (CLOSE, p) if p.len() >= 2 => return Some(u16::from_be_bytes([p[0], p[1]])),
                (CLOSE, _) => return None,
                _ => continue,
            }
        }
    }
}

/// A client's upgrade request for `path`.
pub fn handshake(addr: SocketAddr, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// A masked client frame (RFC 6455 5.2); the mask is fixed, which servers must accept.
pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// One unmasked server frame at the start of `buf`: (opcode, payload, bytes used).
fn parse_frame(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let (len, header) = match b1 & 0x7f {
        126 => (
            usize::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
            4,
        ),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (usize::from(n), 2),
    };
    let payload = buf.get(header..header + len)?.to_vec();
    Some((b0 & 0x0f, payload, header + len))
}
