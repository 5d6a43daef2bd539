//! Scenario (d) client events: N members on one presence channel; S of them send
//! `client-bench` events at a fixed rate each, which the server relays to every other member.
//! Reports the client-to-server-to-client latency (sender's send to receiver's parse, one
//! clock), deliveries/s, losses, and server CPU-µs per delivery.

use super::{connect_all, fill_recv, header, Common, Recv};
use crate::proto;
use crate::stats::{self, CpuMark};
use clap::Args;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const CHANNEL: &str = "presence-events";

#[derive(Args, Debug, Clone)]
pub struct EventsArgs {
    #[command(flatten)]
    pub common: Common,
    /// Members of the presence channel.
    #[arg(short = 'n', long, default_value_t = 100)]
    pub connections: usize,
    /// How many of the members send client events.
    #[arg(long, default_value_t = 10)]
    pub senders: usize,
    /// Client events per second sent by each sender.
    #[arg(short = 'r', long, default_value_t = 10.0)]
    pub rate: f64,
    /// Bytes of each event's data.
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
    /// Seconds of sending (at most 120).
    #[arg(short = 'd', long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds to wait after sending for outstanding deliveries.
    #[arg(long, default_value_t = 3.0)]
    pub drain: f64,
}

impl EventsArgs {
    pub fn budget(&self) -> Duration {
        Duration::from_secs_f64(self.common.connect_timeout + self.duration.min(120.0) + self.drain.min(60.0) + 15.0)
    }
}

pub async fn run(a: EventsArgs) -> Result<Value, String> {
    let ok_args = a.connections >= 2 && a.senders >= 1 && a.senders <= a.connections && a.rate > 0.0;
    if !(ok_args && a.duration > 0.0 && a.duration <= 120.0 && (0.0..=60.0).contains(&a.drain)) {
        return Err("need -n >= 2, 1 <= --senders <= -n, --rate > 0, --duration in (0, 120]".into());
    }
    let server = a.common.server();
    let mut o = header("client-events", &a.common);
    let conn = connect_all(&a.common, a.connections, |_| CHANNEL.into(), |i| Some(format!("m{i}"))).await?;
    let params = json!({ "connections": a.connections, "senders": a.senders, "rate_per_sender": a.rate,
        "payload": a.payload, "duration": a.duration });
    o.extend(params.as_object().cloned().unwrap_or_default());
    conn.fill(&mut o);
    let members = conn.ok();
    let recv = Arc::new(Recv::default());
    let mut writers = Vec::new();
    let mut tasks = Vec::new();
    for (_, c) in conn.clients {
        if writers.len() < a.senders {
            writers.push(c.writer.clone());
        }
        tasks.push(tokio::spawn(recv.clone().run(c)));
    }
    if members < 2 || writers.is_empty() {
        return Err(format!("too few members connected: {members}; {:?}", conn.errors));
    }
    // Let the member_added storm of the setup settle before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = Arc::new(AtomicU64::new(0));
    let send_errors = Arc::new(AtomicU64::new(0));
    let mark = CpuMark::now(server);
    let started_us = stats::now_us();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(a.duration);
    let senders: Vec<_> = writers
        .into_iter()
        .enumerate()
        .map(|(w, writer)| {
            let (sent, errs, rate, payload) = (sent.clone(), send_errors.clone(), a.rate, a.payload);
            tokio::spawn(async move {
                // Stagger the senders over one period so their events do not all coincide.
                let offset = Duration::from_secs_f64(w as f64 / (rate * 64.0));
                for seq in 1u64.. {
                    let due = start + offset + Duration::from_secs_f64((seq - 1) as f64 / rate);
                    if due >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(due.into()).await;
                    let data = proto::bench_data(w as u32, seq, stats::now_us(), payload);
                    match writer.text(&proto::client_event(CHANNEL, &data)).await {
                        Ok(()) => sent.fetch_add(1, Relaxed),
                        Err(_) => errs.fetch_add(1, Relaxed),
                    };
                }
            })
        })
        .collect();
    for s in senders {
        let _ = s.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let expected = sent.load(Relaxed) * (members - 1);
    let until = Instant::now() + Duration::from_secs_f64(a.drain);
    while recv.delivered.load(Relaxed) < expected && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (server_cpu, own_cpu) = mark.since(server);
    recv.stopping.store(true, Relaxed);
    let delivered = recv.delivered.load(Relaxed);
    let last = recv.last_delivery_us.load(Relaxed);
    let window_s = (last.saturating_sub(started_us) as f64 / 1e6).max(elapsed);
    o.insert("events_sent".into(), json!(sent.load(Relaxed)));
    o.insert("send_errors".into(), json!(send_errors.load(Relaxed)));
    o.insert("events_per_s".into(), json!(stats::rate(sent.load(Relaxed), elapsed)));
    o.insert("expected_deliveries".into(), json!(expected));
    o.insert("deliveries".into(), json!(delivered));
    o.insert("lost".into(), json!(expected.saturating_sub(delivered)));
    o.insert("deliveries_per_s".into(), json!(stats::rate(delivered, window_s)));
    o.insert("latency_us".into(), recv.latency.json());
    o.insert("server_cpu_s".into(), json!(server_cpu));
    o.insert("bench_cpu_s".into(), json!(own_cpu));
    o.insert("server_cpu_us_per_delivery".into(), json!(stats::us_per(server_cpu, delivered)));
    o.insert("server_rss_kib_end".into(), json!(server.rss_kib()));
    fill_recv(&mut o, &recv);
    for t in tasks {
        t.abort();
    }
    Ok(Value::Object(o))
}
