//! One accepted socket of the null broadcaster: reads the HTTP head, then either serves a
//! WebSocket (Pusher handshake, subscribe/unsubscribe, client events, pings) or kept-alive
//! HTTP publishes (`POST /apps/{id}/events` and `/batch_events`, unsigned checks skipped).
//! Frames are encoded with the protocol crate, like Ferrocast's, so only the I/O path differs.

use super::{Peer, Registry};
use crate::ws;
use ferrocast_protocol::api::{BatchRequest, PublishRequest};
use ferrocast_protocol::server_msg::EventData;
use ferrocast_protocol::{ClientMessage, PresenceSnapshot, ServerMessage, SocketId};
use std::io::ErrorKind;
use std::sync::Arc;
use tokio::net::TcpStream;

/// Reads more bytes into `buf`; `Ok(false)` on EOF.
async fn fill(stream: &TcpStream, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    loop {
        stream.readable().await?;
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096);
        }
        match stream.try_read_buf(buf) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

fn text_frame(bytes: &[u8]) -> Vec<u8> {
    ws::server_frame(ws::OP_TEXT, bytes)
}

pub(super) fn member_frame(channel: &str, user_id: &str, added: bool) -> Vec<u8> {
    let m = if added {
        ServerMessage::MemberAdded { channel, user_id, user_info: None }
    } else {
        ServerMessage::MemberRemoved { channel, user_id }
    };
    text_frame(&m.encode())
}

