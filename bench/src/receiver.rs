//! A slow webhook receiver for `bench/webhooks.sh`: answers every POST with `200` only after
//! `delay`, so a server's webhook queue backs up while the socket path is measured. It counts
//! the requests and the events in their bodies; `GET /stats?label=L` answers one JSON line
//! (`{"label":L,"webhook_requests":…,"webhook_events":…}`, then closes) for the results file. HTTP/1.1
//! with `Content-Length` bodies and kept-alive connections: what Ferrocast's webhook client sends.

use clap::Args;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Args, Debug, Clone)]
pub struct ReceiverArgs {
    /// Loopback port to listen on.
    #[arg(long, default_value_t = 6099)]
    pub port: u16,
    /// Milliseconds before each POST is answered.
    #[arg(long, default_value_t = 1000)]
    pub delay_ms: u64,
    /// Seconds after which the receiver exits by itself.
    #[arg(long, default_value_t = 1800)]
    pub max_seconds: u64,
}

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    events: AtomicU64,
}

/// Serves until the process is killed (or the watchdog's budget ends).
pub async fn run(a: ReceiverArgs) -> Result<Value, String> {
    let listener = TcpListener::bind(("127.0.0.1", a.port)).await.map_err(|e| format!("bind 127.0.0.1:{}: {e}", a.port))?;
    let counts = Arc::new(Counts::default());
    let delay = Duration::from_millis(a.delay_ms);
    loop {
        let (sock, _) = listener.accept().await.map_err(|e| format!("accept: {e}"))?;
        let counts = counts.clone();
        tokio::spawn(async move {
            let _ = serve(sock, delay, &counts).await;
        });
    }
}

async fn serve(mut sock: TcpStream, delay: Duration, counts: &Counts) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        let Some((head_len, body_len)) = read_head(&mut sock, &mut buf).await? else { return Ok(()) };
        while buf.len() < head_len + body_len {
            if sock.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
        let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
        let body = &buf[head_len..head_len + body_len];
        let stats = head.strip_prefix("GET /stats?label=").and_then(|r| r.split(' ').next()).map(str::to_owned);
        let reply = if let Some(label) = &stats {
            let line = json!({
                "label": label,
                "webhook_requests": counts.requests.load(Relaxed),
                "webhook_events": counts.events.load(Relaxed),
            });
            line.to_string()
        } else {
            let events = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("events").and_then(Value::as_array).map(Vec::len))
                .unwrap_or(0);
            tokio::time::sleep(delay).await;
            counts.requests.fetch_add(1, Relaxed);
            counts.events.fetch_add(events as u64, Relaxed);
            String::new()
        };
        buf.drain(..head_len + body_len);
        let resp = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}", reply.len());
        sock.write_all(resp.as_bytes()).await?;
        if stats.is_some() {
            // The script reads the stats to the end of the stream.
            return Ok(());
        }
    }
}

/// Reads until the end of a request's head; its length and the body's (`Content-Length`), or
/// `None` when the peer closed between requests.
async fn read_head(sock: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Option<(usize, usize)>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]);
            let body_len = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
            return Ok(Some((end + 4, body_len)));
        }
        if buf.len() > 64 * 1024 {
            return Err(std::io::Error::other("request head too large"));
        }
        if sock.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}
