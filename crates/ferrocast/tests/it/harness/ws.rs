//! A raw Pusher-protocol WebSocket client for tests, with deadlines on every read.

use ferrocast::config::AppConfig;
use ferrocast_protocol::signature;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::DEADLINE;

/// What the server sent next.
#[derive(Debug)]
pub enum Frame {
    Event(Value),
    Close(Option<u16>),
}

pub struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub socket_id: String,
}

/// Parses Pusher's double-encoded `data` (a JSON string holding JSON), or returns it as is.
/// The `events` of a `pusher_internal:watchlist_events` frame.
pub fn watchlist_events(f: &Value) -> Value {
    assert_eq!(f["event"], "pusher_internal:watchlist_events", "{f}");
    f["data"]["events"].clone()
}

pub fn data(frame: &Value) -> Value {
    match &frame["data"] {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
        other => other.clone(),
    }
}

impl WsClient {
    /// Finishes a client handshake within the deadline.
    async fn handshake<E: std::fmt::Debug, R>(
        handshake: impl std::future::Future<
            Output = Result<(WebSocketStream<MaybeTlsStream<TcpStream>>, R), E>,
        >,
    ) -> Self {
        let (ws, _) = tokio::time::timeout(DEADLINE, handshake)
            .await
            .expect("connect deadline")
            .expect("websocket handshake");
        Self {
            ws,
            socket_id: String::new(),
        }
    }

    /// Opens the socket without reading anything.
    pub async fn open(url: &str) -> Self {
        Self::handshake(tokio_tungstenite::connect_async(url)).await
    }

    /// Opens the socket for `req` (a URL or a request with headers) to `addr` from the
    /// loopback address `from`.
    pub async fn open_from(
        from: std::net::IpAddr,
        addr: std::net::SocketAddr,
        req: impl tokio_tungstenite::tungstenite::client::IntoClientRequest + Unpin,
    ) -> Self {
        let tcp = super::raw::tcp_from(from, addr).await.expect("tcp");
        Self::handshake(tokio_tungstenite::client_async(
            req,
            MaybeTlsStream::Plain(tcp),
        ))
        .await
    }

    /// Opens the socket for a prepared request (custom headers).
    pub async fn open_request(
        req: tokio_tungstenite::tungstenite::handshake::client::Request,
    ) -> Self {
        Self::handshake(tokio_tungstenite::connect_async(req)).await
    }

    /// Opens the socket and reads `pusher:connection_established`.
    pub async fn connect(url: &str) -> Self {
        let mut c = Self::open(url).await;
        let f = c.expect("pusher:connection_established").await;
        let d = data(&f);
        assert!(
            f["data"].is_string(),
            "connection_established data must be a string: {f}"
        );
        c.socket_id = d["socket_id"].as_str().expect("socket_id").to_owned();
        assert!(d["activity_timeout"].as_u64().expect("activity_timeout") > 0);
        c
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    pub async fn send_text(&mut self, s: &str) {
        self.ws.send(Message::text(s)).await.expect("send");
    }

    pub async fn send_message(&mut self, m: Message) {
        self.ws.send(m).await.expect("send");
    }

    /// The next event or close, within `within`; `None` if nothing came.
    pub async fn next_within(&mut self, within: Duration) -> Option<Frame> {
        let end = tokio::time::Instant::now() + within;
        loop {
            let msg = match tokio::time::timeout_at(end, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) => return Some(Frame::Close(None)),
                Ok(Some(Err(_))) => return Some(Frame::Close(None)),
                Ok(Some(Ok(m))) => m,
            };
            match msg {
                Message::Text(t) => {
                    return Some(Frame::Event(
                        serde_json::from_str(&t).expect("server sent JSON"),
                    ))
                }
                Message::Close(c) => return Some(Frame::Close(c.map(|c| c.code.into()))),
                _ => continue,
            }
        }
    }

    pub async fn next_frame(&mut self) -> Frame {
        self.next_within(DEADLINE)
            .await
            .expect("no frame before the deadline")
    }

    /// The next frame must be the event `name`.
    pub async fn expect(&mut self, name: &str) -> Value {
        match self.next_frame().await {
            Frame::Event(v) if v["event"] == name => v,
            other => panic!("expected {name}, got {other:?}"),
        }
    }

