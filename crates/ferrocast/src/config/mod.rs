//! The server's configuration: one typed struct, loaded from defaults, then a TOML file, then
//! `FERROCAST_*` variables, then command-line flags. Loading is a pure function of its inputs so
//! it is tested without touching the process environment. Every option is in
//! docs/configuration.md.

mod app;
mod clients;
mod dashboard;
pub mod env;
mod history;
mod hooks;
mod redact;
mod webhooks;

pub use app::AppConfig;
pub use clients::ClientsConfig;
pub use dashboard::DashboardConfig;
pub use history::{HistoryConfig, HistoryRule, HistoryStoreKind, MAX_HISTORY_SIZE};
pub use hooks::{FailureMode, Hook, HooksConfig};
pub use redact::{redact_url, REDACTED};
pub use webhooks::{WebhookEndpoint, WebhookQueueKind, WebhookSettings};

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Everything the server reads at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the WebSocket and HTTP API listen on.
    pub host: String,
    pub port: u16,
    /// Port of the operations listener (`/health`, `/ready`); 0 picks a free one.
    pub metrics_port: u16,
    /// Where durable state is kept (history, app store, webhook queue).
    pub data_dir: PathBuf,
    /// Seconds of client silence before the server pings; advertised in the handshake.
    pub activity_timeout: u64,
    /// Seconds to wait for a pong before closing with 4201.
    pub pong_timeout: u64,
    /// Seconds a connection may send nothing but pings/pongs before closing with 4202.
    pub idle_timeout: u64,
    /// Frames queued for one connection before it is closed as a slow consumer (4100).
    pub outbox_capacity: usize,
    /// Seconds a write to one socket may take before it is closed as a slow consumer.
    pub write_timeout: u64,
    /// Largest WebSocket message a client may send, in KiB (close 1009 above).
    pub max_message_kb: usize,
    /// Largest HTTP API request body, in KiB (413 above).
    pub max_request_kb: usize,
    /// Seconds the listeners stay open after a drain begins, answering `/ready` with 503 and
    /// new WebSockets with 4200, so load balancers notice before the port closes.
    pub drain_grace: u64,
    /// Seconds given to connections and requests to finish on shutdown.
    pub shutdown_timeout: u64,
    /// Log filter in `tracing` syntax, e.g. `info` or `ferrocast=debug`.
    pub log: String,
    pub log_format: LogFormat,
    /// Seconds a client has to send its request headers (and finish the TLS handshake).
    pub header_read_timeout: u64,
    /// Largest HTTP request head (request line and headers), in KiB.
    pub max_header_kb: usize,
    /// WebSocket upgrades handled at once; more get 503 until one finishes.
    pub max_concurrent_handshakes: usize,
    /// Origins allowed to call the HTTP API from a browser (CORS); `*` allows any.
    pub cors_allowed_origins: Vec<String>,
    /// Per-address limits and trusted proxies (`[clients]`).
    pub clients: ClientsConfig,
    /// Serve wss:// and https:// with this certificate and key.
    pub tls: Option<TlsConfig>,
    /// How nodes find each other: the adapter and its settings.
    pub cluster: ClusterConfig,
    /// Where channel history is kept (docs/history.md).
    pub history: HistoryConfig,
    /// Where app records live: `sqlite` (`<data_dir>/apps.db`, the default), `config` (the
    /// `[[apps]]` of this file, read-only), or a database URL (`sqlite://…`, `postgres://…`,
    /// `mysql://…`).
    pub app_store: String,
    /// Table-name prefix in SQL app stores, so several deployments can share a database.
    pub app_store_table_prefix: String,
    /// Milliseconds between reloads of the apps from the store (changes made through the
    /// admin API reach every node at once; this catches changes made elsewhere).
    pub apps_reload_ms: u64,
    /// Bearer token of the admin API (`/admin/apps`); the admin API is off without one.
    pub admin_token: Option<String>,
    /// The browser dashboard (`/dashboard`, on when `admin_token` is set).
    pub dashboard: DashboardConfig,
    /// Webhook batching, queue and retries (`[webhooks]`); endpoints are per app.
    pub webhooks: WebhookSettings,
    /// The apps served. Empty means the one built-in default app.
    pub apps: Vec<AppConfig>,
}

/// Which bus connects the nodes of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AdapterKind {
    /// One node, no bus.
    #[default]
    Local,
    Redis,
    Nats,
}

/// Clustering: the adapter, its connection and the liveness timings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    pub adapter: AdapterKind,
    /// `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS.
    pub redis_url: String,
    /// PEM file of the CA that signed the Redis server's certificate (for `rediss://`); unset
    /// trusts the system's roots.
    pub redis_tls_ca_file: Option<PathBuf>,
    /// Redis Sentinel addresses (`redis://host:26379`). When set, the adapter connects to the
    /// master they name `redis_sentinel_master`, with `redis_url`'s password, database and TLS.
    pub redis_sentinels: Vec<String>,
    pub redis_sentinel_master: String,
    /// `nats://[user:password@]host:port`.
    pub nats_url: String,
    /// Prefix of every bus topic, so several clusters can share a broker.
    pub prefix: String,
    /// Milliseconds between heartbeats.
    pub heartbeat_ms: u64,
    /// A node silent this long is dead: its presence members are removed.
    pub node_timeout_ms: u64,
    /// How long a cluster-wide query waits for the other nodes' answers.
    pub request_timeout_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            adapter: AdapterKind::Local,
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_tls_ca_file: None,
            redis_sentinels: Vec::new(),
            redis_sentinel_master: String::new(),
            nats_url: "nats://127.0.0.1:4222".into(),
            prefix: "ferrocast".into(),
            heartbeat_ms: 1000,
            node_timeout_ms: 5000,
            request_timeout_ms: 1000,
        }
    }
}

