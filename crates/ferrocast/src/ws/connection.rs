//! One connection's protocol state and what each client message does to it: subscriptions,
//! sign-in, client events. It queues replies on the connection's own outbox (so they stay in
//! order with fan-out) and never touches the socket; `session` does the I/O. The app's
//! `subscribe` and `publish` hooks are awaited here, so only this connection waits for them.

use ferrocast_protocol::channel::ChannelKind;
use ferrocast_protocol::client_msg::{Signin, Subscribe};
use ferrocast_protocol::names::validate_event_name;
use ferrocast_protocol::server_msg::{EventData, SubscriptionErrorKind};
use ferrocast_protocol::{
    signature, ChannelData, ChannelName, ClientMessage, ErrorCode, ServerMessage, SocketId,
};
use governor::DefaultDirectRateLimiter;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::apps::App;
use crate::channels::{Member, Refused, Unsubscribed};
use crate::cluster::Cluster;
use crate::debug_feed::DebugEvent;
use crate::frame::Frame;
use crate::history::{self, History};
use crate::hooks::{Hooks, Verdict};
use crate::outbox::SessionHandle;
use crate::state::Shared;
use crate::webhooks::Webhooks;

/// A reason to end the connection: sent as `pusher:error`, then as the close code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Closing {
    pub code: ErrorCode,
    pub message: Cow<'static, str>,
}

impl Closing {
    pub(super) fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug)]
struct SignedIn {
    id: Arc<str>,
    info: Option<Arc<RawValue>>,
    watchlist: Vec<Arc<str>>,
}

/// `user_data` of a sign-in.
#[derive(Deserialize)]
struct UserData {
    id: serde_json::Value,
    #[serde(default)]
    user_info: Option<Box<RawValue>>,
    #[serde(default)]
    watchlist: Vec<String>,
}

pub(super) struct Connection {
    pub socket_id: SocketId,
    app: Arc<App>,
    cluster: Arc<Cluster>,
    history: Arc<History>,
    webhooks: Webhooks,
    hooks: Hooks,
    handle: SessionHandle,
    /// Subscribed channels, with the presence user id where there is one.
    subscriptions: HashMap<ChannelName, Option<Arc<str>>>,
    user: Option<SignedIn>,
    client_events: Option<DefaultDirectRateLimiter>,
}

impl Connection {
    pub(super) fn new(app: Arc<App>, shared: &Shared, handle: SessionHandle) -> Self {
        let client_events = crate::apps::per_second(app.config().max_client_events_per_sec);
        Self {
            socket_id: handle.socket_id,
            app,
            cluster: shared.cluster.clone(),
            history: shared.history.clone(),
            webhooks: shared.webhooks.clone(),
            hooks: shared.hooks.clone(),
            handle,
            subscriptions: HashMap::new(),
            user: None,
            client_events,
        }
    }

    pub(super) fn is_signed_in(&self) -> bool {
        self.user.is_some()
    }

    fn send(&self, msg: ServerMessage<'_>) {
        self.handle.send(Frame::encode(&msg));
    }

    /// A `pusher:error` that leaves the connection open.
    fn error(&self, code: ErrorCode, message: &str) {
        self.send(ServerMessage::Error { code, message });
    }

    /// Handles one text frame. `Ok(true)` means it was only a keep-alive (ping or pong); an
    /// `Err` ends the connection with that code.
    pub(super) async fn handle_text(&mut self, text: &str, now: Instant) -> Result<bool, Closing> {
        let msg = match ClientMessage::decode(text) {
            Ok(m) => m,
            Err(e) => {
                self.error(ErrorCode::InvalidMessage, &e.to_string());
                return Ok(false);
            }
        };
        match msg {
            ClientMessage::Ping => {
                self.send(ServerMessage::Pong);
                return Ok(true);
            }
            ClientMessage::Pong => return Ok(true),
            ClientMessage::Subscribe(s) => self.subscribe(s, now).await,
            ClientMessage::Unsubscribe { channel } => self.unsubscribe(&channel),
            ClientMessage::Signin(s) => self.signin(s)?,
            ClientMessage::ClientEvent {
                event,
                channel,
                data,
            } => {
                if let Err(message) = self.client_event(&event, &channel, &data).await {
                    self.error(ErrorCode::ClientEventRejected, &message);
                }
            }
            ClientMessage::Unknown { event } => {
                self.error(
                    ErrorCode::InvalidMessage,
                    &format!("Unsupported event {event:?}"),
                );
            }
        }
        Ok(false)
    }

