//! The per-app debug tap behind the dashboard's live console: what happens to an app on this
//! node (connections, subscriptions, presence, publishes, client events, webhook deliveries) as
//! compact JSON events.
//!
//! It costs nothing while nobody watches: the hooks in the socket and publish paths pass a
//! closure that is only called when a viewer is attached (one relaxed atomic load otherwise), and
//! the broadcast channel exists only while at least one viewer holds a `Watch`. Each event is
//! serialised once and the bytes are shared by every viewer. A viewer is bounded twice: the
//! broadcast buffer (a viewer that falls behind loses the oldest events) and a per-viewer rate
//! cap; both losses are counted and reported, so the UI can say "sampling active: N dropped".
//!
//! The feed is local to the node serving the dashboard.
//!
//! Adding an event kind (history writes, say): add a variant to
//! `DebugEvent` with its `channel()` and a name in `KINDS`, and call `App::debug.emit` where it
//! happens. The UI shows any `type` it receives, with its fields.

use bytes::Bytes;
use ferrocast_protocol::{ErrorCode, SocketId};
use governor::DefaultDirectRateLimiter;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::broadcast;

use crate::channels::Unsubscribed;

/// Events buffered for the slowest viewer before it starts losing the oldest.
pub const BUFFER: usize = 1024;

/// Bytes of event data kept in a debug event; the rest is cut (the event says so).
pub const MAX_DATA: usize = 1024;

/// Every event `type`, for the filter and the docs.
pub const KINDS: [&str; 11] = [
    "connected",
    "disconnected",
    "subscribed",
    "unsubscribed",
    "member_added",
    "member_removed",
    "api_event",
    "client_event",
    "webhook_delivered",
    "webhook_failed",
    "webhook_dead_lettered",
];

/// One thing that happened to an app. Built only when someone watches.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DebugEvent {
    Connected {
        socket_id: String,
        origin: Option<String>,
    },
    Disconnected {
        socket_id: String,
        /// The Pusher close code when the server ended the connection.
        code: Option<u16>,
        reason: Option<String>,
    },
    Subscribed {
        socket_id: String,
        channel: String,
    },
    Unsubscribed {
        socket_id: String,
        channel: String,
    },
    /// A presence user's first socket on this node joined the channel.
    MemberAdded {
        socket_id: String,
        channel: String,
        user_id: String,
    },
    /// A presence user's last socket on this node left the channel.
    MemberRemoved {
        socket_id: String,
        channel: String,
        user_id: String,
    },
    /// An event published through the HTTP API (or the dashboard's test form).
    ApiEvent {
        channel: String,
        event: String,
        data: String,
        truncated: bool,
        except: Option<String>,
    },
    ClientEvent {
        socket_id: String,
        channel: String,
        event: String,
        data: String,
        truncated: bool,
    },
    /// A webhook request the endpoint accepted. `url` has its credentials redacted; `events`
    /// counts the events in the request; `attempt` is 1 for the first try.
    WebhookDelivered {
        url: String,
        events: usize,
        status: u16,
        attempt: u32,
    },
    /// A webhook request that failed (timeout, connection error, non-2xx) and will be retried.
    WebhookFailed {
        url: String,
        events: usize,
        error: String,
        attempt: u32,
        retry_in_ms: u64,
    },
    /// A webhook request that failed its last attempt and was kept as a dead letter.
    WebhookDeadLettered {
        url: String,
        events: usize,
        error: String,
        attempt: u32,
    },
}

/// How one webhook attempt ended, for `DebugEvent::webhook`.
#[derive(Debug)]
pub enum WebhookOutcome {
    Delivered { status: u16 },
    WillRetry { error: String, retry_in_ms: u64 },
    DeadLettered { error: String },
}

impl DebugEvent {
    pub fn api_event(channel: &str, event: &str, data: &str, except: Option<SocketId>) -> Self {
        let (data, truncated) = clip(data);
        Self::ApiEvent {
            channel: channel.to_owned(),
            event: event.to_owned(),
            data,
            truncated,
            except: except.map(|s| s.to_string()),
        }
    }

    pub fn disconnected(socket: SocketId, closing: Option<(ErrorCode, &str)>) -> Self {
        Self::Disconnected {
            socket_id: socket.to_string(),
            code: closing.map(|(c, _)| c.code()),
            reason: closing.map(|(_, m)| m.to_owned()),
        }
    }

    pub fn client_event(socket: SocketId, channel: &str, event: &str, data: &str) -> Self {
        let (data, truncated) = clip(data);
        Self::ClientEvent {
            socket_id: socket.to_string(),
            channel: channel.to_owned(),
            event: event.to_owned(),
            data,
            truncated,
        }
    }

