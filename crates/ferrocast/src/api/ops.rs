//! Operations endpoints on the metrics port: `/metrics` (Prometheus text) and `/usage`
//! (memory and connections, for autoscalers and network watchers).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Map, Value};

use crate::state::Shared;

pub(super) async fn metrics(State(shared): State<Shared>) -> impl IntoResponse {
    // Gauges that are cheaper to compute when scraped than to keep up to date on every change.
    for app in shared.apps.all() {
        let st = app.channels.stats();
        let m = &app.metrics;
        m.connections.set(app.connections() as f64);
        m.channels.set(st.channels as f64);
        m.subscriptions.set(st.subscriptions as f64);
        m.presence_members.set(st.presence_members as f64);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        shared.metrics.render(),
    )
}

pub(super) async fn usage(State(shared): State<Shared>) -> Json<Value> {
    let apps: Map<String, Value> = shared
        .apps
        .all()
        .iter()
        .map(|a| (a.id.clone(), json!({"connections": a.connections()})))
        .collect();
    let connections: usize = shared.apps.all().iter().map(|a| a.connections()).sum();
    Json(json!({
        "memory": {"rss_bytes": rss_bytes()},
        "connections": connections,
        "apps": apps,
        "draining": shared.shutdown.is_draining(),
    }))
}

/// Resident memory of this process, from /proc (0 where there is no /proc).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