    fn refuse(&self, channel: &str, kind: SubscriptionErrorKind, message: &str) {
        self.send(ServerMessage::SubscriptionError {
            channel,
            kind,
            message,
        });
    }

    async fn subscribe(&mut self, s: Subscribe, now: Instant) {
        let cfg = self.app.config();
        let channel = match ChannelName::parse(&s.channel, cfg.max_channel_name_length) {
            Ok(c) => c,
            Err(e) => {
                return self.refuse(
                    &s.channel,
                    SubscriptionErrorKind::InvalidChannel,
                    &e.to_string(),
                )
            }
        };
        if !self.subscriptions.contains_key(&channel)
            && self.subscriptions.len() >= cfg.max_channels_per_connection
        {
            let msg = format!(
                "A connection may subscribe to at most {} channels",
                cfg.max_channels_per_connection
            );
            return self.refuse(channel.as_str(), SubscriptionErrorKind::LimitReached, &msg);
        }
        // The app's subscribe hook may refuse any channel, or supply the presence member
        // itself (then the client's own channel auth is not needed).
        let sid = self.socket_id.to_string();
        let signed_in = self.user.as_ref().map(|u| &*u.id);
        let verdict = (self.hooks)
            .subscribe(&self.app, &sid, channel.as_str(), signed_in)
            .await;
        let member = match verdict {
            Verdict::Deny(msg) => {
                return self.refuse(channel.as_str(), SubscriptionErrorKind::Forbidden, &msg)
            }
            Verdict::Allow(Some(m)) if channel.kind() == ChannelKind::Presence => Ok(Some(m)),
            Verdict::Allow(_) => self.authorize(&channel, &s),
        };
        let member = match member {
            Ok(m) => m,
            Err((kind, msg)) => return self.refuse(channel.as_str(), kind, &msg),
        };
        let user_id = member.as_ref().map(|m| m.user_id.clone());
        let max_members = self.app.config().max_presence_members;
        // A node started after the channel's last publish has no copy: take another node's
        // first, so the subscription below still sends it right after subscription_succeeded.
        if channel.is_cache() && self.app.channels.cached(channel.as_str(), now).is_none() {
            if let Some(event) = self.cluster.fetch_cached(&self.app, &channel).await {
                (self.app.channels).fill_cache(&channel, event, Instant::now());
            }
        }
        let subscribed = match self.history.retention(&self.app, channel.as_str()) {
            Some(retention) => self.history.subscribe(
                history::Subscription {
                    app: &self.app,
                    channel: &channel,
                    handle: &self.handle,
                    member,
                    max_members,
                    retention,
                    recover: s.recover,
                },
                now,
            ),
            None => self
                .app
                .channels
                .subscribe(&channel, &self.handle, member, max_members, now),
        };
        match subscribed {
            Ok(sub) => {
                if let Some(member) = &sub.local_join {
                    self.cluster.joined(&self.app, &channel, member);
                }
                let joined = sub.local_join.as_ref().map(|m| &*m.user_id);
                (self.app.debug).subscribed(self.socket_id, channel.as_str(), joined);
                self.webhooks.subscribed(&self.app, &channel, &sub);
                self.subscriptions.insert(channel, user_id);
            }
            Err(Refused::PresenceFull { max }) => {
                let msg = format!("Presence channel is full ({max} members)");
                self.refuse(channel.as_str(), SubscriptionErrorKind::LimitReached, &msg);
            }
        }
    }

