//! What the dashboard's pages read besides the admin API: this node's and the cluster's load
//! (polled every second by the Overview), an app's occupied channels with their members, cached
//! event and history, and the debug console's test publish. Every handler requires the admin proof
//! (session cookie or bearer token).

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

use crate::api::error::ApiError;
use crate::api::Admin;
use crate::apps::App;
use crate::debug_feed::clip;
use crate::history::Query;
use crate::state::Shared;

/// Channels listed at most, so an app with very many channels still answers quickly.
const MAX_CHANNELS: usize = 500;
/// Presence members listed per channel at most.
const MAX_MEMBERS: usize = 100;
/// Newest stored messages shown per history channel.
const HISTORY_SHOWN: usize = 5;

fn app(shared: &Shared, id: &str) -> Result<Arc<App>, ApiError> {
    shared
        .apps
        .by_id(id)
        .ok_or_else(|| ApiError::AppNotFound(id.to_owned()))
}

/// `GET /dashboard/api/stats`: running totals (the page turns them into rates), connections,
/// memory; the other nodes as their heartbeats report them; and each app's figures here.
pub(super) async fn stats(_: Admin, State(shared): State<Shared>) -> Json<Value> {
    let apps: Vec<Value> = {
        let mut all = shared.apps.all();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all.iter()
            .map(|a| {
                let st = a.channels.stats();
                let cfg = a.config();
                json!({
                    "id": a.id,
                    "key": cfg.key,
                    "enabled": cfg.enabled,
                    "connections": a.connections(),
                    "channels": st.channels,
                    "subscriptions": st.subscriptions,
                    "presence_members": st.presence_members,
                    "viewers": a.debug.watchers(),
                })
            })
            .collect()
    };
    let cluster = &shared.cluster;
    Json(json!({
        "node": {
            "id": cluster.node(),
            "uptime_secs": shared.dashboard.started.elapsed().as_secs(),
            "connections": shared.apps.all().iter().map(|a| a.connections()).sum::<usize>(),
            "draining": shared.shutdown.is_draining(),
            "load": cluster.load(),
        },
        "cluster": {
            "adapter": cluster.adapter_name(),
            "connected": cluster.is_connected(),
            "peers": cluster.peer_view(),
        },
        "apps": apps,
    }))
}

/// `GET /dashboard/api/apps/{id}/channels`: occupied channels across the cluster with their
/// subscription counts; presence members and the cached event as this node knows them; and, on
/// channels the app keeps history for, the stream's position and its newest messages.
pub(super) async fn channels(
    _: Admin,
    State(shared): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = app(&shared, &id)?;
    let all = shared.cluster.channels(&app, "").await;
    let now = Instant::now();
    let mut channels = Vec::with_capacity(all.len().min(MAX_CHANNELS));
    for (name, counts) in all.iter().take(MAX_CHANNELS) {
        let members = name.starts_with("presence-").then(|| {
            let mut ids = app.channels.member_ids(name);
            ids.truncate(MAX_MEMBERS);
            ids
        });
        let cached = app.channels.cached(name, now).map(|c| {
            let (data, truncated) = clip(&c.data);
            json!({"event": c.event, "data": data, "truncated": truncated, "ttl_left": c.ttl_left(now)})
        });
        channels.push(json!({
            "name": name,
            "subscription_count": counts.subscriptions,
            "user_count": members.as_ref().map(|_| counts.users),
            "members": members,
            "cached": cached,
            "history": history(&shared, &app, name).await,
        }));
    }
    Ok(Json(json!({
        "channels": channels,
        "total": all.len(),
        // Whether the app keeps history for any channel.
        "history": !app.config().history.is_empty(),
    })))
}

/// A history channel's position and newest messages (`null` on other channels); a store that
/// fails is shown as an error rather than failing the page.
async fn history(shared: &Shared, app: &App, channel: &str) -> Value {
    let query = Query {
        limit: HISTORY_SHOWN,
        newest_first: true,
        ..Query::default()
    };
    let page = match shared.history.read(app, channel, query).await {
        Ok(None) => return Value::Null,
        Ok(Some(page)) => page,
        Err(e) => return json!({"error": e.to_string()}),
    };
    let messages: Vec<Value> = page
        .messages
        .into_iter()
        .filter_map(crate::api::history::message)
        .map(|m| {
            // Event data is a JSON string on the wire; show its text, cut like the feed's.
            let raw = m.data.get();
            let text = serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_owned());
            let (data, truncated) = clip(&text);
            json!({
                "offset": m.offset,
                "id": m.id,
                "time": m.time,
                "event": m.event,
                "data": data,
                "truncated": truncated,
                "user_id": m.user_id,
            })
        })
        .collect();
    json!({
        "epoch": page.position.epoch,
        "offset": page.position.offset,
        "messages": messages,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TestEvent {
    channel: String,
    event: String,
    data: String,
}

/// `POST /dashboard/api/apps/{id}/events`: the console's test event, published like an HTTP
/// API publish (same checks, limits and debug-feed entry).
pub(super) async fn test_event(
    _: Admin,
    State(shared): State<Shared>,
    Path(id): Path<String>,
    body: Result<Json<TestEvent>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(e) = body.map_err(|r| ApiError::InvalidJson(r.body_text()))?;
    let app = app(&shared, &id)?;
    if !app.config().enabled {
        return Err(ApiError::AppDisabled);
    }
    crate::api::publish_one(&shared, &app, e.channel, e.event, e.data).await?;
    Ok(Json(json!({})))
}
