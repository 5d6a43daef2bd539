//! The `FERROCAST_*` environment variables: one table, applied over the file's settings.

use super::{Config, ConfigError};

pub const HOST: &str = "FERROCAST_HOST";
pub const PORT: &str = "FERROCAST_PORT";
pub const METRICS_PORT: &str = "FERROCAST_METRICS_PORT";
pub const DATA_DIR: &str = "FERROCAST_DATA_DIR";
pub const APP_ID: &str = "FERROCAST_APP_ID";
pub const APP_KEY: &str = "FERROCAST_APP_KEY";
pub const APP_SECRET: &str = "FERROCAST_APP_SECRET";
pub const LOG: &str = "FERROCAST_LOG";
pub const LOG_FORMAT: &str = "FERROCAST_LOG_FORMAT";
pub const ADAPTER: &str = "FERROCAST_ADAPTER";
pub const REDIS_URL: &str = "FERROCAST_REDIS_URL";
pub const REDIS_TLS_CA_FILE: &str = "FERROCAST_REDIS_TLS_CA_FILE";
pub const REDIS_SENTINELS: &str = "FERROCAST_REDIS_SENTINELS";
pub const REDIS_SENTINEL_MASTER: &str = "FERROCAST_REDIS_SENTINEL_MASTER";
pub const NATS_URL: &str = "FERROCAST_NATS_URL";
pub const PREFIX: &str = "FERROCAST_PREFIX";
pub const ADMIN_TOKEN: &str = "FERROCAST_ADMIN_TOKEN";
pub const APP_STORE: &str = "FERROCAST_APP_STORE";
pub const HISTORY_STORE: &str = "FERROCAST_HISTORY_STORE";
pub const WEBHOOKS_QUEUE: &str = "FERROCAST_WEBHOOKS_QUEUE";

/// Every variable this module reads, for the docs check.
pub const ALL: [&str; 20] = [
    HISTORY_STORE,
    WEBHOOKS_QUEUE,
    ADMIN_TOKEN,
    APP_STORE,
    HOST,
    PORT,
    METRICS_PORT,
    DATA_DIR,
    APP_ID,
    APP_KEY,
    APP_SECRET,
    LOG,
    LOG_FORMAT,
    ADAPTER,
    REDIS_URL,
    REDIS_TLS_CA_FILE,
    REDIS_SENTINELS,
    REDIS_SENTINEL_MASTER,
    NATS_URL,
    PREFIX,
];

/// Applies the variables of `env` that this table knows; others are ignored.
/// `FERROCAST_APP_*` override the first app (the default app when no file lists apps).
pub(super) fn apply(
    cfg: &mut Config,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (name, value) in env {
        let bad = |e: String| ConfigError::Env {
            name: name.clone(),
            reason: e,
        };
        match name.as_str() {
            HOST => cfg.host = value,
            PORT => cfg.port = value.parse().map_err(|e| bad(format!("{e}")))?,
            METRICS_PORT => cfg.metrics_port = value.parse().map_err(|e| bad(format!("{e}")))?,
            DATA_DIR => cfg.data_dir = value.into(),
            LOG => cfg.log = value,
            LOG_FORMAT => {
                cfg.log_format = match value.as_str() {
                    "text" => super::LogFormat::Text,
                    "json" => super::LogFormat::Json,
                    other => return Err(bad(format!("expected text or json, got {other:?}"))),
                }
            }
            ADAPTER => {
                cfg.cluster.adapter = match value.as_str() {
                    "local" => super::AdapterKind::Local,
                    "redis" => super::AdapterKind::Redis,
                    "nats" => super::AdapterKind::Nats,
                    other => {
                        return Err(bad(format!("expected local, redis or nats, got {other:?}")))
                    }
                }
            }
            REDIS_URL => cfg.cluster.redis_url = value,
            REDIS_TLS_CA_FILE => {
                cfg.cluster.redis_tls_ca_file =
                    Some(value.into()).filter(|p: &std::path::PathBuf| !p.as_os_str().is_empty())
            }
            REDIS_SENTINELS => {
                cfg.cluster.redis_sentinels = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
            REDIS_SENTINEL_MASTER => cfg.cluster.redis_sentinel_master = value,
            NATS_URL => cfg.cluster.nats_url = value,
            PREFIX => cfg.cluster.prefix = value,
            ADMIN_TOKEN => cfg.admin_token = Some(value).filter(|t| !t.is_empty()),
            APP_STORE => cfg.app_store = value,
            HISTORY_STORE => {
                cfg.history.store = match value.as_str() {
                    "sqlite" => super::HistoryStoreKind::Sqlite,
                    "redis" => super::HistoryStoreKind::Redis,
                    "memory" => super::HistoryStoreKind::Memory,
                    other => {
                        return Err(bad(format!(
                            "expected sqlite, redis or memory, got {other:?}"
                        )))
                    }
                }
            }
            WEBHOOKS_QUEUE => {
                cfg.webhooks.queue = match value.as_str() {
                    "auto" => super::WebhookQueueKind::Auto,
                    "sqlite" => super::WebhookQueueKind::Sqlite,
                    "redis" => super::WebhookQueueKind::Redis,
                    other => {
                        return Err(bad(format!(
                            "expected auto, sqlite or redis, got {other:?}"
                        )))
                    }
                }
            }
            APP_ID | APP_KEY | APP_SECRET => {
                if cfg.apps.is_empty() {
                    cfg.apps.push(Default::default());
                }
                let app = &mut cfg.apps[0];
                match name.as_str() {
                    APP_ID => app.id = value,
                    APP_KEY => app.key = value,
                    _ => app.secret = value,
                }
            }
            _ => {}
        }
    }
    Ok(())
}