pub(super) async fn handle(reg: Arc<Registry>, peer: Arc<Peer>, stream: Arc<TcpStream>) {
    let mut buf = Vec::with_capacity(1024);
    let end = loop {
        if let Some(e) = ws::head_end(&buf) {
            break e;
        }
        if buf.len() > 16 * 1024 || !matches!(fill(&stream, &mut buf).await, Ok(true)) {
            return peer.kill();
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    if head.starts_with("GET /app/") {
        let Some(key) = ws::header_value(&head, "sec-websocket-key") else { return peer.kill() };
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            ws::accept_key(key)
        );
        peer.deliver(answer.as_bytes());
        buf.drain(..end);
        websocket(&reg, &peer, &stream, buf).await;
    } else if head.starts_with("POST /apps/") {
        http(&reg, &peer, &stream, buf).await;
    } else {
        peer.deliver(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await; // let the flusher finish
    peer.kill();
}

async fn websocket(reg: &Registry, peer: &Arc<Peer>, stream: &TcpStream, mut buf: Vec<u8>) {
    let est = ServerMessage::ConnectionEstablished { socket_id: SocketId::new(1, peer.id), activity_timeout: 120 };
    peer.deliver(&text_frame(&est.encode()));
    let mut subscribed: Vec<String> = Vec::new();
    let mut pos = 0;
    'read: loop {
        loop {
            let (f, used) = match ws::parse(&mut buf[pos..]) {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(_) => break 'read,
            };
            let payload = &buf[pos + f.start..pos + f.end];
            match f.opcode {
                ws::OP_TEXT => {
                    let text = std::str::from_utf8(payload).unwrap_or("");
                    on_message(reg, peer, text, &mut subscribed);
                }
                ws::OP_PING => peer.deliver(&ws::server_frame(ws::OP_PONG, payload)),
                ws::OP_CLOSE => {
                    peer.deliver(&ws::server_frame(ws::OP_CLOSE, payload.get(..2).unwrap_or(&[])));
                    break 'read;
                }
                _ => {}
            }
            pos += used;
        }
        buf.drain(..pos);
        pos = 0;
        if buf.is_empty() && buf.capacity() > 16 * 1024 {
            buf.shrink_to(1024);
        }
        if peer.is_dead() || !matches!(fill(stream, &mut buf).await, Ok(true)) {
            break;
        }
    }
    for c in subscribed {
        reg.unsubscribe(&c, peer.id);
    }
}

fn on_message(reg: &Registry, peer: &Arc<Peer>, text: &str, subscribed: &mut Vec<String>) {
    let Ok(msg) = ClientMessage::decode(text) else { return };
    match msg {
        ClientMessage::Ping => peer.deliver(&text_frame(&ServerMessage::Pong.encode())),
        ClientMessage::Subscribe(s) => {
            let user = s.channel_data.as_deref().and_then(|d| {
                let v: serde_json::Value = serde_json::from_str(d).ok()?;
                Some(match v.get("user_id")? {
                    serde_json::Value::String(u) => u.clone(),
                    other => other.to_string(),
                })
            });
            let user = user.filter(|_| s.channel.starts_with("presence-"));
            let members = reg.subscribe(&s.channel, peer, user);
            let ids: Vec<&str> = members.iter().flatten().map(String::as_str).collect();
            let snap = members.is_some().then(|| PresenceSnapshot::from_members(ids.iter().map(|i| (*i, None))));
            let ok = ServerMessage::SubscriptionSucceeded { channel: &s.channel, presence: snap.as_ref(), stream: None };
            peer.deliver(&text_frame(&ok.encode()));
            if !subscribed.contains(&s.channel) {
                subscribed.push(s.channel);
            }
        }
        ClientMessage::Unsubscribe { channel } => {
            reg.unsubscribe(&channel, peer.id);
            subscribed.retain(|c| *c != channel);
        }
        ClientMessage::ClientEvent { event, channel, data } => {
            if let Some(user) = reg.user_of(&channel, peer.id) {
                let m = ServerMessage::Event { event: &event, channel: &channel, data: EventData::Raw(&data), user_id: user.as_deref() };
                reg.publish(&channel, &text_frame(&m.encode()), Some(peer.id));
            }
        }
        ClientMessage::Pong | ClientMessage::Signin(_) | ClientMessage::Unknown { .. } => {}
    }
}

/// Publishes one event to each of its channels, except the socket it names.
fn publish(reg: &Registry, name: &str, data: &str, channels: &[String], except: Option<&str>) {
    let except = except.and_then(|s| s.rsplit_once('.')).and_then(|(_, n)| n.parse().ok());
    for c in channels {
        let m = ServerMessage::Event { event: name, channel: c, data: EventData::Str(data), user_id: None };
        reg.publish(c, &text_frame(&m.encode()), except);
    }
}

fn respond(peer: &Peer, status: &str, body: &str) {
    let r = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    peer.deliver(r.as_bytes());
}

/// Kept-alive HTTP: one request after another on the same socket.
async fn http(reg: &Registry, peer: &Arc<Peer>, stream: &TcpStream, mut buf: Vec<u8>) {
    loop {
        let end = loop {
            if let Some(e) = ws::head_end(&buf) {
                break e;
            }
            if buf.len() > 64 * 1024 || !matches!(fill(stream, &mut buf).await, Ok(true)) {
                return;
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let len: usize = ws::header_value(&head, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        while buf.len() < end + len {
            if len > 16 << 20 || !matches!(fill(stream, &mut buf).await, Ok(true)) {
                return;
            }
        }
        let body = &buf[end..end + len];
        let path = head.split(' ').nth(1).unwrap_or("").split('?').next().unwrap_or("");
        let ok = if path.ends_with("/batch_events") {
            serde_json::from_slice::<BatchRequest>(body).map(|b| {
                for e in b.batch {
                    publish(reg, &e.name, &e.data.into_string(), &[e.channel], e.socket_id.as_deref());
                }
            })
        } else {
            serde_json::from_slice::<PublishRequest>(body).map(|r| {
                let channels = r.channels.or(r.channel.map(|c| vec![c])).unwrap_or_default();
                publish(reg, &r.name, &r.data.into_string(), &channels, r.socket_id.as_deref());
            })
        };
        match ok {
            Ok(()) => respond(peer, "200 OK", "{}"),
            Err(e) => respond(peer, "400 Bad Request", &serde_json::json!({ "error": e.to_string() }).to_string()),
        }
        buf.drain(..end + len);
    }
}
