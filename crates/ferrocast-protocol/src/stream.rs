//! Ferrocast's history extension on the wire: a channel's stream position (`epoch` + `offset`),
//! the three extra top-level fields of an event that history stored (`id`, `epoch`, `offset`,
//! which plain Pusher clients ignore), and the extra keys of `subscription_succeeded` data
//! (`recovered`, `epoch`, `offset`). docs/history.md describes them field by field.

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

/// Where a client is in a channel's stream: `offset` is the last message it saw (0 before the
/// first) in the stream generation `epoch`; a new epoch means earlier offsets mean nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Position {
    pub epoch: String,
    pub offset: u64,
}

/// The history keys added to `subscription_succeeded` data on a history channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StreamInfo<'a> {
    /// Only when the subscribe asked to `recover`: whether every missed message follows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<bool>,
    /// The stream's position when the subscription started (absent if the store failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// The position fields of an event frame, for de-duplicating replayed against live frames.
#[derive(Debug, Deserialize)]
struct FramePosition {
    #[serde(default)]
    epoch: Option<String>,
    #[serde(default)]
    offset: Option<u64>,
}

/// Adds `"id"`, `"epoch"` and `"offset"` to an encoded event frame (a JSON object), without
/// encoding it again: the object's closing brace is replaced by the three fields.
pub fn with_position(frame: &[u8], id: &str, epoch: &str, offset: u64) -> Bytes {
    let head = frame.strip_suffix(b"}").unwrap_or(frame);
    let id = serde_json::to_string(id).unwrap_or_default();
    let epoch = serde_json::to_string(epoch).unwrap_or_default();
    let mut out = BytesMut::with_capacity(head.len() + id.len() + epoch.len() + 48);
    out.put_slice(head);
    out.put_slice(b",\"id\":");
    out.put_slice(id.as_bytes());
    out.put_slice(b",\"epoch\":");
    out.put_slice(epoch.as_bytes());
    out.put_slice(b",\"offset\":");
    out.put_slice(offset.to_string().as_bytes());
    out.put_u8(b'}');
    out.freeze()
}

/// The `(epoch, offset)` an event frame carries, if history stored it. `with_position` puts
/// the fields last, so only the frame's tail is parsed, not its data; the last `,"id":` outside
/// any string is ours (inside a JSON string the quotes would be escaped).
pub fn position_of(frame: &[u8]) -> Option<(String, u64)> {
    const MARK: &[u8] = b",\"id\":";
    let at = frame.windows(MARK.len()).rposition(|w| w == MARK)?;
    let mut tail = Vec::with_capacity(frame.len() - at);
    tail.push(b'{');
    tail.extend_from_slice(&frame[at + 1..]);
    let p: FramePosition = serde_json::from_slice(&tail).ok()?;
    Some((p.epoch?, p.offset?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_msg::{EventData, ServerMessage};

    #[test]
    fn positions_are_extra_top_level_fields() {
        let frame = ServerMessage::Event {
            event: "e",
            channel: "history-c",
            data: EventData::Str("{\"a\":1}"),
            user_id: None,
        }
        .encode();
        let out = with_position(&frame, "m1", "ep", 42);
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"event":"e","channel":"history-c","data":"{\"a\":1}",
                "id":"m1","epoch":"ep","offset":42})
        );
        assert_eq!(position_of(&out), Some(("ep".to_owned(), 42)));
        assert_eq!(position_of(&frame), None);
        assert_eq!(position_of(b"not json"), None);
        // Data (a client event's raw object) may hold the same names: the last ones count.
        let raw = serde_json::value::RawValue::from_string(
            r#"{"id":"x","epoch":"no","offset":1}"#.to_owned(),
        )
        .expect("raw");
        let frame = ServerMessage::Event {
            event: "client-e",
            channel: "private-history-c",
            data: EventData::Raw(&raw),
            user_id: None,
        }
        .encode();
        assert_eq!(position_of(&frame), None, "no position of its own");
        let out = with_position(&frame, "m2", "ep", 7);
        assert_eq!(position_of(&out), Some(("ep".to_owned(), 7)));
    }

    #[test]
    fn recover_is_an_epoch_and_offset() {
        let p: Position = serde_json::from_str(r#"{"epoch":"x","offset":3}"#).expect("position");
        assert_eq!(p.offset, 3);
        assert!(serde_json::from_str::<Position>(r#"{"epoch":"x","offset":-1}"#).is_err());
        assert!(serde_json::from_str::<Position>(r#"{"epoch":"x"}"#).is_err());
    }
}
