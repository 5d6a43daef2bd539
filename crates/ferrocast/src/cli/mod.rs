//! The command line: `ferrocast serve`, `ferrocast publish`, `ferrocast apps` and
//! `ferrocast config print`.

pub mod apps;
pub mod config_print;
pub mod publish;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

use crate::config::{Config, ConfigError, Overrides};

#[derive(Debug, Parser)]
#[command(
    name = "ferrocast",
    version,
    about = "A real-time messaging server speaking the Pusher Channels protocol"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (WebSocket, HTTP API and probes).
    Serve(ServeArgs),
    /// Publish an event through a running server's HTTP API, signed with the app's secret.
    Publish(publish::PublishArgs),
    /// Manage apps: in the configured app store, or through a server's admin API (--url).
    Apps(apps::AppsArgs),
    /// Show the configuration: `ferrocast config print`.
    Config(config_print::ConfigArgs),
}

/// Where the configuration comes from; shared by every command that needs it.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Address to listen on (default 0.0.0.0).
    #[arg(long)]
    pub host: Option<String>,
    /// Port of the WebSocket and HTTP API (default 6001; 0 picks a free port).
    #[arg(long)]
    pub port: Option<u16>,
    /// Port of the operations listener (default 9601; 0 picks a free port).
    #[arg(long)]
    pub metrics_port: Option<u16>,
    /// Directory for durable state.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl ServeArgs {
    pub fn load(&self) -> Result<Config, ConfigError> {
        let flags = Overrides {
            host: self.host.clone(),
            port: self.port,
            metrics_port: self.metrics_port,
            data_dir: self.data_dir.clone(),
        };
        Config::from_sources(self.config.config.as_deref(), &flags)
    }
}
