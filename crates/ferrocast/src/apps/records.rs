//! The operations on app records, written once for the admin API and `ferrocast apps` (local
//! mode): list, show, create, update, enable/disable, rotate the secret, delete. They change the
//! store only; whoever calls them reloads the live apps.

use serde_json::Value;

use super::edit::{self, FieldError};
use super::{AppStore, StoreError};
use crate::config::AppConfig;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("no app with id {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Record operations over a store.
pub struct Records<'a>(pub &'a dyn AppStore);

impl Records<'_> {
    pub async fn list(&self) -> Result<Vec<AppConfig>, RecordError> {
        let mut apps = self.0.list().await?;
        apps.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(apps)
    }

    pub async fn get(&self, id: &str) -> Result<AppConfig, RecordError> {
        self.0
            .get(id)
            .await?
            .ok_or_else(|| RecordError::NotFound(id.to_owned()))
    }

    /// A new app from `patch`; unset credentials are generated.
    pub async fn create(&self, patch: Value) -> Result<AppConfig, RecordError> {
        let app = edit::new_app(patch)?;
        if self.0.get(&app.id).await?.is_some() {
            return Err(StoreError::Conflict { field: "id" }.into());
        }
        self.0.put(&app).await?;
        Ok(app)
    }

    pub async fn update(&self, id: &str, patch: Value) -> Result<AppConfig, RecordError> {
        let app = edit::merge(&self.get(id).await?, patch)?;
        if app.id != id {
            return Err(FieldError {
                field: "id".into(),
                reason: "cannot be changed".into(),
            }
            .into());
        }
        self.0.put(&app).await?;
        Ok(app)
    }

    pub async fn set_enabled(&self, id: &str, enabled: bool) -> Result<AppConfig, RecordError> {
        let app = AppConfig {
            enabled,
            ..self.get(id).await?
        };
        self.0.put(&app).await?;
        Ok(app)
    }

    /// A new secret; the old one is accepted for `grace_secs` more.
    pub async fn rotate_secret(
        &self,
        id: &str,
        grace_secs: u64,
        now: u64,
    ) -> Result<AppConfig, RecordError> {
        let app = edit::rotate(&self.get(id).await?, grace_secs, now);
        self.0.put(&app).await?;
        Ok(app)
    }

    pub async fn delete(&self, id: &str) -> Result<(), RecordError> {
        if self.0.delete(id).await? {
            Ok(())
        } else {
            Err(RecordError::NotFound(id.to_owned()))
        }
    }
}
