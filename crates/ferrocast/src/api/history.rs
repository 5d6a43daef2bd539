//! `GET /apps/{id}/channels/{name}/history`: a page of a history channel's stored events,
//! oldest or newest first, bounded by offset (`since`, `until`) or time (`since_time`,
//! `until_time`, unix ms), with where the next page starts (docs/history.md).

use axum::extract::{Path, State};
use axum::Json;
use ferrocast_protocol::ChannelName;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::ApiError;
use super::signed::Signed;
use crate::history::{Query, Stored};
use crate::state::Shared;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// One stored event as the API (and the dashboard) shows it.
#[derive(Debug, Serialize)]
pub(crate) struct Message {
    pub id: String,
    pub offset: u64,
    /// Unix milliseconds when it was stored.
    pub time: u64,
    pub event: String,
    pub data: Box<RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// The stored frame's own fields.
#[derive(Deserialize)]
struct Body {
    event: String,
    data: Box<RawValue>,
    #[serde(default)]
    user_id: Option<String>,
}

/// Where the next page starts: the same request with this bound.
#[derive(Debug, Serialize)]
#[serde(rename_all = "lowercase")]
enum Next {
    Since(u64),
    Until(u64),
}

#[derive(Debug, Serialize)]
struct HistoryResponse {
    channel: String,
    /// The stream's current position.
    epoch: String,
    offset: u64,
    messages: Vec<Message>,
    next: Option<Next>,
}

fn number(signed: &Signed, name: &'static str) -> Result<Option<u64>, ApiError> {
    signed
        .param(name)
        .map(|v| {
            v.parse().map_err(|_| {
                ApiError::bad(
                    "invalid_history_query",
                    format!("{name} must be a non-negative integer"),
                )
            })
        })
        .transpose()
}

fn query(signed: &Signed) -> Result<Query, ApiError> {
    let limit = number(signed, "limit")?.map_or(DEFAULT_LIMIT, |l| l as usize);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad(
            "invalid_history_query",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let newest_first = match signed.param("direction").unwrap_or("backward") {
        "backward" => true,
        "forward" => false,
        other => {
            return Err(ApiError::bad(
                "invalid_history_query",
                format!("direction must be forward or backward, not {other:?}"),
            ))
        }
    };
    Ok(Query {
        from_offset: number(signed, "since")?,
        to_offset: number(signed, "until")?,
        from_ms: number(signed, "since_time")?,
        to_ms: number(signed, "until_time")?,
        limit,
        newest_first,
    })
}

pub(crate) fn message(m: Stored) -> Option<Message> {
    // Bodies are frames this server encoded; one that does not parse is skipped, not fatal.
    let body: Body = serde_json::from_slice(&m.body).ok()?;
    Some(Message {
        id: m.id,
        offset: m.offset,
        time: m.time_ms,
        event: body.event,
        data: body.data,
        user_id: body.user_id,
    })
}

pub(super) async fn show(
    State(shared): State<Shared>,
    Path((_, name)): Path<(String, String)>,
    signed: Signed,
) -> Result<Json<serde_json::Value>, ApiError> {
    super::limits::read_request(&signed.app)?;
    let channel = ChannelName::parse(&name, signed.app.config().max_channel_name_length)
        .map_err(|e| ApiError::bad("invalid_channel", format!("Channel {name:?}: {e}")))?;
    let q = query(&signed)?;
    let page = shared
        .history
        .read(&signed.app, channel.as_str(), q)
        .await
        .map_err(|e| ApiError::HistoryUnavailable(e.to_string()))?
        .ok_or_else(|| {
            ApiError::bad(
                "history_not_enabled",
                format!("Channel {name:?} matches none of the app's history patterns"),
            )
        })?;
    let full = page.messages.len() == q.limit;
    let next = page.messages.last().filter(|_| full).and_then(|m| {
        if q.newest_first {
            m.offset.checked_sub(1).filter(|&o| o > 0).map(Next::Until)
        } else {
            Some(Next::Since(m.offset + 1))
        }
    });
    let body = HistoryResponse {
        channel: channel.to_string(),
        epoch: page.position.epoch,
        offset: page.position.offset,
        messages: page.messages.into_iter().filter_map(message).collect(),
        next,
    };
    Ok(Json(serde_json::to_value(body).unwrap_or_default()))
}
