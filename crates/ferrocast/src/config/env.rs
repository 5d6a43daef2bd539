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

/// Every variable this module reads, for the docs check.
pub const ALL: [&str; 9] = [
    HOST,
    PORT,
    METRICS_PORT,
    DATA_DIR,
    APP_ID,
    APP_KEY,
    APP_SECRET,
    LOG,
    LOG_FORMAT,
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
