//! One benchmark WebSocket client: TCP connect from a chosen 127.0.0.x source (more ephemeral
//! ports), the upgrade, `pusher:connection_established`, subscribe and wait for the answer,
//! then text frames one at a time. Pings are answered (both WebSocket and `pusher:ping`), and
//! the write half can be shared with a task that sends client events.

use crate::proto::{self, App, Incoming};
use crate::ws::{self, Rng};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Mutex;

/// Where and how the clients connect.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub app: App,
    /// Spread client sockets over 127.0.0.1..=127.0.0.N.
    pub source_ips: u8,
    /// Where WebSocket client `idx` connects: `sub_addrs[idx % len]`, or `addr` when empty
    /// (several nodes of one cluster; the HTTP API stays on `addr`).
    pub sub_addrs: Vec<SocketAddr>,
}

impl Target {
    pub fn ws_addr(&self, idx: usize) -> SocketAddr {
        match self.sub_addrs.len() {
            0 => self.addr,
            n => self.sub_addrs[idx % n],
        }
    }
}

/// The sending side of a connection, shareable between tasks.
#[derive(Clone)]
pub struct Writer(Arc<Mutex<(OwnedWriteHalf, Rng, Vec<u8>)>>);

impl Writer {
    pub async fn send(&self, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        let mut g = self.0.lock().await;
        let (w, rng, buf) = &mut *g;
        buf.clear();
        let mask = rng.mask();
        ws::encode_client(buf, opcode, payload, mask);
        w.write_all(buf).await
    }

    pub async fn text(&self, s: &str) -> std::io::Result<()> {
        self.send(ws::OP_TEXT, s.as_bytes()).await
    }
}

pub struct Client {
    rd: OwnedReadHalf,
    buf: Vec<u8>,
    /// Start of unconsumed bytes in `buf`.
    pos: usize,
    /// Payload of a fragmented message being reassembled.
    partial: Vec<u8>,
    pub writer: Writer,
    pub socket_id: String,
}

fn io_err(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::other(msg.into())
}

