//! What the protocol fuzz targets check, one function per target. Each takes the raw fuzz input,
//! must never panic on its own account, and asserts the properties below (a failed assertion is
//! a crash to libFuzzer).
//!
//! This file is also compiled into `crates/ferrocast-protocol/tests/fuzz_regressions.rs` (by
//! `#[path]`), which replays `fuzz/seeds/` and `fuzz/regressions/` on stable with `cargo test`,
//! so it may only use `ferrocast_protocol`, `serde_json` and `form_urlencoded`.

use ferrocast_protocol::channel::SERVER_TO_USER_PREFIX;
use ferrocast_protocol::server_msg::{EventData, SubscriptionErrorKind};
use ferrocast_protocol::signature;
use ferrocast_protocol::{
    ChannelData, ChannelKind, ChannelName, ClientMessage, ErrorCode, NameError, PresenceSnapshot,
    ServerMessage,
};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::BTreeMap;

// A path relative to this file, so the protocol crate's tests (which include this file by
// `#[path]`) find it too.
#[path = "signature_checks.rs"]
mod signature_checks;
pub use signature_checks::{
    api_signature, decode_query, verify_request, ApiInput, RESERVED_PARAMS,
};

/// The channel-name limit the checks use when the input does not choose one (the default).
pub const DEFAULT_MAX_LEN: usize = 200;

/// Parses one encoded server frame; every frame must be a JSON object with a string `event`.
fn frame_json(bytes: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(bytes).expect("server frame is JSON");
    assert!(v["event"].is_string(), "frame without event: {v}");
    v
}

/// A JSON object's members, each kept as raw JSON text. Relayed JSON (client event data,
/// presence user_info) is checked this way, at the level of the JSON grammar: it may hold
/// escapes such as a lone surrogate (`"\ud800"`) that RFC 8259's grammar allows and
/// `serde_json::Value` refuses, and it must come out byte for byte as it went in.
fn raw_object(text: &str) -> BTreeMap<String, Box<RawValue>> {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not a JSON object ({e}): {text}"))
}

/// A raw JSON string member, decoded.
fn raw_str(obj: &BTreeMap<String, Box<RawValue>>, key: &str) -> Option<String> {
    obj.get(key)
        .map(|v| serde_json::from_str(v.get()).unwrap_or_else(|e| panic!("{key}: {e}")))
}

/// The double-encoded `data` of a frame, decoded.
fn inner_data(frame: &Value) -> Value {
    let s = frame["data"]
        .as_str()
        .expect("double-encoded data is a string");
    serde_json::from_str(s).expect("double-encoded data holds JSON")
}

// ---------------------------------------------------------------------------------------------
// client_msg

