//! Frames the server sends, each encoded once into shared bytes. Pusher double-encodes most
//! `data` fields (a JSON string holding JSON); the exceptions (`pusher:error`,
//! `pusher:signin_success`, watchlist events, ping/pong) carry objects. That rule lives here only.

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::error_code::ErrorCode;
use crate::presence::PresenceSnapshot;
use crate::socket_id::SocketId;
use crate::stream::StreamInfo;

/// The data of a channel event: a string from the HTTP API, raw JSON from a client event.
#[derive(Debug, Clone, Copy)]
pub enum EventData<'a> {
    Str(&'a str),
    Raw(&'a RawValue),
}

impl Serialize for EventData<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Str(v) => v.serialize(s),
            Self::Raw(v) => v.serialize(s),
        }
    }
}

/// Why a subscription was refused, sent as `pusher:subscription_error` on the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionErrorKind {
    /// Bad or missing signature, or a channel this user may not join. Status 401.
    AuthError,
    /// The channel name or the subscribe data is invalid. Status 400.
    InvalidChannel,
    /// A limit was reached (members per channel, channels per connection). Status 403.
    LimitReached,
    /// The presence user_info is larger than the app allows. Status 413.
    UserInfoTooLarge,
    /// The app's subscribe hook refused the subscription (or was down with `failure = "deny"`).
    /// Status 403.
    Forbidden,
}

impl SubscriptionErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthError => "AuthError",
            Self::InvalidChannel => "InvalidChannel",
            Self::LimitReached => "LimitReached",
            Self::UserInfoTooLarge => "UserInfoTooLarge",
            Self::Forbidden => "Forbidden",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Self::AuthError => 401,
            Self::InvalidChannel => 400,
            Self::LimitReached => 403,
            Self::UserInfoTooLarge => 413,
            Self::Forbidden => 403,
        }
    }
}

/// A watchlist entry: `{"name":"online","user_ids":[…]}`.
#[derive(Debug, Clone, Serialize)]
pub struct WatchlistEvent<'a> {
    pub name: &'static str,
    pub user_ids: Vec<&'a str>,
}

/// One server-to-client frame.
#[derive(Debug)]
pub enum ServerMessage<'a> {
    ConnectionEstablished {
        socket_id: SocketId,
        activity_timeout: u64,
    },
    Error {
        code: ErrorCode,
        message: &'a str,
    },
    Ping,
    Pong,
    SubscriptionSucceeded {
        channel: &'a str,
        presence: Option<&'a PresenceSnapshot<'a>>,
        /// History channels only: the stream position and the recovery outcome.
        stream: Option<&'a StreamInfo<'a>>,
    },
    SubscriptionError {
        channel: &'a str,
        kind: SubscriptionErrorKind,
        message: &'a str,
    },
    MemberAdded {
        channel: &'a str,
        user_id: &'a str,
        user_info: Option<&'a RawValue>,
    },
    MemberRemoved {
        channel: &'a str,
        user_id: &'a str,
    },
    CacheMiss {
        channel: &'a str,
    },
    SigninSuccess {
        user_data: &'a str,
    },
    WatchlistEvents {
        events: &'a [WatchlistEvent<'a>],
    },
    Event {
        event: &'a str,
        channel: &'a str,
        data: EventData<'a>,
        user_id: Option<&'a str>,
    },
}

#[derive(Serialize)]
struct Frame<'a, D: Serialize> {
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<D>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
}

fn frame<D: Serialize>(out: &mut Vec<u8>, event: &str, channel: Option<&str>, data: Option<D>) {
    encode(
        out,
        &Frame {
            event,
            channel,
            data,
            user_id: None,
        },
    )
}

fn encode<T: Serialize>(out: &mut Vec<u8>, v: &T) {
    // Serialising these plain structs into a Vec cannot fail: no maps with non-string keys.
    let _ = serde_json::to_writer(out, v);
}

