//! The Pusher protocol v7 as the benchmark client speaks it: the WebSocket path, the frames a
//! client sends (subscribe with locally signed auth, unsubscribe, client events, pong), the
//! benchmark payload, the signed HTTP publish, and a cheap parser for the frames it receives
//! (benchmark events are recognised without a JSON parse: the client shares the two cores).

use ferrocast_protocol::signature;
use serde_json::json;

/// Event name of every benchmark publish; client events use `client-bench`.
pub const BENCH_EVENT: &str = "bench";
pub const CLIENT_BENCH_EVENT: &str = "client-bench";
pub const PONG: &str = r#"{"event":"pusher:pong","data":{}}"#;

/// Credentials of the app under test.
#[derive(Debug, Clone)]
pub struct App {
    pub id: String,
    pub key: String,
    pub secret: String,
}

pub fn ws_path(key: &str) -> String {
    format!("/app/{key}?protocol=7&client=ferrocast-bench&version=0.1")
}

/// `pusher:subscribe` for `channel`: public as is; private and presence signed with the app
/// secret the way a backend's auth endpoint would; `user_id` is the presence member.
pub fn subscribe(app: &App, socket_id: &str, channel: &str, user_id: Option<&str>) -> String {
    let data = if channel.starts_with("presence-") {
        let uid = user_id.unwrap_or(socket_id);
        let channel_data = json!({ "user_id": uid }).to_string();
        let msg = signature::channel_string(socket_id, channel, Some(&channel_data));
        let auth = signature::token(&app.key, &app.secret, &msg);
        json!({ "channel": channel, "auth": auth, "channel_data": channel_data })
    } else if channel.starts_with("private-") {
        let msg = signature::channel_string(socket_id, channel, None);
        json!({ "channel": channel, "auth": signature::token(&app.key, &app.secret, &msg) })
    } else {
        json!({ "channel": channel })
    };
    json!({ "event": "pusher:subscribe", "data": data }).to_string()
}

pub fn unsubscribe(channel: &str) -> String {
    json!({ "event": "pusher:unsubscribe", "data": { "channel": channel } }).to_string()
}

