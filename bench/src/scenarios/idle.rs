//! Scenarios (a) idle memory and (e) connect rate: open N connections, each subscribed to a
//! public channel, with bounded setup concurrency. `idle` then holds them and reads the server's
//! RSS growth per connection; `connect` reports the connect+subscribe rate, latency and the
//! server CPU each connection cost.

use super::{connect_all, fill_recv, header, Common, Recv};
use crate::stats;
use clap::Args;
use serde_json::{json, Value};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug, Clone)]
pub struct IdleArgs {
    #[command(flatten)]
    pub common: Common,
    /// Connections to open.
    #[arg(short = 'n', long, default_value_t = 2000)]
    pub connections: usize,
    /// Public channels the connections are spread over (round-robin).
    #[arg(long, default_value_t = 1)]
    pub channels: usize,
    /// Seconds to hold the connections before reading the server's memory (idle only).
    #[arg(long, default_value_t = 5.0)]
    pub hold: f64,
}

impl IdleArgs {
    pub fn budget(&self) -> Duration {
        Duration::from_secs_f64(self.common.connect_timeout + self.hold.min(120.0) + 10.0)
    }
}

/// `idle` (hold and measure memory) or `connect` (rate only) when `measure_memory` is false.
pub async fn run(a: IdleArgs, measure_memory: bool) -> Result<Value, String> {
    if a.connections == 0 || a.channels == 0 || !(0.0..=120.0).contains(&a.hold) {
        return Err("-n and --channels must be at least 1 and --hold in [0, 120]".into());
    }
    let server = a.common.server();
    let mut o = header(if measure_memory { "idle" } else { "connect" }, &a.common);
    let rss_before = server.rss_kib();
    let channels = a.channels;
    let conn = connect_all(&a.common, a.connections, |i| format!("idle-{}", i % channels), |_| None).await?;
    o.insert("connections".into(), json!(a.connections));
    o.insert("channels".into(), json!(channels));
    conn.fill(&mut o);
    let recv = Arc::new(Recv::default());
    let ok = conn.ok();
    let tasks: Vec<_> = conn.clients.into_iter().map(|(_, c)| tokio::spawn(recv.clone().run(c))).collect();
    if measure_memory {
        tokio::time::sleep(Duration::from_secs_f64(a.hold)).await;
        let rss_after = server.rss_kib();
        o.insert("hold_s".into(), json!(a.hold));
        o.insert("server_rss_kib_before".into(), json!(rss_before));
        o.insert("server_rss_kib_connected".into(), json!(rss_after));
        if let (Some(b), Some(c)) = (rss_before, rss_after) {
            if ok > 0 {
                let per = (c as f64 - b as f64) * 1024.0 / ok as f64;
                o.insert("server_rss_bytes_per_conn".into(), json!(per.round()));
            }
        }
        o.insert("bench_rss_kib".into(), json!(stats::rss_kib(std::process::id())));
    }
    recv.stopping.store(true, Relaxed);
    fill_recv(&mut o, &recv);
    for t in tasks {
        t.abort();
    }
    Ok(Value::Object(o))
}