/// Input: one WebSocket text frame (inputs that are not UTF-8 are skipped: a text frame always
/// is). Decodes it as the server does, then builds and checks the frames the server would send
/// in answer: a relayed client event must decode back to itself, subscription answers and
/// presence frames must be valid JSON carrying the given names verbatim, errors must encode.
pub fn client_msg(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let msg = match ClientMessage::decode(text) {
        Ok(m) => m,
        Err(e) => {
            let message = e.to_string();
            let v = frame_json(
                &ServerMessage::Error {
                    code: ErrorCode::InvalidMessage,
                    message: &message,
                }
                .encode(),
            );
            assert_eq!(v["data"]["message"].as_str(), Some(message.as_str()));
            return;
        }
    };
    // Messages, and the data of subscribe, unsubscribe and signin, are JSON objects (serde's
    // derived structs would also take arrays).
    assert!(is_object(text), "non-object message accepted: {text}");
    if matches!(
        msg,
        ClientMessage::Subscribe(_) | ClientMessage::Unsubscribe { .. } | ClientMessage::Signin(_)
    ) {
        if let Ok(env) = serde_json::from_str::<BTreeMap<String, Box<RawValue>>>(text) {
            let data = env.get("data").expect("data").get();
            let inner = serde_json::from_str::<String>(data).ok();
            assert!(
                is_object(inner.as_deref().unwrap_or(data)),
                "non-object data accepted: {text}"
            );
        }
    }
    match msg {
        ClientMessage::Ping => {
            let v = frame_json(&ServerMessage::Pong.encode());
            assert_eq!(v["event"], "pusher:pong");
        }
        ClientMessage::Pong => {}
        ClientMessage::Subscribe(s) => {
            match ChannelName::parse(&s.channel, DEFAULT_MAX_LEN) {
                Ok(name) => {
                    let v = frame_json(
                        &ServerMessage::SubscriptionSucceeded {
                            channel: name.as_str(),
                            presence: None,
                            stream: None,
                        }
                        .encode(),
                    );
                    assert_eq!(v["channel"].as_str(), Some(s.channel.as_str()));
                    assert_eq!(inner_data(&v), serde_json::json!({}));
                }
                Err(e) => {
                    let message = e.to_string();
                    let v = frame_json(
                        &ServerMessage::SubscriptionError {
                            channel: &s.channel,
                            kind: SubscriptionErrorKind::InvalidChannel,
                            message: &message,
                        }
                        .encode(),
                    );
                    assert_eq!(v["channel"].as_str(), Some(s.channel.as_str()));
                    assert_eq!(v["data"]["status"], 400);
                }
            }
            if let Some(cd) = &s.channel_data {
                presence_frames(&s.channel, cd);
            }
        }
        ClientMessage::Unsubscribe { channel } => {
            let _ = ChannelName::parse(&channel, DEFAULT_MAX_LEN);
        }
        ClientMessage::Signin(s) => {
            let v = frame_json(
                &ServerMessage::SigninSuccess {
                    user_data: &s.user_data,
                }
                .encode(),
            );
            assert_eq!(v["data"]["user_data"].as_str(), Some(s.user_data.as_str()));
            let _ = signature::verify_token(
                "key",
                "secret",
                &s.auth,
                &signature::user_string("1.1", &s.user_data),
            );
        }
        ClientMessage::ClientEvent {
            event,
            channel,
            data,
        } => {
            // The relay must hand the data on verbatim: what the others receive decodes back to
            // the same event, channel and raw data.
            for user_id in [None, Some("7"), Some("\u{0}\"\\")] {
                let frame = ServerMessage::Event {
                    event: &event,
                    channel: &channel,
                    data: EventData::Raw(&data),
                    user_id,
                }
                .encode();
                let text = std::str::from_utf8(&frame).expect("frames are UTF-8");
                let v = raw_object(text);
                assert_eq!(raw_str(&v, "event").as_deref(), Some(event.as_str()));
                assert_eq!(raw_str(&v, "channel").as_deref(), Some(channel.as_str()));
                assert_eq!(v.get("data").map(|d| d.get()), Some(data.get()));
                assert_eq!(raw_str(&v, "user_id").as_deref(), user_id);
                match ClientMessage::decode(text) {
                    Ok(ClientMessage::ClientEvent {
                        event: e2,
                        channel: c2,
                        data: d2,
                    }) => {
                        assert_eq!(e2, event);
                        assert_eq!(c2, channel);
                        assert_eq!(d2.get(), data.get(), "client event data not verbatim");
                    }
                    other => panic!("relayed client event decodes as {other:?}"),
                }
            }
        }
        ClientMessage::Unknown { event } => {
            let message = format!("unknown event {event:?}");
            frame_json(
                &ServerMessage::Error {
                    code: ErrorCode::InvalidMessage,
                    message: &message,
                }
                .encode(),
            );
        }
    }
}

/// Whether a JSON text is an object (its first non-whitespace character is `{`).
fn is_object(json: &str) -> bool {
    json.trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
}