    /// Checks the subscription's auth for the channel's kind; returns the presence member.
    fn authorize(
        &self,
        channel: &ChannelName,
        s: &Subscribe,
    ) -> Result<Option<Member>, (SubscriptionErrorKind, String)> {
        use SubscriptionErrorKind::*;
        let cfg = self.app.config();
        let sid = self.socket_id.to_string();
        let auth = s.auth.as_deref().unwrap_or("");
        let now = crate::clock::unix_now();
        let signed = |data: Option<&str>| {
            let msg = signature::channel_string(&sid, channel.as_str(), data);
            cfg.any_secret(now, |secret| {
                signature::verify_token(&cfg.key, secret, auth, &msg)
            })
        };
        let invalid_sig = || {
            (
                AuthError,
                format!("Invalid signature for channel {channel} and socket {sid}"),
            )
        };
        match channel.kind() {
            ChannelKind::Public => Ok(None),
            ChannelKind::Private | ChannelKind::Encrypted => {
                signed(None).then_some(None).ok_or_else(invalid_sig)
            }
            ChannelKind::ServerToUser => match &self.user {
                Some(u) if Some(&*u.id) == channel.server_to_user_id() => Ok(None),
                _ => Err((
                    AuthError,
                    "Only the signed-in user may subscribe to its server-to-user channel".into(),
                )),
            },
            ChannelKind::Presence => {
                let (user_id, user_info) = match (&s.channel_data, &self.user) {
                    (Some(data), _) => {
                        if !signed(Some(data)) {
                            return Err(invalid_sig());
                        }
                        let d = ChannelData::parse(data)
                            .map_err(|e| (InvalidChannel, e.to_string()))?;
                        (Arc::from(d.user_id), d.user_info.map(Arc::from))
                    }
                    // A signed-in connection may join as itself with a plain channel signature.
                    (None, Some(u)) if signed(None) => (u.id.clone(), u.info.clone()),
                    (None, Some(_)) => return Err(invalid_sig()),
                    (None, None) => {
                        return Err((InvalidChannel, "Presence channels need channel_data".into()))
                    }
                };
                let info_len = user_info.as_ref().map_or(0, |i| i.get().len());
                if info_len > cfg.max_user_info_bytes() {
                    let msg = format!(
                        "user_info is larger than {} bytes",
                        cfg.max_user_info_bytes()
                    );
                    return Err((UserInfoTooLarge, msg));
                }
                Ok(Some(Member { user_id, user_info }))
            }
        }
    }

    fn unsubscribe(&mut self, channel: &str) {
        if let Some((name, _)) = self.subscriptions.remove_entry(channel) {
            self.leave(&name);
        }
    }

    /// Leaves one channel here; tells the other nodes when a presence user left this node.
    fn leave(&self, channel: &ChannelName) {
        let left = self.app.channels.unsubscribe(channel, self.socket_id);
        (self.app.debug).unsubscribed(self.socket_id, channel.as_str(), &left);
        if let Unsubscribed::Left {
            local_leave: Some(user),
            ..
        } = &left
        {
            self.cluster.left(&self.app, channel, user);
        }
        self.webhooks.left(&self.app, channel, &left);
    }

    fn signin(&mut self, s: Signin) -> Result<(), Closing> {
        let cfg = self.app.config();
        let unauthorized = |m: &'static str| Closing::new(ErrorCode::Unauthorized, m);
        let msg = signature::user_string(&self.socket_id.to_string(), &s.user_data);
        let now = crate::clock::unix_now();
        if !cfg.any_secret(now, |secret| {
            signature::verify_token(&cfg.key, secret, &s.auth, &msg)
        }) {
            return Err(unauthorized("Invalid sign-in signature"));
        }
        let data: UserData = serde_json::from_str(&s.user_data)
            .map_err(|_| unauthorized("user_data must be a JSON object with an id"))?;
        let id = match data.id {
            serde_json::Value::String(id) if !id.is_empty() => id,
            _ => return Err(unauthorized("user_data.id must be a non-empty string")),
        };
        if let Some(current) = &self.user {
            if *current.id != *id {
                return Err(unauthorized(
                    "Connection is already signed in as another user",
                ));
            }
            self.send(ServerMessage::SigninSuccess {
                user_data: &s.user_data,
            });
            return Ok(());
        }
        let mut watchlist: Vec<Arc<str>> = data.watchlist.into_iter().map(Arc::from).collect();
        let max = cfg.max_watchlist_size;
        if watchlist.len() > max {
            watchlist.truncate(max);
            self.error(
                ErrorCode::WatchlistLimitExceeded,
                &format!("Watchlist holds more than {max} ids; only the first {max} are watched"),
            );
        }
        self.send(ServerMessage::SigninSuccess {
            user_data: &s.user_data,
        });
        let user = SignedIn {
            id: Arc::from(id),
            info: data.user_info.map(Arc::from),
            watchlist,
        };
        if self
            .app
            .users
            .signin(&user.id, &self.handle, &user.watchlist)
        {
            self.cluster.signed_in(&self.app, &user.id);
        }
        self.user = Some(user);
        Ok(())
    }

