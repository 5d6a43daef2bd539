//! Server hooks: synchronous HTTP callbacks through which the app decides, per connection,
//! subscription and client event. Each request is a JSON body signed like a webhook; the answer is
//! `{"allow": bool, "message"?: …}` plus, where the hook may supply them, a user (`connect`),
//! presence `channel_data` (`subscribe`) or replacement `data` (`publish`). A hook that times out,
//! cannot be reached, answers non-2xx or answers something else is handled by its `failure` mode:
//! `deny` (the default) refuses, `allow` goes on as without the hook.
//!
//! Only the connection that asked waits for its hook (its own actor awaits the answer); nobody
//! else is slowed.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

use crate::apps::App;
use crate::channels::Member;
use crate::config::{FailureMode, Hook};
use crate::webhooks::delivery::signed_post;

/// The app's decision.
#[derive(Debug)]
pub enum Verdict<T> {
    /// Go on, with what the hook supplied (if anything).
    Allow(Option<T>),
    /// Refuse, with a message for the client.
    Deny(String),
}

/// The answer of any hook; each hook reads the fields it allows.
#[derive(Debug, Deserialize)]
struct Answer {
    allow: bool,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    user_info: Option<Box<RawValue>>,
    #[serde(default)]
    channel_data: Option<ChannelData>,
    #[serde(default)]
    data: Option<Box<RawValue>>,
}

#[derive(Debug, Deserialize)]
struct ChannelData {
    user_id: String,
    #[serde(default)]
    user_info: Option<Box<RawValue>>,
}

/// The HTTP client the hooks share (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    http: reqwest::Client,
}

impl Hooks {
    /// Asks `hook`; `Ok(None)` means "allowed, nothing supplied" (including a failed hook whose
    /// failure mode is `allow`).
    async fn ask(
        &self,
        app: &App,
        name: &str,
        hook: &Hook,
        body: Value,
    ) -> Result<Option<Answer>, String> {
        let cfg = app.config();
        let timeout = Duration::from_millis(hook.timeout_ms);
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let answer = match signed_post(&self.http, &hook.url, &cfg, body, timeout).await {
            Ok(resp) => match tokio::time::timeout(timeout, resp.json::<Answer>()).await {
                Ok(Ok(a)) => Ok(a),
                Ok(Err(e)) => Err(format!("invalid answer: {e}")),
                Err(_) => Err("timeout".to_owned()),
            },
            Err(e) => Err(e),
        };
        match answer {
            Ok(a) if a.allow => Ok(Some(a)),
            Ok(a) => Err(a
                .message
                .unwrap_or_else(|| format!("Refused by the app's {name} hook"))),
            Err(error) => {
                tracing::warn!(app = %app.id, hook = name, %error, failure = ?hook.failure, "server hook failed");
                match hook.failure {
                    FailureMode::Allow => Ok(None),
                    FailureMode::Deny => Err(format!("The app's {name} hook is unavailable")),
                }
            }
        }
    }

    /// `connect`: may refuse the connection, or sign it in as a user (id, info).
    pub async fn connect(
        &self,
        app: &App,
        socket_id: &str,
        origin: Option<&str>,
    ) -> Verdict<(Arc<str>, Option<Arc<RawValue>>)> {
        let Some(hook) = app.config().hooks.connect.clone() else {
            return Verdict::Allow(None);
        };
        let body = json!({"hook": "connect", "socket_id": socket_id, "origin": origin});
        match self.ask(app, "connect", &hook, body).await {
            Err(message) => Verdict::Deny(message),
            Ok(answer) => Verdict::Allow(answer.and_then(|a| {
                let id = a.user_id.filter(|id| !id.is_empty())?;
                Some((Arc::from(id), a.user_info.map(Arc::from)))
            })),
        }
    }

    /// `subscribe`: may refuse any channel, and may supply a presence member.
    pub async fn subscribe(
        &self,
        app: &App,
        socket_id: &str,
        channel: &str,
        user_id: Option<&str>,
    ) -> Verdict<Member> {
        let Some(hook) = app.config().hooks.subscribe.clone() else {
            return Verdict::Allow(None);
        };
        let body = json!({"hook": "subscribe", "socket_id": socket_id, "channel": channel, "user_id": user_id});
        match self.ask(app, "subscribe", &hook, body).await {
            Err(message) => Verdict::Deny(message),
            Ok(answer) => Verdict::Allow(answer.and_then(|a| {
                let d = a.channel_data.filter(|d| !d.user_id.is_empty())?;
                Some(Member {
                    user_id: Arc::from(d.user_id),
                    user_info: d.user_info.map(Arc::from),
                })
            })),
        }
    }

    /// `publish` (client events): may refuse the event, or replace its data.
    pub async fn publish(
        &self,
        app: &App,
        socket_id: &str,
        channel: &str,
        event: &str,
        data: &RawValue,
        user_id: Option<&str>,
    ) -> Verdict<Box<RawValue>> {
        let Some(hook) = app.config().hooks.publish.clone() else {
            return Verdict::Allow(None);
        };
        let body = json!({"hook": "publish", "socket_id": socket_id, "channel": channel,
            "event": event, "data": data, "user_id": user_id});
        match self.ask(app, "publish", &hook, body).await {
            Err(message) => Verdict::Deny(message),
            Ok(answer) => Verdict::Allow(answer.and_then(|a| a.data)),
        }
    }
}
