//! The dashboard's front end, embedded in the binary at build time (no build step, no CDN, works
//! offline): plain HTML, CSS and JavaScript modules from `dashboard/static/`.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::api::error::ApiError;

/// The page shell every logged-in view is drawn in.
pub(super) const INDEX: &str = include_str!("static/index.html");
/// The login form; `{{error}}` is replaced by a fixed message (never by request input).
pub(super) const LOGIN: &str = include_str!("static/login.html");

/// Every asset: name, content type, bytes.
const FILES: [(&str, &str, &str); 8] = [
    ("style.css", "text/css", include_str!("static/style.css")),
    ("main.js", JS, include_str!("static/main.js")),
    ("util.js", JS, include_str!("static/util.js")),
    ("overview.js", JS, include_str!("static/overview.js")),
    ("apps.js", JS, include_str!("static/apps.js")),
    ("console.js", JS, include_str!("static/console.js")),
    ("channels.js", JS, include_str!("static/channels.js")),
    ("chart.js", JS, include_str!("static/chart.js")),
];

const JS: &str = "text/javascript";

pub(super) async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, format!("{kind}; charset=utf-8")),
                (header::CACHE_CONTROL, "no-cache".to_owned()),
            ],
            *body,
        )
            .into_response(),
        None => ApiError::NotFound.into_response(),
    }
}
