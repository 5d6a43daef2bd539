//! `GET /apps/{id}/channels`, `/channels/{name}` and `/channels/{name}/users`: what is occupied
//! now, with the counts and cached event that `info` asks for.

use axum::extract::Path;
use axum::Json;
use ferrocast_protocol::api::{
    CacheAttribute, ChannelAttributes, ChannelsResponse, UserEntry, UsersResponse,
};
use ferrocast_protocol::{ChannelKind, ChannelName};
use std::time::Instant;

use super::error::ApiError;
use super::signed::Signed;
use crate::state::Shared;
use axum::extract::State;

fn attributes(info: Option<&str>) -> Result<Vec<&str>, ApiError> {
    let attrs: Vec<&str> = info
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    match attrs
        .iter()
        .find(|a| !["user_count", "subscription_count", "cache"].contains(a))
    {
        Some(bad) => Err(ApiError::bad(
            "invalid_info",
            format!("Unknown info attribute {bad:?}"),
        )),
        None => Ok(attrs),
    }
}

pub(super) async fn list(
    State(shared): State<Shared>,
    signed: Signed,
) -> Result<Json<ChannelsResponse>, ApiError> {
    super::limits::read_request(&signed.app)?;
    let prefix = signed.param("filter_by_prefix").unwrap_or("");
    let attrs = attributes(signed.param("info"))?;
    let user_count = attrs.contains(&"user_count");
    if user_count && !prefix.starts_with("presence-") {
        return Err(ApiError::bad(
            "invalid_info",
            "info=user_count needs filter_by_prefix=presence-",
        ));
    }
    let subscription_count = attrs.contains(&"subscription_count");
    let channels = shared
        .cluster
        .channels(&signed.app, prefix)
        .await
        .into_iter()
        .map(|(name, counts)| {
            let attrs = ChannelAttributes {
                user_count: user_count.then_some(counts.users),
                subscription_count: subscription_count.then_some(counts.subscriptions),
                ..Default::default()
            };
            (name.to_string(), attrs)
        })
        .collect();
    Ok(Json(ChannelsResponse { channels }))
}

fn channel_name(signed: &Signed, name: &str) -> Result<ChannelName, ApiError> {
    ChannelName::parse(name, signed.app.config().max_channel_name_length)
        .map_err(|e| ApiError::bad("invalid_channel", format!("Channel {name:?}: {e}")))
}

pub(super) async fn show(
    State(shared): State<Shared>,
    Path((_, name)): Path<(String, String)>,
    signed: Signed,
) -> Result<Json<ChannelAttributes>, ApiError> {
    super::limits::read_request(&signed.app)?;
    let channel = channel_name(&signed, &name)?;
    let attrs = attributes(signed.param("info"))?;
    let presence = channel.kind() == ChannelKind::Presence;
    if attrs.contains(&"user_count") && !presence {
        return Err(ApiError::bad(
            "invalid_info",
            "user_count is only available for presence channels",
        ));
    }
    let counts = shared
        .cluster
        .counts(&signed.app, std::slice::from_ref(&channel))
        .await
        .pop()
        .unwrap_or_default();
    let now = Instant::now();
    let cache = attrs
        .contains(&"cache")
        .then(|| signed.app.channels.cached(channel.as_str(), now))
        .flatten()
        .map(|c| CacheAttribute {
            ttl: c.ttl_left(now),
            event: c.event,
            data: c.data,
        });
    Ok(Json(ChannelAttributes {
        occupied: Some(counts.subscriptions > 0),
        user_count: attrs.contains(&"user_count").then_some(counts.users),
        subscription_count: attrs
            .contains(&"subscription_count")
            .then_some(counts.subscriptions),
        cache,
    }))
}

pub(super) async fn users(
    Path((_, name)): Path<(String, String)>,
    signed: Signed,
) -> Result<Json<UsersResponse>, ApiError> {
    super::limits::read_request(&signed.app)?;
    let channel = channel_name(&signed, &name)?;
    if channel.kind() != ChannelKind::Presence {
        return Err(ApiError::bad(
            "not_presence_channel",
            "Users can only be listed for presence channels",
        ));
    }
    let users = signed
        .app
        .channels
        .member_ids(channel.as_str())
        .into_iter()
        .map(|id| UserEntry { id })
        .collect();
    Ok(Json(UsersResponse { users }))
}
