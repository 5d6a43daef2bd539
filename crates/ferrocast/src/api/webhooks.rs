//! The dead-letter list of an app's webhooks, signed like the rest of the API (the app's own
//! key and secret, so each app sees only its own): `GET /apps/{id}/webhooks/dead_letters` lists
//! the requests that failed every attempt; `POST …/dead_letters/replay` with `{"ids": [...]}`
//! (or `{}` for all) queues them again, at the end of their endpoint's line.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::signed::Signed;
use crate::state::Shared;
use crate::webhooks::queue::QueueError;

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        tracing::error!(error = %e, "webhook queue unavailable");
        ApiError::QueueUnavailable
    }
}

pub(super) async fn dead_letters(
    State(shared): State<Shared>,
    signed: Signed,
) -> Result<Json<Value>, ApiError> {
    let letters = match shared.webhooks.open_queue() {
        Some(q) => q.dead_letters(&signed.app.id).await?,
        None => Vec::new(),
    };
    Ok(Json(json!({ "dead_letters": letters })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Replay {
    ids: Option<Vec<i64>>,
}

pub(super) async fn replay(
    State(shared): State<Shared>,
    signed: Signed,
) -> Result<Json<Value>, ApiError> {
    let body: Replay = if signed.body.is_empty() {
        Replay { ids: None }
    } else {
        signed.json()?
    };
    let replayed = match shared.webhooks.open_queue() {
        Some(q) => q.replay(&signed.app.id, body.ids.as_deref()).await?,
        None => 0,
    };
    shared.webhooks.kick();
    Ok(Json(json!({ "replayed": replayed })))
}