/// A client event whose `data` is the benchmark object itself (relayed raw by the server).
pub fn client_event(channel: &str, data: &str) -> String {
    format!(r#"{{"event":"{CLIENT_BENCH_EVENT}","channel":{},"data":{data}}}"#, json!(channel))
}

/// The benchmark payload: publisher id, per-(publisher, channel) sequence and send time (µs
/// since the run's start), padded with `x` to `size` bytes. It is itself a JSON object.
pub fn bench_data(worker: u32, seq: u64, t_us: u64, size: usize) -> String {
    let mut s = format!(r#"{{"w":{worker},"s":{seq},"t":{t_us},"p":""#);
    let pad = size.saturating_sub(s.len() + 2);
    s.extend(std::iter::repeat_n('x', pad));
    s.push_str(r#""}"#);
    s
}

/// Body of `POST /apps/{id}/events` to one channel, `data` carried as a JSON string.
pub fn publish_body(channel: &str, data: &str) -> String {
    json!({ "name": BENCH_EVENT, "channel": channel, "data": data }).to_string()
}

/// Path and signed query of `POST /apps/{id}/events` for `body`, signed like the SDKs.
pub fn publish_target(app: &App, body: &str, unix_s: u64) -> String {
    let path = format!("/apps/{}/events", app.id);
    let q = signature::signed_query(&app.key, &app.secret, "POST", &path, body.as_bytes(), unix_s, &[]);
    format!("{path}?{q}")
}

const W: (&str, &str) = (r#""w\":"#, r#""w":"#);
const S: (&str, &str) = (r#""s\":"#, r#""s":"#);
const T: (&str, &str) = (r#""t\":"#, r#""t":"#);

/// A benchmark event as a receiver sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchMsg {
    pub worker: u32,
    pub seq: u64,
    pub t_us: u64,
}

/// What a received text frame is, as far as the benchmarks care.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    Bench(BenchMsg),
    Established { socket_id: String },
    Subscribed { channel: String },
    MemberAdded { user_id: &'a str },
    MemberRemoved { user_id: &'a str },
    Error(String),
    Ping,
    Other,
}

/// The unsigned integer after `key` as escaped inside a data string (`"w\":`) or raw (`"w":`).
fn number(frame: &str, (esc, raw): (&str, &str)) -> Option<u64> {
    let (at, len) = match frame.find(esc) {
        Some(i) => (i, esc.len()),
        None => (frame.find(raw)?, raw.len()),
    };
    let rest = &frame[at + len..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    rest[..digits].parse().ok()
}

/// The string value after `user_id`, whether escaped inside a data string or not.
fn user_id(frame: &str) -> Option<&str> {
    let at = frame.find("\"user_id")? + "\"user_id".len();
    let rest = frame[at..].trim_start_matches(['\\', '"', ':']);
    let end = rest.find(['\\', '"'])?;
    Some(&rest[..end])
}

fn event_name(frame: &str) -> Option<&str> {
    let at = frame.find(r#""event":""#)? + 9;
    let end = frame[at..].find('"')?;
    Some(&frame[at..at + end])
}

/// JSON-decoded `data` (Pusher double-encodes it as a string; errors carry an object).
fn data_value(frame: &str) -> Option<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(frame).ok()?;
    match v.get("data")? {
        serde_json::Value::String(s) => serde_json::from_str(s).ok(),
        other => Some(other.clone()),
    }
}

pub fn parse(frame: &str) -> Incoming<'_> {
    let Some(event) = event_name(frame) else { return Incoming::Other };
    match event {
        BENCH_EVENT | CLIENT_BENCH_EVENT => {
            match (number(frame, W), number(frame, S), number(frame, T)) {
                (Some(w), Some(s), Some(t)) => Incoming::Bench(BenchMsg { worker: w as u32, seq: s, t_us: t }),
                _ => Incoming::Other,
            }
        }
        "pusher_internal:member_added" => user_id(frame).map_or(Incoming::Other, |u| Incoming::MemberAdded { user_id: u }),
        "pusher_internal:member_removed" => user_id(frame).map_or(Incoming::Other, |u| Incoming::MemberRemoved { user_id: u }),
        "pusher:ping" => Incoming::Ping,
        "pusher:connection_established" => data_value(frame)
            .and_then(|d| Some(Incoming::Established { socket_id: d.get("socket_id")?.as_str()?.to_owned() }))
            .unwrap_or(Incoming::Other),
        "pusher_internal:subscription_succeeded" => {
            let v: Option<serde_json::Value> = serde_json::from_str(frame).ok();
            let channel = v.as_ref().and_then(|v| v.get("channel")?.as_str()).unwrap_or_default();
            Incoming::Subscribed { channel: channel.to_owned() }
        }
        "pusher:error" | "pusher:subscription_error" => {
            Incoming::Error(frame.chars().take(300).collect())
        }
        _ => Incoming::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> App {
        App { id: "3".into(), key: "278d425bdf160c739803".into(), secret: "7ad3773142a6692b25b8".into() }
    }

    #[test]
    fn private_subscribe_is_signed_like_the_pusher_docs_example() {
        let f = subscribe(&app(), "1234.1234", "private-foobar", None);
        assert!(f.contains("278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"), "{f}");
    }

    #[test]
    fn bench_events_parse_in_both_encodings() {
        let d = bench_data(3, 42, 123_456, 100);
        assert_eq!(d.len(), 100);
        let want = Incoming::Bench(BenchMsg { worker: 3, seq: 42, t_us: 123_456 });
        let api = format!(r#"{{"event":"bench","channel":"c","data":{}}}"#, json!(d));
        assert_eq!(parse(&api), want);
        let client = format!(r#"{{"event":"client-bench","channel":"presence-x","data":{d},"user_id":"u1"}}"#);
        assert_eq!(parse(&client), want);
    }

    #[test]
    fn control_frames_parse() {
        let est = r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"12.34\",\"activity_timeout\":120}"}"#;
        assert_eq!(parse(est), Incoming::Established { socket_id: "12.34".into() });
        let ok = r#"{"event":"pusher_internal:subscription_succeeded","channel":"x","data":"{}"}"#;
        assert_eq!(parse(ok), Incoming::Subscribed { channel: "x".into() });
        let add = r#"{"event":"pusher_internal:member_added","channel":"presence-x","data":"{\"user_id\":\"c1s2\"}"}"#;
        assert_eq!(parse(add), Incoming::MemberAdded { user_id: "c1s2" });
        let rm = r#"{"event":"pusher_internal:member_removed","channel":"presence-x","data":"{\"user_id\":\"c1s2\"}"}"#;
        assert_eq!(parse(rm), Incoming::MemberRemoved { user_id: "c1s2" });
        assert_eq!(parse(r#"{"event":"pusher:ping","data":{}}"#), Incoming::Ping);
        assert!(matches!(parse(r#"{"event":"pusher:error","data":{"code":4100}}"#), Incoming::Error(_)));
    }

    #[test]
    fn publish_target_is_signed() {
        let body = r#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
        let t = publish_target(&app(), body, 1_353_088_179);
        assert!(t.starts_with("/apps/3/events?auth_key=278d425bdf160c739803&auth_timestamp=1353088179"), "{t}");
        assert!(t.contains("body_md5=ec365a775a4cd0599faeb73354201b6f"), "{t}");
        assert!(t.ends_with("auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"), "{t}");
    }
}
