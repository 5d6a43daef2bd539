//! `POST /apps/{id}/users/{user_id}/terminate_connections`: closes every connection signed in
//! as that user with 4009. Also served without the `/apps/{id}` prefix, because the Python SDK
//! posts there.

use axum::extract::Path;
use axum::Json;
use ferrocast_protocol::ErrorCode;
use serde_json::Value;

use super::error::ApiError;
use super::signed::Signed;

pub(super) async fn terminate(
    Path((_, user_id)): Path<(String, String)>,
    signed: Signed,
) -> Result<Json<Value>, ApiError> {
    terminate_user(&signed, &user_id)
}

pub(super) async fn terminate_unprefixed(
    Path(user_id): Path<String>,
    signed: Signed,
) -> Result<Json<Value>, ApiError> {
    terminate_user(&signed, &user_id)
}

fn terminate_user(signed: &Signed, user_id: &str) -> Result<Json<Value>, ApiError> {
    for socket in signed.app.users.sockets_of(user_id) {
        socket.close(ErrorCode::Unauthorized, "Connection terminated by the app");
    }
    Ok(Json(Value::Object(Default::default())))
}