    /// Attempt number `attempt` of the webhook request to `url` carrying `events` (the JSON
    /// array of its events).
    pub fn webhook(url: &str, events: &str, attempt: u32, outcome: WebhookOutcome) -> Self {
        // Endpoints may carry basic-auth or token credentials; the console never shows them.
        let url = crate::config::redact_url(url);
        let events = serde_json::from_str::<Vec<&serde_json::value::RawValue>>(events)
            .map_or(0, |e| e.len());
        match outcome {
            WebhookOutcome::Delivered { status } => Self::WebhookDelivered {
                url,
                events,
                status,
                attempt,
            },
            WebhookOutcome::WillRetry { error, retry_in_ms } => Self::WebhookFailed {
                url,
                events,
                error,
                attempt,
                retry_in_ms,
            },
            WebhookOutcome::DeadLettered { error } => Self::WebhookDeadLettered {
                url,
                events,
                error,
                attempt,
            },
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Connected { .. } => "connected",
            Self::Disconnected { .. } => "disconnected",
            Self::Subscribed { .. } => "subscribed",
            Self::Unsubscribed { .. } => "unsubscribed",
            Self::MemberAdded { .. } => "member_added",
            Self::MemberRemoved { .. } => "member_removed",
            Self::ApiEvent { .. } => "api_event",
            Self::ClientEvent { .. } => "client_event",
            Self::WebhookDelivered { .. } => "webhook_delivered",
            Self::WebhookFailed { .. } => "webhook_failed",
            Self::WebhookDeadLettered { .. } => "webhook_dead_lettered",
        }
    }

    fn channel(&self) -> Option<&str> {
        match self {
            // A webhook request may carry events of several channels: it belongs to none.
            Self::Connected { .. }
            | Self::Disconnected { .. }
            | Self::WebhookDelivered { .. }
            | Self::WebhookFailed { .. }
            | Self::WebhookDeadLettered { .. } => None,
            Self::Subscribed { channel, .. }
            | Self::Unsubscribed { channel, .. }
            | Self::MemberAdded { channel, .. }
            | Self::MemberRemoved { channel, .. }
            | Self::ApiEvent { channel, .. }
            | Self::ClientEvent { channel, .. } => Some(channel),
        }
    }
}

/// Event data cut to `MAX_DATA` bytes (at a character boundary), and whether it was cut.
pub fn clip(data: &str) -> (String, bool) {
    if data.len() <= MAX_DATA {
        return (data.to_owned(), false);
    }
    let mut end = MAX_DATA;
    while !data.is_char_boundary(end) {
        end -= 1;
    }
    (data[..end].to_owned(), true)
}

/// An event as viewers receive it: its JSON, encoded once, and what filters look at.
#[derive(Debug)]
pub struct DebugFrame {
    pub kind: &'static str,
    pub channel: Option<String>,
    pub json: Bytes,
}

#[derive(Serialize)]
struct Stamped<'a> {
    /// Unix time in milliseconds.
    at: u64,
    #[serde(flatten)]
    event: &'a DebugEvent,
}

impl DebugFrame {
    fn new(event: DebugEvent) -> Self {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let json = serde_json::to_vec(&Stamped { at, event: &event }).unwrap_or_default();
        Self {
            kind: event.kind(),
            channel: event.channel().map(str::to_owned),
            json: Bytes::from(json),
        }
    }
}

type Sender = broadcast::Sender<Arc<DebugFrame>>;

/// An app's tap. The channel exists only while a `Watch` is held.
#[derive(Debug, Default)]
pub struct DebugTap {
    watchers: AtomicUsize,
    sender: RwLock<Option<Sender>>,
}

impl DebugTap {
    /// Publishes the event `make` builds, if anyone watches; otherwise `make` is never called.
    #[inline]
    pub fn emit(&self, make: impl FnOnce() -> DebugEvent) {
        if self.watchers.load(Ordering::Relaxed) > 0 {
            self.send(make());
        }
    }

    fn send(&self, event: DebugEvent) {
        let sender = self.sender.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = sender.as_ref() {
            // No receiver left is fine: the last `Watch` is being dropped.
            let _ = tx.send(Arc::new(DebugFrame::new(event)));
        }
    }

    /// A subscription, and the presence member it made join, if any.
    pub fn subscribed(&self, socket: SocketId, channel: &str, joined: Option<&str>) {
        self.emit(|| DebugEvent::Subscribed {
            socket_id: socket.to_string(),
            channel: channel.to_owned(),
        });
        if let Some(user) = joined {
            self.emit(|| DebugEvent::MemberAdded {
                socket_id: socket.to_string(),
                channel: channel.to_owned(),
                user_id: user.to_owned(),
            });
        }
    }

