//! `ferrocast publish`: signs and sends one event to a running server, with the credentials of an
//! app from the same configuration the server reads.

use clap::Args;
use ferrocast_protocol::signature;
use std::time::{SystemTime, UNIX_EPOCH};

use super::ConfigArgs;
use crate::config::{Config, Overrides};

#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Base URL of the server's HTTP API.
    #[arg(long, default_value = "http://127.0.0.1:6001")]
    pub url: String,
    /// App id (default: the first app of the configuration).
    #[arg(long)]
    pub app_id: Option<String>,
    /// Channel to publish to; repeat for several.
    #[arg(long = "channel", required = true)]
    pub channels: Vec<String>,
    /// Event name.
    #[arg(long)]
    pub event: String,
    /// Event data, sent as the string given (usually JSON).
    #[arg(long)]
    pub data: String,
    /// Socket id to leave out of the delivery.
    #[arg(long)]
    pub socket_id: Option<String>,
}

pub async fn run(args: PublishArgs) -> anyhow::Result<()> {
    let cfg = Config::from_sources(args.config.config.as_deref(), &Overrides::default())?;
    let app = match &args.app_id {
        Some(id) => cfg.apps.iter().find(|a| &a.id == id),
        None => cfg.apps.first(),
    }
    .ok_or_else(|| {
        anyhow::anyhow!(
            "no app {:?} in the configuration",
            args.app_id.as_deref().unwrap_or("")
        )
    })?;
    let mut body =
        serde_json::json!({"name": args.event, "data": args.data, "channels": args.channels});
    if let Some(sid) = &args.socket_id {
        body["socket_id"] = sid.clone().into();
    }
    let body = serde_json::to_vec(&body)?;
    let path = format!("/apps/{}/events", app.id);
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let query = signature::signed_query(&app.key, &app.secret, "POST", &path, &body, now, &[]);
    let url = format!("{}{path}?{query}", args.url.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await?;
    println!("{text}");
    anyhow::ensure!(status.is_success(), "server answered {status}");
    Ok(())
}
