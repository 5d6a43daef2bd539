//! Scenarios (b) fan-out and (c) many channels: N subscribers spread over C public channels
//! (C = 1: one big fan-out; C = N: a channel each), events published through the signed HTTP
//! API at a fixed rate or as fast as the server keeps up. Reports deliveries/s,
//! publish-to-delivery latency, losses and gaps, and server CPU-µs per delivery.

use super::{connect_all, fill_recv, header, Common, Recv};
use crate::publish::{self, Dest, PubCfg};
use crate::stats::{self, CpuMark};
use clap::Args;
use serde_json::{json, Value};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug, Clone)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub common: Common,
    /// Subscriber connections.
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub connections: usize,
    /// Channels the subscribers are spread over (1 = fan-out; N = one channel each).
    #[arg(long, default_value_t = 1)]
    pub channels: usize,
    /// Bytes of each event's `data`.
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
    /// Publishes per second over all publishers; 0 = as fast as the server keeps up.
    #[arg(short = 'r', long, default_value_t = 0.0)]
    pub rate: f64,
    /// Seconds of publishing (at most 120).
    #[arg(short = 'd', long, default_value_t = 10.0)]
    pub duration: f64,
    /// Publisher workers, each one request in flight on its own kept-alive connection.
    #[arg(long, default_value_t = 4)]
    pub in_flight: usize,
    /// Closed loop: at most WINDOW x (subscribers per publish) deliveries outstanding; 0 = off.
    #[arg(long, default_value_t = 8)]
    pub window: u64,
    /// Seconds to wait after publishing for outstanding deliveries.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
}

impl FanoutArgs {
    pub fn budget(&self) -> Duration {
        Duration::from_secs_f64(self.common.connect_timeout + self.duration.min(120.0) + self.drain.min(60.0) + 15.0)
    }
}

pub async fn run(a: FanoutArgs) -> Result<Value, String> {
    let bad = a.connections == 0 || a.channels == 0 || a.channels > a.connections || a.in_flight == 0;
    if bad || !(a.duration > 0.0 && a.duration <= 120.0) || !(0.0..=60.0).contains(&a.drain) || a.rate < 0.0 {
        return Err("need 1 <= --channels <= -n, --in-flight >= 1, --duration in (0, 120], --drain in [0, 60]".into());
    }
    let server = a.common.server();
    let mut o = header(if a.channels == 1 { "fanout" } else { "channels" }, &a.common);
    let rss_before = server.rss_kib();
    let channels = a.channels;
    let name = move |c: usize| format!("fan-{c}");
    let conn = connect_all(&a.common, a.connections, |i| name(i % channels), |_| None).await?;
    let params = json!({
        "connections": a.connections, "channels": a.channels, "payload": a.payload, "rate": a.rate,
        "duration": a.duration, "in_flight": a.in_flight, "window": a.window,
    });
    o.extend(params.as_object().cloned().unwrap_or_default());
    conn.fill(&mut o);
    let mut subs = vec![0u64; channels];
    for (i, _) in &conn.clients {
        subs[i % channels] += 1;
    }
    let dests: Vec<Dest> = subs
        .iter()
        .enumerate()
        .filter(|(_, &s)| s > 0)
        .map(|(c, &s)| Dest { channel: name(c), subscribers: s })
        .collect();
    if dests.is_empty() {
        return Err(format!("no subscriber connected: {:?}", conn.errors));
    }
    let recv = Arc::new(Recv::default());
    let tasks: Vec<_> = conn.clients.into_iter().map(|(_, c)| tokio::spawn(recv.clone().run(c))).collect();
    let rss_connected = server.rss_kib();
    let cfg = PubCfg {
        target: a.common.target()?,
        payload: a.payload,
        rate: a.rate,
        workers: a.in_flight,
        duration: Duration::from_secs_f64(a.duration),
        window: if a.rate > 0.0 { 0 } else { a.window },
    };
    let mark = CpuMark::now(server);
    let rep = publish::run(cfg, dests, recv.clone()).await;
    publish::drain(&rep, &recv, Duration::from_secs_f64(a.drain)).await;
    let (server_cpu, own_cpu) = mark.since(server);
    let rss_end = server.rss_kib();
    recv.stopping.store(true, Relaxed);

    let delivered = recv.delivered.load(Relaxed);
    let expected = rep.expected.load(Relaxed);
    let last = recv.last_delivery_us.load(Relaxed);
    let window_s = (last.saturating_sub(rep.started_us.load(Relaxed)) as f64 / 1e6).max(rep.elapsed_s());
    rep.fill(&mut o, a.rate);
    o.insert("expected_deliveries".into(), json!(expected));
    o.insert("deliveries".into(), json!(delivered));
    o.insert("lost".into(), json!(expected.saturating_sub(delivered)));
    o.insert("delivery_window_s".into(), json!(stats::round3(window_s)));
    o.insert("deliveries_per_s".into(), json!(stats::rate(delivered, window_s)));
    o.insert("latency_us".into(), recv.latency.json());
    o.insert("server_cpu_s".into(), json!(server_cpu));
    o.insert("bench_cpu_s".into(), json!(own_cpu));
    o.insert("server_cpu_us_per_delivery".into(), json!(stats::us_per(server_cpu, delivered)));
    o.insert("server_rss_kib_before".into(), json!(rss_before));
    o.insert("server_rss_kib_connected".into(), json!(rss_connected));
    o.insert("server_rss_kib_end".into(), json!(rss_end));
    fill_recv(&mut o, &recv);
    for t in tasks {
        t.abort();
    }
    Ok(Value::Object(o))
}