    async fn client_event(
        &mut self,
        event: &str,
        channel: &str,
        data: &RawValue,
    ) -> Result<(), String> {
        let cfg = self.app.config();
        if !cfg.client_events {
            return Err("Client events are not enabled for this app".into());
        }
        let Some((name, user_id)) = self.subscriptions.get_key_value(channel) else {
            return Err(format!("Not subscribed to channel {channel:?}"));
        };
        if !name.kind().allows_client_events() {
            return Err("Client events are only allowed on private and presence channels".into());
        }
        validate_event_name(event, cfg.max_event_name_length).map_err(|e| e.to_string())?;
        if data.get().len() > cfg.max_payload_bytes() {
            return Err(format!(
                "Client event data is larger than {} bytes",
                cfg.max_payload_bytes()
            ));
        }
        if let Some(limiter) = &self.client_events {
            if limiter.check().is_err() {
                self.app.metrics.rate_limited_client_events.increment(1);
                return Err(format!(
                    "Client event rate limit exceeded ({} per second)",
                    cfg.max_client_events_per_sec
                ));
            }
        }
        let (name, user_id) = (name.clone(), user_id.clone());
        let sid = self.socket_id.to_string();
        let verdict = (self.hooks)
            .publish(
                &self.app,
                &sid,
                name.as_str(),
                event,
                data,
                user_id.as_deref(),
            )
            .await;
        let rewritten = match verdict {
            Verdict::Deny(message) => return Err(message),
            Verdict::Allow(data) => data,
        };
        let data = rewritten.as_deref().unwrap_or(data);
        let frame = ServerMessage::Event {
            event,
            channel: name.as_str(),
            data: EventData::Raw(data),
            user_id: user_id.as_deref(),
        }
        .encode();
        let publish = history::Publish {
            app: self.app.clone(),
            channel: name.clone(),
            frame,
            except: Some(self.socket_id),
            cache: None,
        };
        self.history
            .publish_client_event(publish, &self.handle)
            .map_err(|e| e.to_string())?;
        self.app.metrics.client_events.increment(1);
        (self.app.debug)
            .emit(|| DebugEvent::client_event(self.socket_id, name.as_str(), event, data.get()));
        let sender = user_id.as_deref();
        (self.webhooks).client_event(&self.app, &name, event, data, self.socket_id, sender);
        Ok(())
    }

    /// Signs the connection in as `id`, as the connect hook said (like a `pusher:signin`
    /// without a watchlist).
    pub(super) fn assume_user(&mut self, id: Arc<str>, info: Option<Arc<RawValue>>) {
        if self.app.users.signin(&id, &self.handle, &[]) {
            self.cluster.signed_in(&self.app, &id);
        }
        self.user = Some(SignedIn {
            id,
            info,
            watchlist: Vec::new(),
        });
    }

    /// Leaves every channel and signs out; run once when the connection ends.
    pub(super) fn cleanup(&mut self) {
        for (channel, _) in std::mem::take(&mut self.subscriptions) {
            self.leave(&channel);
        }
        if let Some(u) = self.user.take() {
            if self.app.users.signout(&u.id, self.socket_id, &u.watchlist) {
                self.cluster.signed_out(&self.app, &u.id);
            }
        }
    }
}
