//! `POST /apps/{id}/events` and `/batch_events`: validate every event first (a batch is all or
//! nothing), then encode each event once per channel and hand the bytes to the channel's
//! subscribers. Answers `{}`, or the requested `info` per channel.

use axum::Json;
use bytes::Bytes;
use ferrocast_protocol::api::{
    BatchRequest, BatchResponse, ChannelAttributes, ChannelsResponse, PublishRequest,
};
use ferrocast_protocol::names::validate_event_name;
use ferrocast_protocol::server_msg::EventData;
use ferrocast_protocol::{ChannelKind, ChannelName, ServerMessage, SocketId};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::ApiError;
use super::signed::Signed;
use crate::apps::App;
use crate::channels::CachedEvent;
use crate::debug_feed::DebugEvent;
use crate::history::{HistoryError, Publish};
use crate::state::Shared;
use axum::extract::State;

/// Event names the protocol uses for itself; the API may not publish them.
const RESERVED_EVENT_PREFIXES: [&str; 2] = ["pusher:", "pusher_internal:"];

/// Which counts a publish's `info` asked for.
#[derive(Debug, Clone, Copy, Default)]
struct InfoWanted {
    user_count: bool,
    subscription_count: bool,
}

/// One event, checked and ready to publish.
struct Event {
    name: String,
    data: String,
    channels: Vec<ChannelName>,
    except: Option<SocketId>,
    info: Option<InfoWanted>,
    /// Delivered once per key within the idempotency window (docs/history.md).
    idempotency_key: Option<String>,
}

pub(super) async fn publish(
    State(shared): State<Shared>,
    signed: Signed,
) -> Result<Json<Value>, ApiError> {
    let req: PublishRequest = signed.json()?;
    let channels = match (req.channels, req.channel) {
        (Some(list), _) => list,
        (None, Some(one)) => vec![one],
        (None, None) => {
            return Err(ApiError::bad(
                "missing_channels",
                "Give channels (a list) or channel",
            ))
        }
    };
    let mut event = check(
        &signed.app,
        req.name,
        req.data.into_string(),
        channels,
        req.socket_id,
        req.info,
    )?;
    event.idempotency_key = idempotency_key(req.idempotency_key)?;
    super::limits::backend_events(&signed.app, event.channels.len())?;
    let info = send(&shared, &signed.app, &event).await?;
    Ok(Json(match info {
        Some(channels) => serde_json::to_value(ChannelsResponse { channels }).unwrap_or_default(),
        None => Value::Object(Default::default()),
    }))
}

pub(super) async fn batch(
    State(shared): State<Shared>,
    signed: Signed,
) -> Result<Json<Value>, ApiError> {
    let req: BatchRequest = signed.json()?;
    let max = signed.app.config().max_batch_size;
    if req.batch.len() > max {
        return Err(ApiError::bad(
            "batch_too_large",
            format!("A batch may hold at most {max} events"),
        ));
    }
    let events = req
        .batch
        .into_iter()
        .map(|e| {
            let mut event = check(
                &signed.app,
                e.name,
                e.data.into_string(),
                vec![e.channel],
                e.socket_id,
                e.info,
            )?;
            event.idempotency_key = idempotency_key(e.idempotency_key)?;
            Ok::<_, ApiError>(event)
        })
        .collect::<Result<Vec<_>, _>>()?;
    super::limits::backend_events(&signed.app, events.iter().map(|e| e.channels.len()).sum())?;
    let mut infos = Vec::with_capacity(events.len());
    for e in &events {
        infos.push(send(&shared, &signed.app, e).await?);
    }
    if infos.iter().all(Option::is_none) {
        return Ok(Json(Value::Object(Default::default())));
    }
    // A batch event names one channel, so its item is that channel's attributes.
    let batch = infos
        .into_iter()
        .map(|info| {
            info.and_then(|m| m.into_values().next())
                .unwrap_or_default()
        })
        .collect();
    Ok(Json(
        serde_json::to_value(BatchResponse { batch }).unwrap_or_default(),
    ))
}

