//! `GET /dashboard/api/apps/{id}/feed`: the debug console's live stream as server-sent events.
//! `event: ready` first (the viewer's rate cap and this node's id), then `event: debug` with one
//! JSON event each, and `event: dropped` (at most once a second) whenever the count of events
//! this viewer lost to its rate cap or to falling behind has grown. The stream ends when the
//! server drains. Query: `channel` (a prefix) and `types` (comma-separated event types).

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::time::Duration;

use crate::api::error::ApiError;
use crate::api::Admin;
use crate::debug_feed::{Filter, Viewer};
use crate::shutdown::Shutdown;
use crate::state::Shared;

/// Viewers of one app's feed at once on this node.
const MAX_VIEWERS: usize = 16;

#[derive(Deserialize)]
pub(super) struct FeedQuery {
    channel: Option<String>,
    types: Option<String>,
}

struct Feed {
    viewer: Viewer,
    tick: tokio::time::Interval,
    reported: u64,
    shutdown: Shutdown,
    hello: Option<Event>,
}

pub(super) async fn stream(
    _: Admin,
    State(shared): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<FeedQuery>,
) -> Result<Response, ApiError> {
    let app = shared
        .apps
        .by_id(&id)
        .ok_or_else(|| ApiError::AppNotFound(id.clone()))?;
    if app.debug.watchers() >= MAX_VIEWERS {
        return Err(ApiError::Busy);
    }
    let filter = Filter {
        channel: q.channel.filter(|c| !c.is_empty()),
        types: q
            .types
            .map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .filter(|t: &std::collections::HashSet<String>| !t.is_empty()),
    };
    let per_sec = shared.config.dashboard.feed_events_per_sec;
    let hello = json!({"events_per_sec": per_sec, "node": shared.cluster.node()});
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let feed = Feed {
        viewer: Viewer::new(app.debug.watch(), filter, per_sec),
        tick,
        reported: 0,
        shutdown: shared.shutdown.clone(),
        hello: Some(Event::default().event("ready").data(hello.to_string())),
    };
    let events = futures_util::stream::unfold(feed, |mut f| async move {
        if let Some(hello) = f.hello.take() {
            return Some((Ok::<_, Infallible>(hello), f));
        }
        loop {
            tokio::select! {
                json = f.viewer.next() => {
                    let text = String::from_utf8_lossy(&json).into_owned();
                    return Some((Ok(Event::default().event("debug").data(text)), f));
                }
                _ = f.tick.tick() => {
                    let dropped = f.viewer.dropped();
                    if dropped != f.reported {
                        f.reported = dropped;
                        let data = json!({"dropped": dropped}).to_string();
                        return Some((Ok(Event::default().event("dropped").data(data)), f));
                    }
                }
                _ = f.shutdown.wait() => return None,
            }
        }
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}
