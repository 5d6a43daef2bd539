//! Presence data: the `channel_data` a presence subscription carries, and the member list sent
//! in `subscription_succeeded`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// `channel_data` of a presence subscription: `{"user_id": "...", "user_info": {...}}`.
#[derive(Debug, Clone)]
pub struct ChannelData {
    pub user_id: String,
    /// Kept as raw JSON: relayed to members as it was signed.
    pub user_info: Option<Box<RawValue>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelDataError {
    #[error("channel_data is not a JSON object")]
    NotAnObject,
    #[error("channel_data has no user_id")]
    MissingUserId,
    #[error("channel_data user_id must be a non-empty string or a number")]
    BadUserId,
}

#[derive(Deserialize)]
struct RawChannelData {
    user_id: Option<serde_json::Value>,
    user_info: Option<Box<RawValue>>,
}

impl ChannelData {
    /// Parses the exact string that was signed. Numeric user ids are accepted (as soketi does)
    /// and turned into their decimal string.
    pub fn parse(s: &str) -> Result<Self, ChannelDataError> {
        if !crate::client_msg::is_json_object(s) {
            return Err(ChannelDataError::NotAnObject);
        }
        let raw: RawChannelData =
            serde_json::from_str(s).map_err(|_| ChannelDataError::NotAnObject)?;
        let user_id = match raw.user_id {
            None | Some(serde_json::Value::Null) => return Err(ChannelDataError::MissingUserId),
            Some(serde_json::Value::String(s)) if !s.is_empty() => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(_) => return Err(ChannelDataError::BadUserId),
        };
        let user_info = raw.user_info.filter(|v| v.get() != "null");
        Ok(Self { user_id, user_info })
    }
}

/// The member list sent to a new presence subscriber: `{"presence":{"ids","hash","count"}}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PresenceSnapshot<'a> {
    pub ids: Vec<&'a str>,
    pub hash: BTreeMap<&'a str, Option<&'a RawValue>>,
    pub count: usize,
}

impl<'a> PresenceSnapshot<'a> {
    pub fn from_members(
        members: impl IntoIterator<Item = (&'a str, Option<&'a RawValue>)>,
    ) -> Self {
        let mut snap = Self::default();
        for (id, info) in members {
            snap.ids.push(id);
            snap.hash.insert(id, info);
        }
        snap.count = snap.ids.len();
        snap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_string_and_numeric_ids() {
        let d = ChannelData::parse(r#"{"user_id":"10","user_info":{"name":"A"}}"#).expect("ok");
        assert_eq!(d.user_id, "10");
        assert_eq!(d.user_info.expect("info").get(), r#"{"name":"A"}"#);
        assert_eq!(
            ChannelData::parse(r#"{"user_id":10}"#).expect("ok").user_id,
            "10"
        );
        assert_eq!(
            ChannelData::parse(r#"{"user_info":{}}"#).unwrap_err(),
            ChannelDataError::MissingUserId
        );
        assert_eq!(
            ChannelData::parse(r#"{"user_id":""}"#).unwrap_err(),
            ChannelDataError::BadUserId
        );
        assert_eq!(
            ChannelData::parse("[1]").unwrap_err(),
            ChannelDataError::NotAnObject
        );
    }

    /// Found by the `presence` fuzz target (fuzz/regressions/presence/array-as-channel-data):
    /// serde's derived struct accepted an array in field order, `[4,[]]` as user 4.
    #[test]
    fn arrays_are_refused() {
        for s in ["[4,[]]", r#"["u1",{"name":"A"}]"#, " [\"u1\",null]"] {
            assert_eq!(
                ChannelData::parse(s).unwrap_err(),
                ChannelDataError::NotAnObject,
                "{s}"
            );
        }
        let d = ChannelData::parse(" \n{\"user_id\":\"u1\"}").expect("leading whitespace");
        assert_eq!(d.user_id, "u1");
    }
}
