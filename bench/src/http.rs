//! A minimal HTTP/1.1 client for the signed publishes: one persistent connection per publisher
//! worker (reopened when the server closes it), requests written in one go, responses read by
//! `Content-Length` (or chunked). Just enough for the Pusher HTTP API on loopback.

use crate::client::{open_tcp, Target};
use crate::ws;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Http {
    target: Target,
    /// Which 127.0.0.x this worker's connections come from.
    idx: usize,
    conn: Option<TcpStream>,
    buf: Vec<u8>,
    req: Vec<u8>,
    /// Connections opened, for the report (1 when keep-alive works).
    pub opened: u64,
}

/// Status code and body of a response.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

fn err(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::other(msg.into())
}

impl Http {
    pub fn new(target: Target, idx: usize) -> Self {
        Self { target, idx, conn: None, buf: Vec::with_capacity(4096), req: Vec::new(), opened: 0 }
    }

    /// `POST path_and_query` with a JSON body. Retries once on a connection the server had
    /// already closed (a kept-alive connection may be closed between requests).
    pub async fn post(&mut self, path_and_query: &str, body: &[u8]) -> std::io::Result<Response> {
        self.req.clear();
        let host = self.target.addr;
        self.req.extend_from_slice(
            format!(
                "POST {path_and_query} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        self.req.extend_from_slice(body);
        let reused = self.conn.is_some();
        match self.round_trip().await {
            Err(_) if reused => {
                self.conn = None;
                self.round_trip().await
            }
            r => r,
        }
    }

    async fn round_trip(&mut self) -> std::io::Result<Response> {
        if self.conn.is_none() {
            self.conn = Some(open_tcp(&self.target, self.idx, self.target.addr).await?);
            self.opened += 1;
            self.buf.clear();
        }
        let res = self.exchange().await;
        if res.is_err() {
            self.conn = None;
        }
        res
    }

    async fn exchange(&mut self) -> std::io::Result<Response> {
        let conn = self.conn.as_mut().ok_or_else(|| err("no connection"))?;
        conn.write_all(&self.req).await?;
        let end = loop {
            if let Some(e) = ws::head_end(&self.buf) {
                break e;
            }
            if conn.read_buf(&mut self.buf).await? == 0 {
                return Err(err("connection closed before the response"));
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| err("bad status line"))?;
        let close = ws::header_value(&head, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let chunked = ws::header_value(&head, "transfer-encoding").is_some_and(|v| v.contains("chunked"));
        self.buf.drain(..end);
        let body = if chunked {
            read_chunked(conn, &mut self.buf).await?
        } else {
            let len: usize = ws::header_value(&head, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            while self.buf.len() < len {
                if conn.read_buf(&mut self.buf).await? == 0 {
                    return Err(err("connection closed inside the body"));
                }
            }
            self.buf.drain(..len).collect()
        };
        if close {
            self.conn = None;
        }
        Ok(Response { status, body })
    }
}

async fn read_chunked(conn: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(p) = buf.windows(2).position(|w| w == b"\r\n") {
                break p;
            }
            if conn.read_buf(buf).await? == 0 {
                return Err(err("closed inside a chunk header"));
            }
        };
        let size_txt = String::from_utf8_lossy(&buf[..line_end]).into_owned();
        let size = usize::from_str_radix(size_txt.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| err("bad chunk size"))?;
        while buf.len() < line_end + 2 + size + 2 {
            if conn.read_buf(buf).await? == 0 {
                return Err(err("closed inside a chunk"));
            }
        }
        body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
        buf.drain(..line_end + 2 + size + 2);
        if size == 0 {
            return Ok(body);
        }
    }
}