/// The presence frames for `channel_data` on `channel`: member_added and a snapshot.
fn presence_frames(channel: &str, channel_data: &str) {
    let Ok(d) = ChannelData::parse(channel_data) else {
        return;
    };
    assert!(is_object(channel_data), "non-object channel_data accepted");
    assert!(!d.user_id.is_empty(), "empty user_id accepted");
    if let Some(info) = &d.user_info {
        assert_ne!(info.get(), "null", "null user_info kept");
    }
    let added = frame_json(
        &ServerMessage::MemberAdded {
            channel,
            user_id: &d.user_id,
            user_info: d.user_info.as_deref(),
        }
        .encode(),
    );
    assert_eq!(added["channel"].as_str(), Some(channel));
    let inner = raw_object(added["data"].as_str().expect("double-encoded data"));
    assert_eq!(raw_str(&inner, "user_id"), Some(d.user_id.clone()));
    assert_eq!(
        inner.get("user_info").map(|v| v.get()),
        d.user_info.as_deref().map(RawValue::get),
        "user_info not relayed verbatim"
    );
    let removed = frame_json(
        &ServerMessage::MemberRemoved {
            channel,
            user_id: &d.user_id,
        }
        .encode(),
    );
    assert_eq!(
        inner_data(&removed)["user_id"].as_str(),
        Some(d.user_id.as_str())
    );
    // A snapshot with this member and another; a duplicate id must not be counted twice in
    // `hash` (the registry never passes one, but the encoder must stay valid JSON).
    let other = RawValue::from_string(r#"{"name":"other"}"#.to_owned()).expect("raw");
    let snap = PresenceSnapshot::from_members([
        (d.user_id.as_str(), d.user_info.as_deref()),
        ("other-user", Some(&*other)),
    ]);
    let v = frame_json(
        &ServerMessage::SubscriptionSucceeded {
            channel,
            presence: Some(&snap),
            stream: None,
        }
        .encode(),
    );
    let outer = raw_object(v["data"].as_str().expect("double-encoded data"));
    let p = raw_object(outer.get("presence").expect("presence").get());
    assert_eq!(p.get("count").map(|c| c.get()), Some("2"));
    let ids: Vec<String> = serde_json::from_str(p.get("ids").expect("ids").get()).expect("ids");
    assert_eq!(ids, [d.user_id.as_str(), "other-user"]);
    let hash = raw_object(p.get("hash").expect("hash").get());
    if d.user_id != "other-user" {
        assert_eq!(hash.len(), 2);
        assert_eq!(
            hash.get(&d.user_id).map(|v| v.get()),
            Some(d.user_info.as_deref().map_or("null", RawValue::get)),
            "user_info not relayed verbatim in the snapshot"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// presence

/// Input: a presence subscription's `channel_data` string (non-UTF-8 inputs are skipped: it
/// arrives inside a JSON string). Whatever `ChannelData::parse` accepts has a non-empty user id
/// and JSON `user_info`, and encodes into valid presence frames that carry them verbatim.
pub fn presence(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    presence_frames("presence-fuzz", text);
    // A string user id is kept exactly; a numeric one becomes its decimal text.
    if let Ok(d) = ChannelData::parse(text) {
        if let Ok(v) = serde_json::from_str::<Value>(text) {
            match &v["user_id"] {
                Value::String(s) => assert_eq!(&d.user_id, s),
                Value::Number(n) => assert_eq!(d.user_id, n.to_string()),
                other => panic!("user_id {other} accepted"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// channel_name

fn allowed_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_-=@,.;".contains(&b)
}

/// Input: `"<max_len> <name>"` when the input starts with decimal digits and a space (a
/// number too large for usize means usize::MAX), otherwise the whole input is the name with
/// the default limit of 200. Invalid UTF-8 is replaced (U+FFFD), so every input is a name.
///
/// If `ChannelName::parse` accepts, the name is non-empty, within the limit, made only of the
/// allowed characters (`#server-to-user-` being the one allowed prefix outside them), and
/// `kind()`, `is_cache()`, `server_to_user_id()` agree with its prefix. If it refuses, the
/// error is the right one.
pub fn channel_name(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (max_len, name) = split_max_len(&text);
    let parsed = ChannelName::parse(name, max_len);
    if name.is_empty() {
        assert_eq!(parsed, Err(NameError::Empty));
        return;
    }
    if name.len() > max_len {
        assert_eq!(parsed, Err(NameError::TooLong { max: max_len }));
        return;
    }
    let body = name.strip_prefix(SERVER_TO_USER_PREFIX);
    let c = match parsed {
        Ok(c) => c,
        Err(NameError::Empty) => {
            assert_eq!(body, Some(""), "{name:?} refused as empty");
            return;
        }
        Err(NameError::Reserved) => {
            assert!(name.starts_with('#') && body.is_none(), "{name:?} reserved");
            return;
        }
        Err(NameError::BadCharacter) => {
            assert!(
                !body.unwrap_or(name).bytes().all(allowed_byte),
                "{name:?} refused for a bad character"
            );
            return;
        }
        Err(e @ NameError::TooLong { .. }) => panic!("{name:?} within the limit refused: {e}"),
    };
    assert_eq!(c.as_str(), name);
    assert_eq!(c.to_string(), name);
    assert!(!name.is_empty() && name.len() <= max_len);
    // Accepted under a limit, accepted under any larger one, as the same name.
    assert_eq!(ChannelName::parse(name, usize::MAX).as_ref(), Ok(&c));
    let kind = c.kind();
    let _ = (kind.needs_auth(), kind.allows_client_events());
    match c.server_to_user_id() {
        Some(id) => {
            assert_eq!(kind, ChannelKind::ServerToUser);
            assert_eq!(Some(id), body);
            assert!(!id.is_empty() && id.bytes().all(allowed_byte), "{name:?}");
            assert_eq!(ChannelName::server_to_user(id), c);
            assert!(!c.is_cache());
        }
        None => {
            assert!(name.bytes().all(allowed_byte), "{name:?} accepted");
            let expected = if name.starts_with("private-encrypted-") {
                ChannelKind::Encrypted
            } else if name.starts_with("private-") {
                ChannelKind::Private
            } else if name.starts_with("presence-") {
                ChannelKind::Presence
            } else {
                ChannelKind::Public
            };
            assert_eq!(kind, expected, "{name:?}");
            let cache_prefix = match kind {
                ChannelKind::Public => "cache-",
                ChannelKind::Private => "private-cache-",
                ChannelKind::Encrypted => "private-encrypted-cache-",
                ChannelKind::Presence => "presence-cache-",
                ChannelKind::ServerToUser => unreachable!(),
            };
            assert_eq!(c.is_cache(), name.starts_with(cache_prefix), "{name:?}");
        }
    }
}

fn split_max_len(text: &str) -> (usize, &str) {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && text.as_bytes().get(digits) == Some(&b' ') {
        let n = text[..digits].parse().unwrap_or(usize::MAX);
        (n, &text[digits + 1..])
    } else {
        (DEFAULT_MAX_LEN, text)
    }
}