    /// An unsubscription (explicit or at disconnect), and the presence member it made leave.
    pub fn unsubscribed(&self, socket: SocketId, channel: &str, left: &Unsubscribed) {
        let Unsubscribed::Left { local_leave, .. } = left else {
            return;
        };
        self.emit(|| DebugEvent::Unsubscribed {
            socket_id: socket.to_string(),
            channel: channel.to_owned(),
        });
        if let Some(user) = local_leave {
            self.emit(|| DebugEvent::MemberRemoved {
                socket_id: socket.to_string(),
                channel: channel.to_owned(),
                user_id: user.to_string(),
            });
        }
    }

    /// Whether a viewer is attached (and the channel exists).
    pub fn is_watched(&self) -> bool {
        self.sender
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Attaches a viewer, creating the channel for the first one.
    pub fn watch(self: &Arc<Self>) -> Watch {
        let mut sender = self.sender.write().unwrap_or_else(PoisonError::into_inner);
        let rx = sender
            .get_or_insert_with(|| broadcast::channel(BUFFER).0)
            .subscribe();
        self.watchers.fetch_add(1, Ordering::Relaxed);
        Watch {
            rx,
            tap: self.clone(),
        }
    }

    /// Viewers attached now.
    pub fn watchers(&self) -> usize {
        self.watchers.load(Ordering::Relaxed)
    }
}

/// One viewer's subscription to a tap; the last one dropped removes the channel.
#[derive(Debug)]
pub struct Watch {
    rx: broadcast::Receiver<Arc<DebugFrame>>,
    tap: Arc<DebugTap>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut sender = self
            .tap
            .sender
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if self.tap.watchers.fetch_sub(1, Ordering::Relaxed) == 1 {
            *sender = None;
        }
    }
}

/// Which events a viewer wants: channels starting with `channel`, and these `types`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub channel: Option<String>,
    pub types: Option<HashSet<String>>,
}

impl Filter {
    fn admits(&self, frame: &DebugFrame) -> bool {
        let channel_ok = match (&self.channel, &frame.channel) {
            (None, _) => true,
            (Some(want), Some(c)) => c.starts_with(want.as_str()),
            // Connection events belong to no channel; a channel filter hides them.
            (Some(_), None) => false,
        };
        channel_ok && self.types.as_ref().is_none_or(|t| t.contains(frame.kind))
    }
}

/// A bounded viewer: a watch, its filter and its rate cap, counting what it drops.
#[derive(Debug)]
pub struct Viewer {
    watch: Watch,
    filter: Filter,
    limiter: Option<DefaultDirectRateLimiter>,
    dropped: u64,
}

impl Viewer {
    pub fn new(watch: Watch, filter: Filter, per_second: u32) -> Self {
        Self {
            watch,
            filter,
            limiter: crate::apps::per_second(per_second),
            dropped: 0,
        }
    }

