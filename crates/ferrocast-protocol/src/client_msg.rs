//! Messages a client sends over the WebSocket, decoded from one text frame. Pusher clients send
//! `data` as an object (pusher-js) or as a JSON string holding one (some older clients); both
//! are accepted here so the rest of the server sees one shape.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::names::CLIENT_EVENT_PREFIX;

/// One decoded client message.
#[derive(Debug)]
pub enum ClientMessage {
    Ping,
    Pong,
    Subscribe(Subscribe),
    Unsubscribe {
        channel: String,
    },
    Signin(Signin),
    /// A `client-*` event to relay to the channel's other subscribers.
    ClientEvent {
        event: String,
        channel: String,
        data: Box<RawValue>,
    },
    /// Any other event name; answered with an error, never fatal.
    Unknown {
        event: String,
    },
}

/// `pusher:subscribe` data.
#[derive(Debug, Deserialize)]
pub struct Subscribe {
    pub channel: String,
    #[serde(default)]
    pub auth: Option<String>,
    /// The exact signed string for presence channels.
    #[serde(default)]
    pub channel_data: Option<String>,
    /// Ferrocast extension: the last stream position the client saw on this channel; the
    /// server replays what came after it (see docs/history.md).
    #[serde(default)]
    pub recover: Option<crate::stream::Position>,
}

/// `pusher:signin` data.
#[derive(Debug, Deserialize)]
pub struct Signin {
    pub auth: String,
    /// The exact signed JSON string: `{"id": "...", "user_info": ..., "watchlist": [...]}`.
    pub user_data: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("message is not valid JSON: {0}")]
    NotJson(String),
    #[error("message has no \"event\" field")]
    MissingEvent,
    #[error("invalid data for {event}: {reason}")]
    BadData { event: String, reason: String },
}

#[derive(Deserialize)]
struct Envelope {
    event: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    data: Option<Box<RawValue>>,
}

/// Whether a JSON text is an object. serde's derived structs also accept arrays
/// (`["pusher:ping"]` as `{"event": "pusher:ping"}`), which no Pusher client sends: every
/// decode here checks this too.
pub(crate) fn is_json_object(json: &str) -> bool {
    json.trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
}

impl ClientMessage {
    /// Decodes one text frame: a JSON object.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        let env: Envelope =
            serde_json::from_str(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
        if !is_json_object(text) {
            return Err(DecodeError::NotJson("expected a JSON object".to_owned()));
        }
        let event = env.event.ok_or(DecodeError::MissingEvent)?;
        let msg = match event.as_str() {
            "pusher:ping" => Self::Ping,
            "pusher:pong" => Self::Pong,
            "pusher:subscribe" => Self::Subscribe(data_as(&event, env.data.as_deref())?),
            "pusher:unsubscribe" => {
                #[derive(Deserialize)]
                struct Unsub {
                    channel: String,
                }
                let u: Unsub = data_as(&event, env.data.as_deref())?;
                Self::Unsubscribe { channel: u.channel }
            }
            "pusher:signin" => Self::Signin(data_as(&event, env.data.as_deref())?),
            e if e.starts_with(CLIENT_EVENT_PREFIX) => {
                let bad = |reason: &str| DecodeError::BadData {
                    event: event.clone(),
                    reason: reason.to_owned(),
                };
                let channel = env.channel.ok_or_else(|| bad("missing channel"))?;
                let data = env.data.ok_or_else(|| bad("missing data"))?;
                Self::ClientEvent {
                    event,
                    channel,
                    data,
                }
            }
            _ => Self::Unknown { event },
        };
        Ok(msg)
    }
}

