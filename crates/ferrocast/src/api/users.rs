//! `POST /apps/{id}/users/{user_id}/terminate_connections`: closes every connection signed in
//! as that user with 4009, on every node of the cluster. Also served without the `/apps/{id}` prefix, because the Python SDK
//! posts there.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use super::signed::Signed;
use crate::state::Shared;

pub(super) async fn terminate(
    State(shared): State<Shared>,
    Path((_, user_id)): Path<(String, String)>,
    signed: Signed,
) -> Json<Value> {
    shared.cluster.terminate(&signed.app, &user_id);
    Json(Value::Object(Default::default()))
}

pub(super) async fn terminate_unprefixed(
    State(shared): State<Shared>,
    Path(user_id): Path<String>,
    signed: Signed,
) -> Json<Value> {
    shared.cluster.terminate(&signed.app, &user_id);
    Json(Value::Object(Default::default()))
}
