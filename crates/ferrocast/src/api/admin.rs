//! The admin API: apps as data, under `/admin/apps`, authenticated by the admin token
//! (`Authorization: Bearer …`, compared in constant time) and absent unless a token is set.
//! Writes go to the app store, then the live set is reloaded here and on every other node.
//! Secrets are shown only when created or rotated, never when listing.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::apps::StoreError;
use crate::config::AppConfig;
use crate::state::Shared;

/// How long the previous secret stays valid after a rotation, unless the request says.
const DEFAULT_ROTATION_GRACE_SECS: u64 = 3600;

/// Proof that the request carries the admin token.
pub(super) struct Admin;

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
        if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            Ok(Admin)
        } else {
            Err(ApiError::AdminUnauthorized)
        }
    }
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict { field } => ApiError::Conflict { field },
        StoreError::ReadOnly => ApiError::ReadOnlyStore,
        StoreError::Unavailable(msg) => {
            tracing::error!(error = %msg, "app store unavailable");
            ApiError::StoreUnavailable
        }
    }
}

/// An app as the admin API shows it: every setting, secrets hidden.
fn redacted(app: &AppConfig) -> Value {
    let mut v = serde_json::to_value(app).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("secret".into(), json!("(hidden)"));
        if app.previous_secret.is_some() {
            o.insert("previous_secret".into(), json!("(hidden)"));
        }
    }
    v
}

/// Applies `patch` (a JSON object) over `base` and validates the result, naming the field at fault.
fn merge(base: &AppConfig, patch: Value) -> Result<AppConfig, ApiError> {
    let Value::Object(patch) = patch else {
        return Err(ApiError::InvalidField {
            field: "(body)".into(),
            reason: "must be a JSON object".into(),
        });
    };
    let mut merged: Map<String, Value> = match serde_json::to_value(base) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    merged.extend(patch);
    let config: AppConfig =
        serde_path_to_error::deserialize(Value::Object(merged)).map_err(|e| {
            let field = e.path().to_string();
            let reason = e.into_inner().to_string();
            // serde names an unknown field only in its message.
            let field = if field == "." {
                reason.split('`').nth(1).unwrap_or("(body)").to_owned()
            } else {
                field
            };
            ApiError::InvalidField { field, reason }
        })?;
    config
        .validate()
        .map_err(|(field, reason)| ApiError::InvalidField {
            field: field.into(),
            reason: reason.into(),
        })?;
    Ok(config)
}

async fn save_and_reload(shared: &Shared, app: &AppConfig) -> Result<(), ApiError> {
    shared.store.put(app).await.map_err(store_error)?;
    shared.reload_apps().await.map_err(store_error)
}

async fn load(shared: &Shared, id: &str) -> Result<AppConfig, ApiError> {
    shared
        .store
        .get(id)
        .await
        .map_err(store_error)?
        .ok_or(ApiError::AppNotFound(id.to_owned()))
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

pub(super) async fn list(_: Admin, State(shared): State<Shared>) -> Result<Json<Value>, ApiError> {
    let mut apps = shared.store.list().await.map_err(store_error)?;
    apps.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(
        json!({"apps": apps.iter().map(redacted).collect::<Vec<_>>()}),
    ))
}

pub(super) async fn create(
    _: Admin,
    State(shared): State<Shared>,
    Json(body): Json<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let generated = AppConfig {
        id: rand::random_range(100_000..1_000_000_000u64).to_string(),
        key: random_hex(10),
        secret: random_hex(16),
        ..AppConfig::default()
    };
    let app = merge(&generated, body)?;
    if shared
        .store
        .get(&app.id)
        .await
        .map_err(store_error)?
        .is_some()
    {
        return Err(ApiError::Conflict { field: "id" });
    }
    save_and_reload(&shared, &app).await?;
    tracing::info!(app = %app.id, "app created");
    Ok((
        StatusCode::CREATED,
        Json(serde_json::to_value(&app).unwrap_or_default()),
    ))
}

pub(super) async fn show(
    _: Admin,
    State(shared): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(redacted(&load(&shared, &id).await?)))
}

pub(super) async fn update(
    _: Admin,
    State(shared): State<Shared>,
    Path(id): Path<String>,
    Json(patch): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let current = load(&shared, &id).await?;
    let app = merge(&current, patch)?;
    if app.id != id {
        return Err(ApiError::InvalidField {
            field: "id".into(),
            reason: "cannot be changed".into(),
        });
    }
    save_and_reload(&shared, &app).await?;
    Ok(Json(redacted(&app)))
}

async fn set_enabled(shared: &Shared, id: &str, enabled: bool) -> Result<Json<Value>, ApiError> {
    let app = AppConfig {
        enabled,
        ..load(shared, id).await?
    };
    save_and_reload(shared, &app).await?;
    Ok(Json(redacted(&app)))
}

pub(super) async fn disable(
    _: Admin,
    State(shared): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_enabled(&shared, &id, false).await
}

pub(super) async fn enable(
    _: Admin,
    State(shared): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_enabled(&shared, &id, true).await
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
        .unwrap_or(DEFAULT_ROTATION_GRACE_SECS);
    let current = load(&shared, &id).await?;
    let expires = crate::clock::unix_now() + grace;
    let app = AppConfig {
        secret: random_hex(16),
        previous_secret: Some(current.secret.clone()),
        previous_secret_expires_at: Some(expires),
        ..current
    };
    save_and_reload(&shared, &app).await?;
    tracing::info!(app = %app.id, grace, "app secret rotated");
    Ok(Json(
        json!({"id": app.id, "secret": app.secret, "previous_secret_expires_at": expires}),
    ))
}

pub(super) async fn delete(
    _: Admin,
    State(shared): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !shared.store.delete(&id).await.map_err(store_error)? {
        return Err(ApiError::AppNotFound(id));
    }
    shared.reload_apps().await.map_err(store_error)?;
    tracing::info!(app = %id, "app deleted");
    Ok(Json(json!({})))
}
