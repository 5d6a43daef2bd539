//! `ferrocast config print`: the configuration `serve` would run with — defaults, the TOML
//! file, `FERROCAST_*` variables and flags merged and validated — as TOML, secrets redacted.

use clap::{Args, Subcommand};

use super::ServeArgs;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration as TOML, with app secrets, the admin token and
    /// passwords in URLs replaced by "<redacted>". Takes the same options as `serve`.
    Print(ServeArgs),
}

pub fn run(args: ConfigArgs) -> anyhow::Result<()> {
    match args.command {
        ConfigCommand::Print(serve) => {
            let config = serve.load()?;
            print!("{}", config.redacted_toml()?);
            Ok(())
        }
    }
}
