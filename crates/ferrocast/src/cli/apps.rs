//! `ferrocast apps …`: manage apps either through a running server's admin API (`--url`, with
//! the admin token) or directly in the app store the configuration names (local mode; running
//! servers pick the change up within `apps_reload_ms`). Output is a table, or JSON with `--json`.

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use super::ConfigArgs;
use crate::apps::edit::{self, DEFAULT_ROTATION_GRACE_SECS};
use crate::apps::records::Records;
use crate::config::{env, AppConfig, Config, Overrides};

#[derive(Debug, Clone, Args)]
pub struct AppsArgs {
    #[command(subcommand)]
    pub command: AppsCommand,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// A running server's base URL: work through its admin API instead of the local store.
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// Admin token for `--url` (default: FERROCAST_ADMIN_TOKEN).
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AppsCommand {
    /// List every app.
    List,
    /// Show one app's settings (secrets hidden).
    Show { id: String },
    /// Create an app; id, key and secret are generated unless set. Prints the secret.
    Create(Settings),
    /// Change some settings of an app.
    Update {
        id: String,
        #[command(flatten)]
        settings: Settings,
    },
    /// Give an app a new secret; the old one keeps working for `--grace-secs`. Prints the secret.
    RotateSecret {
        id: String,
        #[arg(long, default_value_t = DEFAULT_ROTATION_GRACE_SECS)]
        grace_secs: u64,
    },
    /// Disable an app: its connections are closed with 4003 and its API calls refused.
    Disable { id: String },
    /// Enable a disabled app.
    Enable { id: String },
    /// Delete an app.
    Delete { id: String },
}

/// Settings as `--set name=value` pairs (values are read as JSON when they parse, else as text).
#[derive(Debug, Clone, Args)]
pub struct Settings {
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
}

impl Settings {
    fn patch(&self) -> anyhow::Result<Value> {
        let mut map = Map::new();
        for pair in &self.set {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--set {pair:?}: expected NAME=VALUE"))?;
            let value =
                serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
            map.insert(name.to_owned(), value);
        }
        Ok(Value::Object(map))
    }
}

pub async fn run(args: AppsArgs) -> anyhow::Result<()> {
    let result = match &args.url {
        Some(url) => remote(&args, url).await?,
        None => local(&args).await?,
    };
    print(&result, args.json);
    Ok(())
}

async fn local(args: &AppsArgs) -> anyhow::Result<Value> {
    let config = Config::from_sources(args.config.config.as_deref(), &Overrides::default())?;
    let store = crate::apps::store::open(&config).await?;
    let records = Records(store.as_ref());
    let view = |a: AppConfig| edit::redacted(&a);
    Ok(match &args.command {
        AppsCommand::List => {
            json!({"apps": records.list().await?.iter().map(edit::redacted).collect::<Vec<_>>()})
        }
        AppsCommand::Show { id } => view(records.get(id).await?),
        AppsCommand::Create(s) => serde_json::to_value(records.create(s.patch()?).await?)?,
        AppsCommand::Update { id, settings } => view(records.update(id, settings.patch()?).await?),
        AppsCommand::RotateSecret { id, grace_secs } => {
            let app = records
                .rotate_secret(id, *grace_secs, crate::clock::unix_now())
                .await?;
            json!({"id": app.id, "secret": app.secret, "previous_secret_expires_at": app.previous_secret_expires_at})
        }
        AppsCommand::Disable { id } => view(records.set_enabled(id, false).await?),
        AppsCommand::Enable { id } => view(records.set_enabled(id, true).await?),
        AppsCommand::Delete { id } => {
            records.delete(id).await?;
            json!({})
        }
    })
}

async fn remote(args: &AppsArgs, url: &str) -> anyhow::Result<Value> {
    let token = args
        .token
        .clone()
        .or_else(|| std::env::var(env::ADMIN_TOKEN).ok())
        .ok_or_else(|| anyhow::anyhow!("--url needs --token or {}", env::ADMIN_TOKEN))?;
    let base = format!("{}/admin/apps", url.trim_end_matches('/'));
    let http = reqwest::Client::new();
    let (method, path, body) = match &args.command {
        AppsCommand::List => ("GET", String::new(), None),
        AppsCommand::Show { id } => ("GET", format!("/{id}"), None),
        AppsCommand::Create(s) => ("POST", String::new(), Some(s.patch()?)),
        AppsCommand::Update { id, settings } => {
            ("PATCH", format!("/{id}"), Some(settings.patch()?))
        }
        AppsCommand::RotateSecret { id, grace_secs } => (
            "POST",
            format!("/{id}/rotate-secret"),
            Some(json!({"grace_secs": grace_secs})),
        ),
        AppsCommand::Disable { id } => ("POST", format!("/{id}/disable"), None),
        AppsCommand::Enable { id } => ("POST", format!("/{id}/enable"), None),
        AppsCommand::Delete { id } => ("DELETE", format!("/{id}"), None),
    };
    let url = format!("{base}{path}");
    let req = match method {
        "GET" => http.get(url),
        "PATCH" => http.patch(url),
        "DELETE" => http.delete(url),
        _ => http.post(url),
    };
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let resp = req.bearer_auth(token).send().await?;
    let status = resp.status();
    let value: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        anyhow::bail!("server answered {status}: {}", value);
    }
    Ok(value)
}

/// Prints `value` as JSON, or apps as a table.
fn print(value: &Value, as_json: bool) {
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
        return;
    }
    let rows: Vec<&Value> = match value.get("apps").and_then(Value::as_array) {
        Some(apps) => apps.iter().collect(),
        None if value.get("key").is_some() => vec![value],
        None => {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
            return;
        }
    };
    let cols = [
        "id",
        "key",
        "secret",
        "enabled",
        "client_events",
        "max_connections",
    ];
    let cell = |row: &Value, c: &str| match &row[c] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        v => v.to_string(),
    };
    let widths: Vec<usize> = cols
        .iter()
        .map(|c| {
            rows.iter()
                .map(|r| cell(r, c).len())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let joined = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        joined.trim_end().to_owned()
    };
    println!("{}", line(cols.iter().map(|c| c.to_uppercase()).collect()));
    for r in rows {
        println!("{}", line(cols.iter().map(|c| cell(r, c)).collect()));
    }
}
