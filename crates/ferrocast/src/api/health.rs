//! Load-balancer probes: `GET /` and `/health` answer while the process runs; `/ready` answers
//! 503 once the node is draining, so balancers stop sending new clients.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::state::Shared;

pub(super) async fn health() -> Json<Value> {
    Json(json!({"ok": true}))
}

pub(super) async fn ready(State(shared): State<Shared>) -> (StatusCode, Json<Value>) {
    if !shared.cluster.is_connected() {
        let body = json!({"ready": false, "reason": "cluster adapter not connected"});
        (StatusCode::SERVICE_UNAVAILABLE, Json(body))
    } else if shared.shutdown.is_draining() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reason": "draining"})),
        )
    } else {
        (StatusCode::OK, Json(json!({"ready": true})))
    }
}