/// Reads `data` as `T`, whether it came as an object or as a JSON string holding one.
fn data_as<T: DeserializeOwned>(event: &str, data: Option<&RawValue>) -> Result<T, DecodeError> {
    let bad = |reason: String| DecodeError::BadData {
        event: event.to_owned(),
        reason,
    };
    let object = |json: &str| -> Result<T, DecodeError> {
        if !is_json_object(json) {
            return Err(bad("expected a JSON object".to_owned()));
        }
        serde_json::from_str(json).map_err(|e| bad(e.to_string()))
    };
    let raw = data.ok_or_else(|| bad("missing data".to_owned()))?.get();
    if raw.starts_with('"') {
        let inner: String = serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
        object(&inner)
    } else {
        object(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_pusher_js_and_pysher_send() {
        assert!(matches!(
            ClientMessage::decode(r#"{"event":"pusher:ping","data":{}}"#),
            Ok(ClientMessage::Ping)
        ));
        assert!(matches!(
            ClientMessage::decode(r#"{"event":"pusher:ping","data":""}"#),
            Ok(ClientMessage::Ping)
        ));
        let Ok(ClientMessage::Subscribe(s)) = ClientMessage::decode(
            r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"news"}}"#,
        ) else {
            panic!("subscribe")
        };
        assert_eq!((s.channel.as_str(), s.auth.as_deref()), ("news", Some("")));
        let Ok(ClientMessage::Subscribe(s)) = ClientMessage::decode(
            r#"{"event":"pusher:subscribe","data":"{\"channel\":\"presence-a\",\"auth\":\"k:s\",\"channel_data\":\"{}\"}"}"#,
        ) else {
            panic!("string data")
        };
        assert_eq!(s.channel_data.as_deref(), Some("{}"));
        let Ok(ClientMessage::ClientEvent {
            event,
            channel,
            data,
        }) = ClientMessage::decode(
            r#"{"event":"client-typing","channel":"private-c","data":{"a":1}}"#,
        )
        else {
            panic!("client event")
        };
        assert_eq!(
            (event.as_str(), channel.as_str(), data.get()),
            ("client-typing", "private-c", r#"{"a":1}"#)
        );
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert!(matches!(
            ClientMessage::decode("{"),
            Err(DecodeError::NotJson(_))
        ));
        assert!(matches!(
            ClientMessage::decode("[]"),
            Err(DecodeError::NotJson(_))
        ));
        assert_eq!(
            ClientMessage::decode(r#"{"data":{}}"#).unwrap_err(),
            DecodeError::MissingEvent
        );
        assert!(matches!(
            ClientMessage::decode(r#"{"event":"pusher:subscribe","data":{}}"#),
            Err(DecodeError::BadData { .. })
        ));
        assert!(matches!(
            ClientMessage::decode(r#"{"event":"client-x","data":{}}"#),
            Err(DecodeError::BadData { .. })
        ));
        assert!(matches!(
            ClientMessage::decode(r#"{"event":"something"}"#),
            Ok(ClientMessage::Unknown { .. })
        ));
    }

    /// serde's derived structs accept JSON arrays in field order; found by the `presence` fuzz
    /// target in `ChannelData::parse` (fuzz/regressions/presence/array-as-channel-data), and
    /// the same held for whole messages and their `data`.
    #[test]
    fn arrays_are_not_messages_or_data() {
        for text in [
            r#"["client-x","private-c",{"a":1}]"#,
            r#"["pusher:ping"]"#,
            r#" ["pusher:subscribe",null,{"channel":"news"}]"#,
        ] {
            assert!(
                matches!(ClientMessage::decode(text), Err(DecodeError::NotJson(_))),
                "{text} accepted"
            );
        }
        for text in [
            r#"{"event":"pusher:subscribe","data":["private-x","k:s",null]}"#,
            r#"{"event":"pusher:subscribe","data":"[\"news\"]"}"#,
            r#"{"event":"pusher:unsubscribe","data":["news"]}"#,
            r#"{"event":"pusher:signin","data":["k:s","{}"]}"#,
        ] {
            assert!(
                matches!(
                    ClientMessage::decode(text),
                    Err(DecodeError::BadData { .. })
                ),
                "{text} accepted"
            );
        }
        // Whitespace before the object is still fine.
        assert!(matches!(
            ClientMessage::decode(" \r\n\t{\"event\":\"pusher:subscribe\",\"data\":\" {\\\"channel\\\":\\\"news\\\"}\"}"),
            Ok(ClientMessage::Subscribe(_))
        ));
    }
}