/// Opens the TCP connection from 127.0.0.(1 + idx % source_ips).
pub async fn open_tcp(t: &Target, idx: usize, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    if t.source_ips > 1 {
        let one: libc::c_int = 1;
        // SAFETY: a valid fd owned by `sock`; the option value is a live c_int of that size.
        // IP_BIND_ADDRESS_NO_PORT: the port is picked at connect time, per (source, target).
        unsafe {
            use std::os::fd::AsRawFd;
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                &one as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        let last = 1 + (idx % t.source_ips as usize) as u8;
        sock.bind(SocketAddr::new(Ipv4Addr::new(127, 0, 0, last).into(), 0))?;
    }
    let s = sock.connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

impl Client {
    /// Connects, upgrades and waits for `pusher:connection_established`.
    pub async fn connect(t: &Target, idx: usize) -> std::io::Result<Self> {
        let addr = t.ws_addr(idx);
        let mut tcp = open_tcp(t, idx, addr).await?;
        let mut rng = Rng::new(idx as u64 + 1);
        let key = ws::base64(&rng.next_u64().to_le_bytes().repeat(2));
        let req = ws::client_request(&addr.to_string(), &proto::ws_path(&t.app.key), &key);
        tcp.write_all(req.as_bytes()).await?;
        let mut buf = Vec::with_capacity(1024);
        let end = loop {
            if tcp.read_buf(&mut buf).await? == 0 {
                return Err(io_err("eof during upgrade"));
            }
            if let Some(e) = ws::head_end(&buf) {
                break e;
            }
            if buf.len() > 16 * 1024 {
                return Err(io_err("upgrade answer too long"));
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        if !head.starts_with("HTTP/1.1 101") {
            return Err(io_err(format!("upgrade refused: {}", head.lines().next().unwrap_or(""))));
        }
        let (rd, wr) = tcp.into_split();
        let mut c = Client {
            rd,
            buf,
            pos: end,
            partial: Vec::new(),
            writer: Writer(Arc::new(Mutex::new((wr, rng, Vec::with_capacity(256))))),
            socket_id: String::new(),
        };
        loop {
            match proto::parse(c.next_text().await?) {
                Incoming::Established { socket_id } => {
                    c.socket_id = socket_id;
                    return Ok(c);
                }
                Incoming::Error(e) => return Err(io_err(e)),
                _ => {}
            }
        }
    }

    /// Subscribes and waits for `subscription_succeeded` on that channel.
    pub async fn subscribe(&mut self, app: &App, channel: &str, user_id: Option<&str>) -> std::io::Result<()> {
        self.writer.text(&proto::subscribe(app, &self.socket_id, channel, user_id)).await?;
        self.wait_subscribed(channel).await
    }

    pub async fn wait_subscribed(&mut self, channel: &str) -> std::io::Result<()> {
        loop {
            match proto::parse(self.next_text().await?) {
                Incoming::Subscribed { channel: c } if c == channel => return Ok(()),
                Incoming::Error(e) => return Err(io_err(e)),
                _ => {}
            }
        }
    }

    /// Drops the bytes of frames already handed out; keeps the buffer small when idle.
    fn compact(&mut self) {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            if self.buf.capacity() > 64 * 1024 {
                self.buf.shrink_to(4096);
            }
        } else if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// The next text message. Pings are answered here; a close or EOF is an error.
    pub async fn next_text(&mut self) -> std::io::Result<&str> {
        loop {
            let parsed = ws::parse(&mut self.buf[self.pos..]).map_err(|e| io_err(format!("{e:?}")))?;
            let Some((f, used)) = parsed else {
                self.compact();
                if self.buf.capacity() - self.buf.len() < 2048 {
                    self.buf.reserve(8192);
                }
                if self.rd.read_buf(&mut self.buf).await? == 0 {
                    return Err(io_err("eof"));
                }
                continue;
            };
            let (start, end) = (self.pos + f.start, self.pos + f.end);
            self.pos += used;
            match f.opcode {
                ws::OP_TEXT | ws::OP_BINARY if f.fin => {
                    let s = std::str::from_utf8(&self.buf[start..end]).map_err(|_| io_err("text frame not UTF-8"))?;
                    if s.starts_with(r#"{"event":"pusher:ping""#) {
                        self.writer.text(proto::PONG).await?;
                        continue;
                    }
                    return Ok(std::str::from_utf8(&self.buf[start..end]).unwrap_or_default());
                }
                ws::OP_TEXT | ws::OP_BINARY | ws::OP_CONT => {
                    self.partial.extend_from_slice(&self.buf[start..end]);
                    if f.fin {
                        // Hand the reassembled message out through the main buffer.
                        let msg = std::mem::take(&mut self.partial);
                        self.buf.drain(..self.pos);
                        self.buf.splice(0..0, msg.iter().copied());
                        self.pos = msg.len();
                        return std::str::from_utf8(&self.buf[..msg.len()]).map_err(|_| io_err("text not UTF-8"));
                    }
                }
                ws::OP_PING => {
                    let payload = self.buf[start..end].to_vec();
                    self.writer.send(ws::OP_PONG, &payload).await?;
                }
                ws::OP_CLOSE => {
                    let code = (end - start >= 2).then(|| u16::from_be_bytes([self.buf[start], self.buf[start + 1]]));
                    let reason = String::from_utf8_lossy(&self.buf[(start + 2).min(end)..end]).into_owned();
                    return Err(io_err(format!("close frame {code:?} {reason}")));
                }
                _ => {}
            }
        }
    }

    /// Sends a WebSocket close and gives the server a moment to answer.
    pub async fn close(mut self) {
        let _ = self.writer.send(ws::OP_CLOSE, &1000u16.to_be_bytes()).await;
        let _ = tokio::time::timeout(Duration::from_millis(200), async {
            while self.next_text().await.is_ok() {}
        })
        .await;
    }
}

/// Connects and subscribes one client, within `limit`.
pub async fn connect_subscribed(
    t: &Target,
    idx: usize,
    channel: &str,
    user_id: Option<&str>,
    limit: Duration,
) -> Result<Client, String> {
    let fut = async {
        let mut c = Client::connect(t, idx).await.map_err(|e| format!("connect: {e}"))?;
        c.subscribe(&t.app, channel, user_id).await.map_err(|e| format!("subscribe: {e}"))?;
        Ok(c)
    };
    tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| Err("setup timed out".into()))
}
