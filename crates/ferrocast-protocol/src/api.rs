//! Bodies of the HTTP API (`/apps/{id}/…`): publish requests, channel queries and errors.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Event `data`: Pusher sends a string; an object is accepted and relayed as its JSON text.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DataField {
    Str(String),
    Json(serde_json::Value),
}

impl DataField {
    pub fn into_string(self) -> String {
        match self {
            Self::Str(s) => s,
            Self::Json(v) => v.to_string(),
        }
    }
}

/// `POST /apps/{id}/events`.
#[derive(Debug, Deserialize)]
pub struct PublishRequest {
    pub name: String,
    pub data: DataField,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub socket_id: Option<String>,
    /// Comma-separated attributes to return: `user_count`, `subscription_count`.
    #[serde(default)]
    pub info: Option<String>,
    /// Ferrocast extension: a publish repeated with the same key within the app's window is
    /// accepted but not delivered again.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// One event of `POST /apps/{id}/batch_events`.
#[derive(Debug, Deserialize)]
pub struct BatchEvent {
    pub name: String,
    pub data: DataField,
    pub channel: String,
    #[serde(default)]
    pub socket_id: Option<String>,
    #[serde(default)]
    pub info: Option<String>,
    /// As in `PublishRequest`, per event.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct BatchRequest {
    pub batch: Vec<BatchEvent>,
}

/// Per-channel attributes in `info` answers. Absent fields are left out of the JSON.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ChannelAttributes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub occupied: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheAttribute>,
}

/// The cached event of a cache channel, in `GET /channels/{name}?info=cache`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CacheAttribute {
    pub event: String,
    pub data: String,
    pub ttl: u64,
}

/// `{"channels": {name: attributes}}`.
#[derive(Debug, Default, Serialize)]
pub struct ChannelsResponse {
    pub channels: BTreeMap<String, ChannelAttributes>,
}

/// `{"batch": [attributes, …]}`, index-aligned with the request: each item holds the counts of
/// its event's one channel (`{}` when that event asked for no `info`).
#[derive(Debug, Default, Serialize)]
pub struct BatchResponse {
    pub batch: Vec<ChannelAttributes>,
}

#[derive(Debug, Serialize)]
pub struct UserEntry {
    pub id: String,
}

/// `GET /apps/{id}/channels/{name}/users`.
#[derive(Debug, Serialize)]
pub struct UsersResponse {
    pub users: Vec<UserEntry>,
}

/// Every API error body: a message for people and a stable code for programs.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub code: String,
    /// The request field at fault, for validation errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}