/// JSON-encodes `v` into a string, for Pusher's double-encoded `data`.
fn json_string<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl ServerMessage<'_> {
    /// Encodes the frame once; the bytes are then shared by every recipient.
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        Bytes::from(out)
    }

    /// Appends the JSON of the message to `out` (behind room the caller keeps for a header).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Self::ConnectionEstablished {
                socket_id,
                activity_timeout,
            } => {
                #[derive(Serialize)]
                struct Data {
                    socket_id: String,
                    activity_timeout: u64,
                }
                let data = json_string(&Data {
                    socket_id: socket_id.to_string(),
                    activity_timeout: *activity_timeout,
                });
                frame(out, "pusher:connection_established", None, Some(data))
            }
            Self::Error { code, message } => {
                #[derive(Serialize)]
                struct Data<'a> {
                    code: u16,
                    message: &'a str,
                }
                frame(
                    out,
                    "pusher:error",
                    None,
                    Some(Data {
                        code: code.code(),
                        message,
                    }),
                )
            }
            Self::Ping => frame(out, "pusher:ping", None, Some(serde_json::Map::new())),
            Self::Pong => frame(out, "pusher:pong", None, Some(serde_json::Map::new())),
            Self::SubscriptionSucceeded {
                channel,
                presence,
                stream,
            } => {
                #[derive(Serialize)]
                struct Data<'a> {
                    #[serde(skip_serializing_if = "Option::is_none")]
                    presence: Option<&'a PresenceSnapshot<'a>>,
                    #[serde(flatten, skip_serializing_if = "Option::is_none")]
                    stream: Option<&'a StreamInfo<'a>>,
                }
                let data = json_string(&Data {
                    presence: *presence,
                    stream: *stream,
                });
                frame(
                    out,
                    "pusher_internal:subscription_succeeded",
                    Some(channel),
                    Some(data),
                )
            }
            Self::SubscriptionError {
                channel,
                kind,
                message,
            } => {
                #[derive(Serialize)]
                struct Data<'a> {
                    #[serde(rename = "type")]
                    kind: &'a str,
                    error: &'a str,
                    status: u16,
                }
                let data = Data {
                    kind: kind.as_str(),
                    error: message,
                    status: kind.status(),
                };
                frame(out, "pusher:subscription_error", Some(channel), Some(data))
            }
            Self::MemberAdded {
                channel,
                user_id,
                user_info,
            } => {
                #[derive(Serialize)]
                struct Data<'a> {
                    user_id: &'a str,
                    #[serde(skip_serializing_if = "Option::is_none")]
                    user_info: Option<&'a RawValue>,
                }
                let data = json_string(&Data {
                    user_id,
                    user_info: *user_info,
                });
                frame(
                    out,
                    "pusher_internal:member_added",
                    Some(channel),
                    Some(data),
                )
            }
            Self::MemberRemoved { channel, user_id } => {
                #[derive(Serialize)]
                struct Data<'a> {
                    user_id: &'a str,
                }
                let data = json_string(&Data { user_id });
                frame(
                    out,
                    "pusher_internal:member_removed",
                    Some(channel),
                    Some(data),
                )
            }
            Self::CacheMiss { channel } => {
                frame::<()>(out, "pusher:cache_miss", Some(channel), None)
            }
            Self::SigninSuccess { user_data } => {
                #[derive(Serialize)]
                struct Data<'a> {
                    user_data: &'a str,
                }
                frame(out, "pusher:signin_success", None, Some(Data { user_data }))
            }
            Self::WatchlistEvents { events } => {
                #[derive(Serialize)]
                struct Data<'a> {
                    events: &'a [WatchlistEvent<'a>],
                }
                frame(
                    out,
                    "pusher_internal:watchlist_events",
                    None,
                    Some(Data { events }),
                )
            }
            Self::Event {
                event,
                channel,
                data,
                user_id,
            } => encode(
                out,
                &Frame {
                    event,
                    channel: Some(channel),
                    data: Some(data),
                    user_id: *user_id,
                },
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: ServerMessage<'_>) -> String {
        String::from_utf8(m.encode().to_vec()).expect("utf8")
    }

    #[test]
    fn connection_established_data_is_a_json_string() {
        let t = text(ServerMessage::ConnectionEstablished {
            socket_id: SocketId::new(12, 34),
            activity_timeout: 120,
        });
        assert_eq!(
            t,
            r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"12.34\",\"activity_timeout\":120}"}"#
        );
    }

    #[test]
    fn error_data_is_an_object() {
        let t = text(ServerMessage::Error {
            code: ErrorCode::AppNotFound,
            message: "nope",
        });
        assert_eq!(
            t,
            r#"{"event":"pusher:error","data":{"code":4001,"message":"nope"}}"#
        );
    }

    #[test]
    fn presence_snapshot_is_double_encoded() {
        let info = RawValue::from_string(r#"{"name":"A"}"#.to_owned()).expect("raw");
        let snap = PresenceSnapshot::from_members([("1", Some(&*info)), ("2", None)]);
        let t = text(ServerMessage::SubscriptionSucceeded {
            channel: "presence-x",
            presence: Some(&snap),
            stream: None,
        });
        let v: serde_json::Value = serde_json::from_str(&t).expect("json");
        let data: serde_json::Value =
            serde_json::from_str(v["data"].as_str().expect("string data")).expect("inner");
        assert_eq!(
            data,
            serde_json::json!({"presence":{"ids":["1","2"],"hash":{"1":{"name":"A"},"2":null},"count":2}})
        );
    }

    #[test]
    fn events_relay_data_verbatim() {
        let t = text(ServerMessage::Event {
            event: "e",
            channel: "c",
            data: EventData::Str(r#"{"a":1}"#),
            user_id: None,
        });
        assert_eq!(t, r#"{"event":"e","channel":"c","data":"{\"a\":1}"}"#);
        let raw = RawValue::from_string(r#"{"a":1}"#.to_owned()).expect("raw");
        let t = text(ServerMessage::Event {
            event: "client-e",
            channel: "presence-c",
            data: EventData::Raw(&raw),
            user_id: Some("7"),
        });
        assert_eq!(
            t,
            r#"{"event":"client-e","channel":"presence-c","data":{"a":1},"user_id":"7"}"#
        );
    }
}
