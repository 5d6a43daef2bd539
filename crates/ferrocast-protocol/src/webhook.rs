//! Pusher webhooks as data: the events (`channel_occupied`, `member_added`, …), the body
//! `{"time_ms": …, "events": […]}` exactly as Pusher posts it, and its signature
//! (`X-Pusher-Signature`: hex HMAC-SHA256 of the raw body with the app secret), so the official
//! SDKs' webhook checks accept what the server sends.

use serde::{Deserialize, Serialize};

use crate::signature;

/// The header carrying the app key.
pub const KEY_HEADER: &str = "X-Pusher-Key";
/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Pusher-Signature";

/// The kinds of webhook event, as named in the body and in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    ChannelOccupied,
    ChannelVacated,
    MemberAdded,
    MemberRemoved,
    ClientEvent,
    CacheMiss,
    SubscriptionCount,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        Self::ChannelOccupied,
        Self::ChannelVacated,
        Self::MemberAdded,
        Self::MemberRemoved,
        Self::ClientEvent,
        Self::CacheMiss,
        Self::SubscriptionCount,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChannelOccupied => "channel_occupied",
            Self::ChannelVacated => "channel_vacated",
            Self::MemberAdded => "member_added",
            Self::MemberRemoved => "member_removed",
            Self::ClientEvent => "client_event",
            Self::CacheMiss => "cache_miss",
            Self::SubscriptionCount => "subscription_count",
        }
    }
}

/// One event of a webhook body. Serialised with its `name` first, as Pusher does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum WebhookEvent {
    ChannelOccupied {
        channel: String,
    },
    ChannelVacated {
        channel: String,
    },
    MemberAdded {
        channel: String,
        user_id: String,
    },
    MemberRemoved {
        channel: String,
        user_id: String,
    },
    ClientEvent {
        channel: String,
        event: String,
        /// The event's data as a string, as Pusher sends it (a JSON object arrives as its text).
        data: String,
        socket_id: String,
        /// The sender's presence user id (presence channels only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
    },
    CacheMiss {
        channel: String,
    },
    SubscriptionCount {
        channel: String,
        subscription_count: usize,
    },
}

impl WebhookEvent {
    pub fn kind(&self) -> EventType {
        match self {
            Self::ChannelOccupied { .. } => EventType::ChannelOccupied,
            Self::ChannelVacated { .. } => EventType::ChannelVacated,
            Self::MemberAdded { .. } => EventType::MemberAdded,
            Self::MemberRemoved { .. } => EventType::MemberRemoved,
            Self::ClientEvent { .. } => EventType::ClientEvent,
            Self::CacheMiss { .. } => EventType::CacheMiss,
            Self::SubscriptionCount { .. } => EventType::SubscriptionCount,
        }
    }

    pub fn channel(&self) -> &str {
        match self {
            Self::ChannelOccupied { channel }
            | Self::ChannelVacated { channel }
            | Self::MemberAdded { channel, .. }
            | Self::MemberRemoved { channel, .. }
            | Self::ClientEvent { channel, .. }
            | Self::CacheMiss { channel }
            | Self::SubscriptionCount { channel, .. } => channel,
        }
    }
}

/// A webhook request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookBody<E> {
    /// Unix time in milliseconds when the request was sent.
    pub time_ms: u64,
    pub events: Vec<E>,
}

/// Encodes the body of a request sent at `time_ms`; `events` is a list of events, or one
/// already-encoded JSON array (`RawValue`).
pub fn encode_body<E: Serialize + ?Sized>(time_ms: u64, events: &E) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a, E: ?Sized> {
        time_ms: u64,
        events: &'a E,
    }
    // Serialising plain data into a Vec cannot fail.
    serde_json::to_vec(&Body { time_ms, events }).unwrap_or_default()
}

/// `X-Pusher-Signature` of a raw body: hex HMAC-SHA256 with the app secret.
pub fn sign_body(secret: &str, body: &[u8]) -> String {
    signature::sign_bytes(secret, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_as_pusher_sends_them() {
        let e = WebhookEvent::MemberAdded {
            channel: "presence-a".into(),
            user_id: "7".into(),
        };
        let body = encode_body(1327078148132, &[e.clone()]);
        assert_eq!(
            std::str::from_utf8(&body).unwrap_or_default(),
            r#"{"time_ms":1327078148132,"events":[{"name":"member_added","channel":"presence-a","user_id":"7"}]}"#
        );
        let parsed: WebhookBody<WebhookEvent> = serde_json::from_slice(&body).expect("parse");
        assert_eq!(parsed.events, vec![e]);
        let c = WebhookEvent::ClientEvent {
            channel: "private-c".into(),
            event: "client-x".into(),
            data: "{}".into(),
            socket_id: "1.2".into(),
            user_id: None,
        };
        let v = serde_json::to_value(&c).expect("value");
        assert!(v.get("user_id").is_none(), "user_id only on presence: {v}");
        assert_eq!(c.kind().as_str(), "client_event");
        for t in EventType::ALL {
            let json = serde_json::to_string(&t).expect("type");
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
    }

    #[test]
    fn signature_is_hex_hmac_of_the_raw_body() {
        // HMAC-SHA256("secret", "{}") computed independently (`openssl dgst -sha256 -hmac`).
        assert_eq!(
            sign_body("secret", b"{}"),
            "77325902caca812dc259733aacd046b73817372c777b8d95b402647474516e13"
        );
    }
}
