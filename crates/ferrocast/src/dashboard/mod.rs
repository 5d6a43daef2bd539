//! The browser dashboard at `/dashboard`, on the main port: a login with the admin token that
//! becomes a session cookie, the pages (static files embedded in the binary, `assets.rs`), and
//! what the pages read — the admin API (mounted again under `/dashboard/api/admin`, where the
//! session cookie stands in for the bearer token), node and cluster stats, channels, a test
//! publish (`api.rs`) and the live debug feed over SSE (`feed.rs`). It exists only when
//! `admin_token` is set and `dashboard.enabled` is on. Every response carries a strict CSP.

mod api;
mod assets;
mod feed;
pub mod session;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use governor::DefaultDirectRateLimiter;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

use crate::api::error::ApiError;
use crate::config::Config;
use crate::state::Shared;
use session::Sessions;

/// Failed logins accepted per second on this node, so the token cannot be guessed quickly.
const FAILED_LOGINS_PER_SEC: u32 = 5;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's state on this node.
#[derive(Debug)]
pub struct Dashboard {
    pub sessions: Sessions,
    failed_logins: Option<DefaultDirectRateLimiter>,
    secure_cookie: bool,
    /// When this node started, for its uptime.
    pub started: Instant,
}

impl Dashboard {
    pub fn new(config: &Config) -> Self {
        Self {
            sessions: Sessions::new(Duration::from_secs(config.dashboard.session_ttl)),
            failed_logins: crate::apps::per_second(FAILED_LOGINS_PER_SEC),
            secure_cookie: config.tls.is_some() || config.dashboard.secure_cookie,
            started: Instant::now(),
        }
    }
}

/// Whether `/dashboard` is served.
pub fn is_enabled(config: &Config) -> bool {
    config.admin_token.is_some() && config.dashboard.enabled
}

/// The dashboard's routes; `admin` is the admin API's router, mounted again for the pages.
pub fn routes(config: &Config, admin: Router<Shared>) -> Router<Shared> {
    if !is_enabled(config) {
        return Router::new();
    }
    Router::new()
        .route("/dashboard", get(shell))
        .route("/dashboard/", get(shell))
        .route("/dashboard/login", get(login_page).post(login))
        .route("/dashboard/logout", post(logout))
        .route("/dashboard/assets/{file}", get(assets::serve))
        .route("/dashboard/api/stats", get(api::stats))
        .route("/dashboard/api/apps/{id}/channels", get(api::channels))
        .route("/dashboard/api/apps/{id}/events", post(api::test_event))
        .route("/dashboard/api/apps/{id}/feed", get(feed::stream))
        .nest("/dashboard/api", admin)
        .layer(middleware::from_fn(security_headers))
}

/// The session proof for the admin API's extractor: `None` when the request carries no
/// session cookie (so the bearer token decides), otherwise whether the session is valid and,
/// for a request that changes something, comes from the dashboard's own origin.
pub fn session_auth(
    method: &Method,
    headers: &HeaderMap,
    shared: &Shared,
) -> Option<Result<(), ApiError>> {
    if !is_enabled(&shared.config) {
        return None;
    }
    let token = session::token(headers)?;
    if !shared.dashboard.sessions.is_valid(token, Instant::now()) {
        return Some(Err(ApiError::AdminUnauthorized));
    }
    let safe = matches!(*method, Method::GET | Method::HEAD);
    if !safe && !session::same_origin(headers) {
        return Some(Err(ApiError::CrossOrigin));
    }
    Some(Ok(()))
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        // `no-referrer` would make browsers send `Origin: null` on the login form.
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

fn logged_in(shared: &Shared, headers: &HeaderMap) -> bool {
    session::token(headers).is_some_and(|t| shared.dashboard.sessions.is_valid(t, Instant::now()))
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn shell(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if !logged_in(&shared, &headers) {
        return Redirect::to("/dashboard/login").into_response();
    }
    html(StatusCode::OK, assets::INDEX.to_owned())
}

fn login_form(status: StatusCode, error: &str) -> Response {
    html(status, assets::LOGIN.replace("{{error}}", error))
}

async fn login_page(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if logged_in(&shared, &headers) {
        return Redirect::to("/dashboard/").into_response();
    }
    login_form(StatusCode::OK, "")
}

/// `POST /dashboard/login` with the form field `token`.
async fn login(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if !session::same_origin(&headers) {
        return login_form(
            StatusCode::FORBIDDEN,
            "This login form must be sent from the dashboard's own page.",
        );
    }
    let dash = &shared.dashboard;
    let given = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let expected = shared.config.admin_token.as_deref().unwrap_or_default();
    let right = !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()));
    if !right {
        if dash
            .failed_logins
            .as_ref()
            .is_some_and(|l| l.check().is_err())
        {
            return login_form(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed logins; wait a moment.",
            );
        }
        tracing::warn!("dashboard: failed login");
        return login_form(StatusCode::UNAUTHORIZED, "Wrong admin token.");
    }
    let token = dash.sessions.create(Instant::now());
    let cookie = session::set_cookie(&token, dash.sessions.ttl(), dash.secure_cookie);
    tracing::info!("dashboard: login");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/dashboard/")).into_response()
}

async fn logout(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if !session::same_origin(&headers) {
        return ApiError::CrossOrigin.into_response();
    }
    if let Some(token) = session::token(&headers) {
        shared.dashboard.sessions.remove(token);
    }
    let cookie = session::clear_cookie(shared.dashboard.secure_cookie);
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to("/dashboard/login"),
    )
        .into_response()
}
