//! Records every HTTP API request in the metrics: by route template and status, with the app
//! label only for apps that exist (so unsigned callers cannot create label values).

use axum::body::HttpBody as _;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::Shared;

pub(super) async fn track(State(shared): State<Shared>, req: Request, next: Next) -> Response {
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| route_label(m.as_str()))
        .unwrap_or_else(|| "unmatched".to_owned());
    let app = req
        .uri()
        .path()
        .strip_prefix("/apps/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|id| shared.apps.by_id(id));
    let received = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let resp = next.run(req).await;
    let app_label = app.as_ref().map_or("", |a| a.id.as_str());
    shared
        .metrics
        .http_request(app_label, &endpoint, resp.status().as_u16());
    if let Some(app) = app {
        app.metrics.http_bytes_received.increment(received);
        app.metrics
            .http_bytes_sent
            .increment(resp.body().size_hint().exact().unwrap_or(0));
    }
    resp
}

/// `/apps/{app_id}/events` → `/apps/:app_id/events`: braces inside label values trip up some
/// Prometheus tooling.
fn route_label(template: &str) -> String {
    template.replace('{', ":").replace('}', "")
}
