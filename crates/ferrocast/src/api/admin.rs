//! The admin API: apps as data, under `/admin/apps`, authenticated by the admin token
//! (`Authorization: Bearer …`, compared in constant time, length included) or a dashboard
//! session, and absent unless a token is set.
//! Writes go to the app store (`apps::records`), then the live set is reloaded here and on every
//! other node. Secrets are shown only when created or rotated, never when listing.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use crate::apps::edit::{self, FieldError};
use crate::apps::records::{RecordError, Records};
use crate::apps::StoreError;
use crate::config::AppConfig;
use crate::state::Shared;

/// Proof that the request carries the admin token.
pub(crate) struct Admin;

impl FromRequestParts<Shared> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, shared: &Shared) -> Result<Self, ApiError> {
        let Some(expected) = shared.config.admin_token.as_deref() else {
            return Err(ApiError::NotFound);
        };
        let given = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if ferrocast_protocol::signature::secrets_equal(given, expected) {
            return Ok(Admin);
        }
        // The dashboard's pages send their session cookie instead of the token.
        match crate::dashboard::session_auth(&parts.method, &parts.headers, shared) {
            Some(session) => session.map(|()| Admin),
            None => Err(ApiError::AdminUnauthorized),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::InvalidField {
            field: e.field,
            reason: e.reason,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { field } => ApiError::Conflict { field },
            StoreError::ReadOnly => ApiError::ReadOnlyStore,
            StoreError::Unavailable(msg) => {
                tracing::error!(error = %msg, "app store unavailable");
                ApiError::StoreUnavailable
            }
        }
    }
}

impl From<RecordError> for ApiError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::NotFound(id) => ApiError::AppNotFound(id),
            RecordError::Field(f) => f.into(),
            RecordError::Store(s) => s.into(),
        }
    }
}

/// Reloads the live apps after a write (here and, through the bus, everywhere).
async fn written(shared: &Shared, app: AppConfig) -> Result<AppConfig, ApiError> {
    shared.reload_apps().await?;
    Ok(app)
}

pub(super) async fn list(_: Admin, State(shared): State<Shared>) -> Result<Json<Value>, ApiError> {
    let apps = Records(shared.store.as_ref()).list().await?;
    Ok(Json(
        json!({"apps": apps.iter().map(edit::redacted).collect::<Vec<_>>()}),
    ))
}

pub(super) async fn create(
    _: Admin,
    State(shared): State<Shared>,
    Json(body): Json<Value>,
) -> Result<(StatusCode, Json<AppConfig>), ApiError> {
    let app = written(&shared, Records(shared.store.as_ref()).create(body).await?).await?;
    tracing::info!(app = %app.id, "app created");
    Ok((StatusCode::CREATED, Json(app)))
}

pub(super) async fn show(
    _: Admin,
    State(shared): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(edit::redacted(
        &Records(shared.store.as_ref()).get(&id).await?,
    )))
}

pub(super) async fn update(
    _: Admin,
    State(shared): State<Shared>,
    Path(id): Path<String>,
    Json(patch): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let app = written(
        &shared,
        Records(shared.store.as_ref()).update(&id, patch).await?,
    )
    .await?;
    Ok(Json(edit::redacted(&app)))
}

pub(super) async fn disable(
    _: Admin,
    State(shared): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    switch(&shared, &id, false).await
}

pub(super) async fn enable(
    _: Admin,
    State(shared): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    switch(&shared, &id, true).await
}

async fn switch(shared: &Shared, id: &str, enabled: bool) -> Result<Json<Value>, ApiError> {
    let records = Records(shared.store.as_ref());
    let app = written(shared, records.set_enabled(id, enabled).await?).await?;
    Ok(Json(edit::redacted(&app)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Rotate {
    grace_secs: Option<u64>,
}

pub(super) async fn rotate_secret(
    _: Admin,
    State(shared): State<Shared>,
    Path(id): Path<String>,
    body: Option<Json<Rotate>>,
) -> Result<Json<Value>, ApiError> {
    let grace = body
        .and_then(|b| b.0.grace_secs)
        .unwrap_or(edit::DEFAULT_ROTATION_GRACE_SECS);
    let records = Records(shared.store.as_ref());
    let app = written(
        &shared,
        records
            .rotate_secret(&id, grace, crate::clock::unix_now())
            .await?,
    )
    .await?;
    tracing::info!(app = %app.id, grace, "app secret rotated");
    Ok(Json(
        json!({"id": app.id, "secret": app.secret, "previous_secret_expires_at": app.previous_secret_expires_at}),
    ))
}

pub(super) async fn delete(
    _: Admin,
    State(shared): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Records(shared.store.as_ref()).delete(&id).await?;
    shared.reload_apps().await?;
    tracing::info!(app = %id, "app deleted");
    Ok(Json(json!({})))
}
