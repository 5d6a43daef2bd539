//! Editing app records, shared by the admin API and `ferrocast apps`: applying a JSON patch with
//! validation that names the field, creating an app with generated credentials, rotating a
//! secret, and the view that hides secrets.

use serde_json::{json, Map, Value};

use crate::config::AppConfig;

/// How long the previous secret stays valid after a rotation, unless the caller says.
pub const DEFAULT_ROTATION_GRACE_SECS: u64 = 3600;

/// A setting that is unknown, of the wrong type or out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

fn field_error(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Applies `patch` (a JSON object of settings) over `base` and validates the result.
pub fn merge(base: &AppConfig, patch: Value) -> Result<AppConfig, FieldError> {
    let Value::Object(patch) = patch else {
        return Err(field_error("(body)", "must be a JSON object"));
    };
    let mut merged: Map<String, Value> = match serde_json::to_value(base) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    merged.extend(patch);
    let config: AppConfig =
        serde_path_to_error::deserialize(Value::Object(merged)).map_err(|e| {
            let path = e.path().to_string();
            let reason = e.into_inner().to_string();
            // serde names an unknown field only in its message: "unknown field `x`, expected …".
            let field = if path == "." {
                reason.split('`').nth(1).unwrap_or("(body)").to_owned()
            } else {
                path
            };
            field_error(field, reason)
        })?;
    config
        .validate()
        .map_err(|(field, reason)| field_error(field, reason))?;
    Ok(config)
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// A new app from `patch`, with a numeric id (the Python SDK wants digits), a key and a secret
/// generated for whatever the patch leaves out.
pub fn new_app(patch: Value) -> Result<AppConfig, FieldError> {
    let generated = AppConfig {
        id: rand::random_range(100_000..1_000_000_000u64).to_string(),
        key: random_hex(10),
        secret: random_hex(16),
        ..AppConfig::default()
    };
    merge(&generated, patch)
}

/// A new secret; the old one stays valid for `grace_secs` from `now` (unix seconds).
pub fn rotate(app: &AppConfig, grace_secs: u64, now: u64) -> AppConfig {
    AppConfig {
        secret: random_hex(16),
        previous_secret: Some(app.secret.clone()),
        previous_secret_expires_at: Some(now + grace_secs),
        ..app.clone()
    }
}

/// Every setting, with the secrets hidden.
pub fn redacted(app: &AppConfig) -> Value {
    let mut v = serde_json::to_value(app).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("secret".into(), json!("(hidden)"));
        if app.previous_secret.is_some() {
            o.insert("previous_secret".into(), json!("(hidden)"));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        let base = AppConfig::default();
        let e = merge(&base, json!({"max_connections": "lots"})).expect_err("wrong type");
        assert_eq!(e.field, "max_connections");
        let e = merge(&base, json!({"max_conections": 5})).expect_err("unknown");
        assert_eq!(e.field, "max_conections");
        let e = merge(&base, json!({"key": ""})).expect_err("empty");
        assert_eq!(e.field, "key");
        let e = merge(&base, json!({"allowed_origins": [1]})).expect_err("element type");
        assert!(e.field.starts_with("allowed_origins"), "{}", e.field);
        assert_eq!(
            merge(&base, json!([])).expect_err("not an object").field,
            "(body)"
        );
        let ok = merge(&base, json!({"max_connections": 5})).expect("valid");
        assert_eq!((ok.max_connections, ok.id.as_str()), (5, "app-id"));
    }

    #[test]
    fn new_apps_get_credentials_and_rotation_keeps_the_old_secret() {
        let a = new_app(json!({"client_events": false})).expect("new");
        assert!(a.id.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(
            (a.key.len(), a.secret.len(), a.client_events),
            (20, 32, false)
        );
        let r = rotate(&a, 60, 1000);
        assert_ne!(r.secret, a.secret);
        assert_eq!(r.previous_secret.as_deref(), Some(a.secret.as_str()));
        assert_eq!(r.previous_secret_expires_at, Some(1060));
        assert!(!redacted(&r).to_string().contains(&a.secret));
    }
}
