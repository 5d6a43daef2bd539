//! The HTTP edge: the Pusher HTTP API under `/apps/{app_id}/…` (signed), the probes, and the
//! WebSocket route, all on one router. Unknown paths get a JSON 404.

mod channels;
pub mod error;
mod events;
mod health;
pub mod signed;
mod users;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::state::Shared;
use crate::ws;
use error::ApiError;

/// The main listener's routes: WebSocket, HTTP API and probes.
pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/app/{key}", get(ws::upgrade))
        .route("/apps/{app_id}/events", post(events::publish))
        .route("/apps/{app_id}/batch_events", post(events::batch))
        .route("/apps/{app_id}/channels", get(channels::list))
        .route("/apps/{app_id}/channels/{channel}", get(channels::show))
        .route(
            "/apps/{app_id}/channels/{channel}/users",
            get(channels::users),
        )
        .route(
            "/apps/{app_id}/users/{user_id}/terminate_connections",
            post(users::terminate),
        )
        .route(
            "/users/{user_id}/terminate_connections",
            post(users::terminate_unprefixed),
        )
        .route("/", get(health::health))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(shared)
}

/// The operations listener's routes (metrics port).
pub fn ops_router(shared: Shared) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(shared)
}

async fn method_not_allowed() -> Response {
    ApiError::MethodNotAllowed.into_response()
}

async fn not_found(upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> Response {
    match upgrade {
        Ok(ws) => ws::wrong_path(ws).await,
        Err(_) => ApiError::NotFound.into_response(),
    }
}
