//! History helpers: an app keeping `history-*` (and private/presence ones), subscribing with
//! `recover`, and reading events with their stream positions.

use ferrocast::config::{AppConfig, HistoryRule};
use serde_json::{json, Value};

use super::{test_app, WsClient};

/// The test app, keeping `size` events for `ttl` seconds on `history-*`, `private-history-*`
/// and `presence-history-*`.
pub fn history_app(size: usize, ttl: u64) -> AppConfig {
    let rule = |pattern: &str| HistoryRule {
        pattern: pattern.into(),
        size,
        ttl,
    };
    AppConfig {
        history: vec![
            rule("history-*"),
            rule("private-history-*"),
            rule("presence-history-*"),
        ],
        ..test_app()
    }
}

/// A stream position as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pos {
    pub epoch: String,
    pub offset: u64,
}

impl Pos {
    /// The position in a frame (event) or in subscription_succeeded data.
    pub fn of(v: &Value) -> Pos {
        Pos {
            epoch: v["epoch"]
                .as_str()
                .unwrap_or_else(|| panic!("no epoch in {v}"))
                .to_owned(),
            offset: v["offset"]
                .as_u64()
                .unwrap_or_else(|| panic!("no offset in {v}")),
        }
    }
}

/// Subscribes to a public history channel, with `recover` when given; returns the
/// subscription_succeeded data.
pub async fn subscribe_history(c: &mut WsClient, channel: &str, recover: Option<&Pos>) -> Value {
    let mut data = json!({"channel": channel, "auth": ""});
    if let Some(p) = recover {
        data["recover"] = json!({"epoch": p.epoch, "offset": p.offset});
    }
    c.subscribe_raw(data).await;
    c.expect_succeeded(channel).await
}

/// The next `n` frames, each asserted to be `event` on `channel`.
pub async fn events(c: &mut WsClient, channel: &str, n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let f = c.next_event().await;
        assert_eq!(f["channel"], channel, "unexpected frame {f}");
        out.push(f);
    }
    out
}

/// Offsets of frames.
pub fn offsets(frames: &[Value]) -> Vec<u64> {
    frames.iter().map(|f| Pos::of(f).offset).collect()
}
