//! Where app records are kept: the `AppStore` trait and the store that serves the apps listed in
//! the configuration. A record is an `AppConfig` (every per-app setting), keyed by id, with a
//! unique key. Stores are never on the hot path: the live set (`Apps`) is loaded from the store
//! at start and reloaded when it changes.

use std::future::Future;
use std::pin::Pin;

use std::sync::Arc;

use super::sql::{sqlite_in, SqlStore};
use crate::config::{AppConfig, Config};

/// A store operation's future.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another app already has this id or key.
    #[error("an app with this {field} already exists")]
    Conflict { field: &'static str },
    /// The store cannot be written (e.g. apps from the configuration file).
    #[error("this app store is read-only")]
    ReadOnly,
    /// The database failed; the message is for logs, never for API clients.
    #[error("app store unavailable: {0}")]
    Unavailable(String),
}

/// Persistent app records. Contract: `list` is a consistent snapshot; `put` inserts or replaces
/// the record with that id and fails with `Conflict { field: "key" }` when another app has the
/// key; `delete` returns whether a record was removed. Implementations must be safe to share
/// between nodes of a cluster (every node reloads from the same store).
pub trait AppStore: Send + Sync + 'static {
    /// A name for logs and `/usage` (`config`, `sqlite`, `postgres`, `mysql`).
    fn name(&self) -> &'static str;
    fn list(&self) -> StoreFuture<'_, Vec<AppConfig>>;
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<AppConfig>>;
    fn put<'a>(&'a self, app: &'a AppConfig) -> StoreFuture<'a, ()>;
    fn delete<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool>;
}

/// The apps of the configuration file (and `FERROCAST_APP_*`), read-only.
#[derive(Debug)]
pub struct ConfigStore {
    apps: Vec<AppConfig>,
}

impl ConfigStore {
    pub fn new(apps: Vec<AppConfig>) -> Self {
        Self { apps }
    }
}

impl AppStore for ConfigStore {
    fn name(&self) -> &'static str {
        "config"
    }

    fn list(&self) -> StoreFuture<'_, Vec<AppConfig>> {
        Box::pin(async move { Ok(self.apps.clone()) })
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<AppConfig>> {
        Box::pin(async move { Ok(self.apps.iter().find(|a| a.id == id).cloned()) })
    }

    fn put<'a>(&'a self, _app: &'a AppConfig) -> StoreFuture<'a, ()> {
        Box::pin(async { Err(StoreError::ReadOnly) })
    }

    fn delete<'a>(&'a self, _id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async { Err(StoreError::ReadOnly) })
    }
}

/// The app store the configuration names. Apps the configuration declares (in the file or
/// `FERROCAST_APP_*`) are written to a database store at start, so the configuration wins for
/// them; the built-in default app is only created in an empty store.
pub async fn open(config: &Config) -> Result<Arc<dyn AppStore>, StoreError> {
    let prefix = &config.app_store_table_prefix;
    let store: Arc<dyn AppStore> = match config.app_store.as_str() {
        "config" => return Ok(Arc::new(ConfigStore::new(config.apps.clone()))),
        "sqlite" => Arc::new(SqlStore::connect(&sqlite_in(&config.data_dir)?, prefix).await?),
        url if url.contains("://") => Arc::new(SqlStore::connect(url, prefix).await?),
        other => {
            let msg = format!("app_store {other:?}: expected config, sqlite or a database URL");
            return Err(StoreError::Unavailable(msg));
        }
    };
    let builtin_only = config.apps.iter().all(AppConfig::is_builtin_default);
    if !builtin_only || store.list().await?.is_empty() {
        for app in &config.apps {
            store.put(app).await?;
        }
    }
    Ok(store)
}