    /// Skips other events until `name` arrives, within `within`.
    pub async fn wait_for_within(&mut self, name: &str, within: Duration) -> Value {
        let end = tokio::time::Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Some(Frame::Event(v)) if v["event"] == name => return v,
                Some(Frame::Event(_)) => continue,
                Some(Frame::Close(c)) => panic!("closed ({c:?}) while waiting for {name}"),
                None => panic!("no {name} within {within:?}"),
            }
        }
    }

    /// Skips other events until `name` arrives.
    pub async fn wait_for(&mut self, name: &str) -> Value {
        loop {
            match self.next_frame().await {
                Frame::Event(v) if v["event"] == name => return v,
                Frame::Event(_) => continue,
                Frame::Close(c) => panic!("closed ({c:?}) while waiting for {name}"),
            }
        }
    }

    /// The next frame must be `pusher:error` with `code`; returns its message.
    pub async fn expect_error(&mut self, code: u16) -> String {
        let f = self.expect("pusher:error").await;
        assert!(
            f["data"].is_object(),
            "pusher:error data must be an object: {f}"
        );
        assert_eq!(f["data"]["code"], code, "{f}");
        f["data"]["message"].as_str().unwrap_or("").to_owned()
    }

    /// Skips events until the connection closes; asserts the close code.
    pub async fn expect_close(&mut self, code: u16) {
        loop {
            match self.next_frame().await {
                Frame::Close(c) => {
                    assert_eq!(c, Some(code), "close code");
                    return;
                }
                Frame::Event(_) => continue,
            }
        }
    }

    /// `pusher:error` with `code`, then a close with the same code.
    pub async fn expect_error_and_close(&mut self, code: u16) {
        self.expect_error(code).await;
        self.expect_close(code).await;
    }

    /// Asserts that nothing arrives for a short while.
    pub async fn expect_silence(&mut self) {
        if let Some(f) = self.next_within(Duration::from_millis(300)).await {
            panic!("expected nothing, got {f:?}");
        }
    }

    pub async fn subscribe_raw(&mut self, data: Value) {
        self.send(json!({"event": "pusher:subscribe", "data": data}))
            .await;
    }

    /// Subscribes to a public channel and waits for success.
    pub async fn subscribe(&mut self, channel: &str) -> Value {
        self.subscribe_raw(json!({"channel": channel, "auth": ""}))
            .await;
        self.expect_succeeded(channel).await
    }

    /// Sends `pusher:unsubscribe` (the server does not answer it).
    pub async fn unsubscribe(&mut self, channel: &str) {
        self.send(json!({"event": "pusher:unsubscribe", "data": {"channel": channel}}))
            .await;
    }

    pub async fn expect_succeeded(&mut self, channel: &str) -> Value {
        let f = self.expect("pusher_internal:subscription_succeeded").await;
        assert_eq!(f["channel"], channel);
        data(&f)
    }

    /// The auth token an app's auth endpoint would return for this socket.
    pub fn auth(&self, app: &AppConfig, channel: &str, channel_data: Option<&str>) -> String {
        let msg = signature::channel_string(&self.socket_id, channel, channel_data);
        signature::token(&app.key, &app.secret, &msg)
    }

    pub async fn subscribe_private(&mut self, app: &AppConfig, channel: &str) -> Value {
        let auth = self.auth(app, channel, None);
        self.subscribe_raw(json!({"channel": channel, "auth": auth}))
            .await;
        self.expect_succeeded(channel).await
    }

    /// Joins a presence channel as `user_id`; returns the `presence` member list.
    pub async fn join(
        &mut self,
        app: &AppConfig,
        channel: &str,
        user_id: &str,
        info: Value,
    ) -> Value {
        let cd = json!({"user_id": user_id, "user_info": info}).to_string();
        let auth = self.auth(app, channel, Some(&cd));
        self.subscribe_raw(json!({"channel": channel, "auth": auth, "channel_data": cd}))
            .await;
        self.expect_succeeded(channel).await["presence"].clone()
    }

    /// Signs in as `user_data` (a JSON object with `id`); returns what the server answered.
    pub async fn signin(&mut self, app: &AppConfig, user_data: Value) -> Value {
        let ud = user_data.to_string();
        let auth = signature::token(
            &app.key,
            &app.secret,
            &signature::user_string(&self.socket_id, &ud),
        );
        self.send(json!({"event": "pusher:signin", "data": {"auth": auth, "user_data": ud}}))
            .await;
        self.next_event().await
    }

    pub async fn next_event(&mut self) -> Value {
        match self.next_frame().await {
            Frame::Event(v) => v,
            Frame::Close(c) => panic!("closed ({c:?}) while waiting for an event"),
        }
    }
}