    /// Events dropped so far (over the rate cap, or lost by falling behind).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Waits for the next event this viewer may see (its JSON).
    pub async fn next(&mut self) -> Bytes {
        loop {
            match self.watch.rx.recv().await {
                Ok(frame) => {
                    if !self.filter.admits(&frame) {
                        continue;
                    }
                    if self.limiter.as_ref().is_some_and(|l| l.check().is_err()) {
                        self.dropped += 1;
                        continue;
                    }
                    return frame.json.clone();
                }
                Err(broadcast::error::RecvError::Lagged(n)) => self.dropped += n,
                // The sender lives as long as any `Watch`, this one included.
                Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn subscribed(channel: &str) -> DebugEvent {
        DebugEvent::Subscribed {
            socket_id: "1.1".into(),
            channel: channel.into(),
        }
    }

    #[test]
    fn unwatched_tap_builds_nothing_and_has_no_channel() {
        let tap = Arc::new(DebugTap::default());
        let mut built = false;
        tap.emit(|| {
            built = true;
            subscribed("a")
        });
        assert!(!built);
        assert!(!tap.is_watched());
        let w1 = tap.watch();
        let w2 = tap.watch();
        assert!(tap.is_watched());
        drop(w1);
        assert!(tap.is_watched(), "one viewer still watches");
        drop(w2);
        assert!(!tap.is_watched(), "the channel goes with the last viewer");
        assert_eq!(tap.watchers(), 0);
    }

    #[tokio::test]
    async fn events_are_json_with_their_type_and_time() {
        let tap = Arc::new(DebugTap::default());
        let mut v = Viewer::new(tap.watch(), Filter::default(), 100);
        tap.emit(|| subscribed("room"));
        let json = v.next().await;
        let value: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(value["type"], "subscribed");
        assert_eq!(value["channel"], "room");
        assert_eq!(value["socket_id"], "1.1");
        assert!(value["at"].as_u64().is_some_and(|t| t > 1_600_000_000_000));
    }

    #[tokio::test]
    async fn the_rate_cap_drops_and_counts_the_excess() {
        let tap = Arc::new(DebugTap::default());
        let mut v = Viewer::new(tap.watch(), Filter::default(), 5);
        for i in 0..50 {
            tap.emit(|| subscribed(&format!("c{i}")));
        }
        tap.emit(|| subscribed("last"));
        let mut got = 0;
        while tokio::time::timeout(Duration::from_millis(50), v.next())
            .await
            .is_ok()
        {
            got += 1;
        }
        assert_eq!(got, 5, "a burst of one second's worth passes");
        assert_eq!(v.dropped(), 46);
    }

    #[tokio::test]
    async fn a_viewer_that_falls_behind_counts_what_it_lost() {
        let tap = Arc::new(DebugTap::default());
        let mut v = Viewer::new(tap.watch(), Filter::default(), 1_000_000);
        for i in 0..BUFFER + 10 {
            tap.emit(|| subscribed(&format!("c{i}")));
        }
        let mut got = 0;
        while tokio::time::timeout(Duration::from_millis(50), v.next())
            .await
            .is_ok()
        {
            got += 1;
        }
        assert_eq!(got, BUFFER);
        assert_eq!(v.dropped(), 10);
    }

    #[tokio::test]
    async fn filters_by_channel_prefix_and_type() {
        let tap = Arc::new(DebugTap::default());
        let filter = Filter {
            channel: Some("presence-".into()),
            types: Some(HashSet::from(["member_added".to_owned()])),
        };
        let mut v = Viewer::new(tap.watch(), filter, 100);
        tap.emit(|| DebugEvent::Connected {
            socket_id: "1.1".into(),
            origin: None,
        });
        tap.emit(|| subscribed("presence-room"));
        tap.emit(|| DebugEvent::MemberAdded {
            socket_id: "1.1".into(),
            channel: "private-x".into(),
            user_id: "u".into(),
        });
        tap.emit(|| DebugEvent::MemberAdded {
            socket_id: "1.1".into(),
            channel: "presence-room".into(),
            user_id: "u".into(),
        });
        let json = v.next().await;
        let value: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(
            (value["type"].as_str(), value["channel"].as_str()),
            (Some("member_added"), Some("presence-room"))
        );
        assert_eq!(v.dropped(), 0, "filtered events are not drops");
    }

    #[test]
    fn webhook_events_hide_credentials_count_events_and_name_their_kind() {
        let url = "https://user:hunter2@hooks.example/in?token=abc&x=1";
        let events = r#"[{"name":"channel_occupied"},{"name":"channel_vacated"}]"#;
        let outcomes = [
            WebhookOutcome::Delivered { status: 204 },
            WebhookOutcome::WillRetry {
                error: "HTTP 500".into(),
                retry_in_ms: 40,
            },
            WebhookOutcome::DeadLettered {
                error: "timeout".into(),
            },
        ];
        for (outcome, kind) in outcomes.into_iter().zip(&KINDS[8..]) {
            let frame = DebugFrame::new(DebugEvent::webhook(url, events, 3, outcome));
            let value: serde_json::Value = serde_json::from_slice(&frame.json).expect("json");
            assert_eq!((frame.kind, value["type"].as_str()), (*kind, Some(*kind)));
            assert_eq!(
                (value["events"].as_u64(), value["attempt"].as_u64()),
                (Some(2), Some(3))
            );
            let shown = value["url"].as_str().expect("url");
            assert!(
                !shown.contains("hunter2") && !shown.contains("abc"),
                "{shown}"
            );
            assert!(
                shown.starts_with("https://user:") && shown.ends_with("x=1"),
                "{shown}"
            );
            assert_eq!(frame.channel, None);
        }
    }

    #[test]
    fn data_is_clipped_at_a_character_boundary() {
        let long = "é".repeat(MAX_DATA);
        let (cut, truncated) = clip(&long);
        assert!(truncated);
        assert!(cut.len() <= MAX_DATA && cut.len() >= MAX_DATA - 1);
        assert_eq!(clip("short"), ("short".to_owned(), false));
    }
}