/// PEM files of the main listener's certificate chain and private key. Both are reloaded on
/// SIGHUP and when they change on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 6001,
            metrics_port: 9601,
            data_dir: PathBuf::from("ferrocast-data"),
            activity_timeout: 120,
            pong_timeout: 30,
            idle_timeout: 86_400,
            outbox_capacity: 1024,
            write_timeout: 10,
            max_message_kb: 64,
            max_request_kb: 1024,
            drain_grace: 2,
            shutdown_timeout: 10,
            header_read_timeout: 10,
            max_header_kb: 16,
            max_concurrent_handshakes: 1024,
            cors_allowed_origins: vec!["*".into()],
            clients: ClientsConfig::default(),
            tls: None,
            cluster: ClusterConfig::default(),
            history: HistoryConfig::default(),
            app_store: "sqlite".into(),
            app_store_table_prefix: "ferrocast_".into(),
            apps_reload_ms: 2000,
            admin_token: None,
            dashboard: DashboardConfig::default(),
            log: "info".into(),
            log_format: LogFormat::Text,
            webhooks: WebhookSettings::default(),
            apps: vec![AppConfig::default()],
        }
    }
}

/// Settings given as command-line flags; `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub metrics_port: Option<u16>,
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid environment variable {name}: {reason}")]
    Env { name: String, reason: String },
    #[error("invalid setting {field}: {reason}")]
    Invalid { field: String, reason: String },
}

impl Config {
    /// Defaults, then the TOML text (if any), then env variables, then flags; then validation.
    pub fn load(
        file: Option<(&Path, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut cfg = match file {
            Some((path, text)) => {
                toml::from_str::<Config>(text).map_err(|e| ConfigError::Parse {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?
            }
            None => Config::default(),
        };
        if cfg.apps.is_empty() {
            cfg.apps.push(AppConfig::default());
        }
        env::apply(&mut cfg, env)?;
        if let Some(h) = &flags.host {
            cfg.host = h.clone();
        }
        if let Some(p) = flags.port {
            cfg.port = p;
        }
        if let Some(p) = flags.metrics_port {
            cfg.metrics_port = p;
        }
        if let Some(d) = &flags.data_dir {
            cfg.data_dir = d.clone();
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads `path` (when given) and the process environment, then applies `flags`.
    pub fn from_sources(path: Option<&Path>, flags: &Overrides) -> Result<Self, ConfigError> {
        let text = match path {
            Some(p) => Some(
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?,
            ),
            None => None,
        };
        let file = path.zip(text.as_deref());
        Self::load(file, std::env::vars(), flags)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: String, reason: &str| ConfigError::Invalid {
            field,
            reason: reason.into(),
        };
        if self.activity_timeout == 0 {
            return Err(invalid(
                "activity_timeout".into(),
                "must be at least 1 second (pusher-js refuses 0)",
            ));
        }
        if self.pong_timeout == 0 {
            return Err(invalid("pong_timeout".into(), "must be at least 1 second"));
        }
        if self.cluster.node_timeout_ms <= self.cluster.heartbeat_ms {
            return Err(invalid(
                "cluster.node_timeout_ms".into(),
                "must be longer than cluster.heartbeat_ms",
            ));
        }
        for (field, kb) in [
            ("max_message_kb", self.max_message_kb),
            ("max_request_kb", self.max_request_kb),
            ("max_header_kb", self.max_header_kb),
        ] {
            if kb > app::MAX_KB {
                return Err(invalid(field.into(), "must be at most 1048576 (1 GiB)"));
            }
        }
        if let Err(reason) = self.clients.proxy_ranges() {
            return Err(ConfigError::Invalid {
                field: "clients.trusted_proxies".into(),
                reason,
            });
        }
        self.dashboard
            .validate()
            .map_err(|(field, reason)| invalid(field.into(), reason))?;
        self.webhooks
            .validate(self.cluster.adapter)
            .map_err(|(field, reason)| invalid(field.into(), reason))?;
        if self.outbox_capacity == 0 {
            return Err(invalid("outbox_capacity".into(), "must be at least 1"));
        }
        let (mut ids, mut keys) = (HashSet::new(), HashSet::new());
        for (i, app) in self.apps.iter().enumerate() {
            let field = |f: &str| format!("apps[{i}].{f}");
            app.validate()
                .map_err(|(f, reason)| invalid(field(f), reason))?;
            if !ids.insert(app.id.as_str()) {
                return Err(invalid(field("id"), "is used by another app"));
            }
            if !keys.insert(app.key.as_str()) {
                return Err(invalid(field("key"), "is used by another app"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