fn check(
    app: &App,
    name: String,
    data: String,
    channels: Vec<String>,
    socket_id: Option<String>,
    info: Option<String>,
) -> Result<Event, ApiError> {
    let cfg = app.config();
    validate_event_name(&name, cfg.max_event_name_length)
        .map_err(|e| ApiError::bad("invalid_event_name", e.to_string()))?;
    if RESERVED_EVENT_PREFIXES.iter().any(|p| name.starts_with(p)) {
        let msg = format!(
            "Event names starting with {RESERVED_EVENT_PREFIXES:?} are reserved for the protocol"
        );
        return Err(ApiError::bad("invalid_event_name", msg));
    }
    if channels.is_empty() {
        return Err(ApiError::bad(
            "missing_channels",
            "At least one channel is required",
        ));
    }
    if channels.len() > cfg.max_channels_per_event {
        let msg = format!(
            "An event may be published to at most {} channels",
            cfg.max_channels_per_event
        );
        return Err(ApiError::bad("too_many_channels", msg));
    }
    let channels = channels
        .iter()
        .map(|c| {
            ChannelName::parse(c, cfg.max_channel_name_length)
                .map_err(|e| ApiError::bad("invalid_channel", format!("Channel {c:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // A channel named twice is still one delivery per subscriber.
    let mut seen = std::collections::HashSet::new();
    let channels: Vec<ChannelName> = channels
        .into_iter()
        .filter(|c| seen.insert(c.clone()))
        .collect();
    if data.len() > cfg.max_payload_bytes() {
        return Err(ApiError::PayloadTooLarge(format!(
            "Event data is larger than {} bytes",
            cfg.max_payload_bytes()
        )));
    }
    let except = socket_id
        .map(|s| {
            s.parse::<SocketId>()
                .map_err(|e| ApiError::bad("invalid_socket_id", e.to_string()))
        })
        .transpose()?;
    let info = info.map(|i| parse_info(&i)).transpose()?;
    Ok(Event {
        name,
        data,
        channels,
        except,
        info,
        idempotency_key: None,
    })
}

fn idempotency_key(key: Option<String>) -> Result<Option<String>, ApiError> {
    let max = crate::history::MAX_IDEMPOTENCY_KEY_LEN;
    match key {
        Some(k) if k.is_empty() || k.len() > max => Err(ApiError::bad(
            "invalid_idempotency_key",
            format!("idempotency_key must be 1 to {max} bytes"),
        )),
        key => Ok(key),
    }
}

fn parse_info(info: &str) -> Result<InfoWanted, ApiError> {
    let mut wanted = InfoWanted::default();
    for attr in info.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        match attr {
            "user_count" => wanted.user_count = true,
            "subscription_count" => wanted.subscription_count = true,
            other => {
                return Err(ApiError::bad(
                    "invalid_info",
                    format!("Unknown info attribute {other:?}"),
                ))
            }
        }
    }
    Ok(wanted)
}

/// One event to one channel, checked and published as the HTTP API would (limits, history,
/// debug feed and metrics included): the dashboard's test form.
pub(crate) async fn publish_one(
    shared: &Shared,
    app: &Arc<App>,
    channel: String,
    name: String,
    data: String,
) -> Result<(), ApiError> {
    let event = check(app, name, data, vec![channel], None, None)?;
    super::limits::backend_events(app, event.channels.len())?;
    send(shared, app, &event).await?;
    Ok(())
}

/// Publishes to every channel on every node (through the history on history channels, and
/// not at all when the idempotency key was seen); returns the requested `info` per channel,
/// with counts from the whole cluster.
async fn send(
    shared: &Shared,
    app: &Arc<App>,
    e: &Event,
) -> Result<Option<BTreeMap<String, ChannelAttributes>>, ApiError> {
    let unavailable = |e: HistoryError| ApiError::HistoryUnavailable(e.to_string());
    let first = match &e.idempotency_key {
        Some(key) => shared
            .history
            .claim(&app.id, key)
            .await
            .map_err(unavailable)?,
        None => true,
    };
    if first {
        if let Err(err) = deliver(shared, app, e).await {
            if let Some(key) = &e.idempotency_key {
                shared.history.release(&app.id, key).await;
            }
            return Err(unavailable(err));
        }
    }
    let Some(wanted) = e.info else {
        return Ok(None);
    };
    let counts = shared.cluster.counts(app, &e.channels).await;
    Ok(Some(
        e.channels
            .iter()
            .zip(counts)
            .map(|(c, counts)| {
                let attrs = ChannelAttributes {
                    // As Pusher does, user_count is left out for channels that are not presence.
                    user_count: (wanted.user_count && c.kind() == ChannelKind::Presence)
                        .then_some(counts.users),
                    subscription_count: wanted.subscription_count.then_some(counts.subscriptions),
                    ..Default::default()
                };
                (c.to_string(), attrs)
            })
            .collect(),
    ))
}

/// Encodes the event once per channel and publishes it.
async fn deliver(shared: &Shared, app: &Arc<App>, e: &Event) -> Result<(), HistoryError> {
    let now = Instant::now();
    for channel in &e.channels {
        let frame: Bytes = ServerMessage::Event {
            event: &e.name,
            channel: channel.as_str(),
            data: EventData::Str(&e.data),
            user_id: None,
        }
        .encode();
        let cache = channel.is_cache().then(|| CachedEvent {
            event: e.name.clone(),
            data: e.data.clone(),
            frame: frame.clone(),
            stored_at: now,
            ttl: Duration::from_secs(app.config().cache_ttl),
        });
        shared
            .history
            .publish(Publish {
                app: app.clone(),
                channel: channel.clone(),
                frame,
                except: e.except,
                cache,
            })
            .await?;
        (app.debug).emit(|| DebugEvent::api_event(channel.as_str(), &e.name, &e.data, e.except));
        app.metrics.api_events.increment(1);
    }
    Ok(())
}
