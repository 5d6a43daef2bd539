//! The HTTP edge: the Pusher HTTP API under `/apps/{app_id}/…` (signed, rate-limited, counted in
//! the metrics, CORS-enabled), the WebSocket route and the probes on the main port; metrics and
//! usage on the operations port. Unknown paths get a JSON 404, wrong methods a JSON 405.

mod admin;
mod channels;
pub mod error;
mod events;
mod health;
pub(crate) mod history;
mod limits;
mod observe;
pub mod ops;
pub mod signed;
mod users;
mod webhooks;

use axum::http::{HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::state::Shared;
pub(crate) use admin::Admin;
use error::ApiError;
pub(crate) use events::publish_one;

/// The main listener's routes: WebSocket, HTTP API and probes.
pub fn router(shared: Shared) -> Router {
    let api = Router::new()
        .route("/apps/{app_id}/events", post(events::publish))
        .route("/apps/{app_id}/batch_events", post(events::batch))
        .route("/apps/{app_id}/channels", get(channels::list))
        .route("/apps/{app_id}/channels/{channel}", get(channels::show))
        .route(
            "/apps/{app_id}/channels/{channel}/users",
            get(channels::users),
        )
        .route(
            "/apps/{app_id}/channels/{channel}/history",
            get(history::show),
        )
        .route(
            "/apps/{app_id}/users/{user_id}/terminate_connections",
            post(users::terminate),
        )
        .route(
            "/users/{user_id}/terminate_connections",
            post(users::terminate_unprefixed),
        )
        .route(
            "/apps/{app_id}/webhooks/dead_letters",
            get(webhooks::dead_letters),
        )
        .route(
            "/apps/{app_id}/webhooks/dead_letters/replay",
            post(webhooks::replay),
        )
        // A route layer, so the matched route template is known when it runs.
        .route_layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            observe::track,
        ));
    let admin = Router::new()
        .route("/admin/apps", get(admin::list).post(admin::create))
        .route(
            "/admin/apps/{id}",
            get(admin::show).patch(admin::update).delete(admin::delete),
        )
        .route("/admin/apps/{id}/rotate-secret", post(admin::rotate_secret))
        .route("/admin/apps/{id}/disable", post(admin::disable))
        .route("/admin/apps/{id}/enable", post(admin::enable));
    let dashboard = crate::dashboard::routes(&shared.config, admin.clone());
    let admin = if shared.config.admin_token.is_some() {
        admin
    } else {
        Router::new()
    };
    // WebSocket upgrades never get here: the listener answers them (`ws::handshake`).
    Router::new()
        .route("/app/{key}", get(upgrade_required))
        .merge(admin)
        .merge(dashboard)
        .route("/", get(health::health))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .merge(api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Outermost, so preflights are answered before routing would refuse OPTIONS.
        .layer(cors(&shared.config.cors_allowed_origins))
        .with_state(shared)
}

/// The operations listener's routes (metrics port).
pub fn ops_router(shared: Shared) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics))
        .route("/usage", get(ops::usage))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(shared)
}

fn cors(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([axum::http::header::CONTENT_TYPE])
}

async fn method_not_allowed() -> Response {
    ApiError::MethodNotAllowed.into_response()
}

async fn not_found() -> Response {
    ApiError::NotFound.into_response()
}

async fn upgrade_required() -> Response {
    ApiError::UpgradeRequired.into_response()
}
