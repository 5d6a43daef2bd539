//! Scenario (f) presence churn: N steady members on one presence channel, while C churner
//! connections join and leave it (as fresh users `c{churner}s{seq}`) at a target total rate.
//! Every join and leave is announced to every member; reports member events delivered per
//! second, join/leave-to-announcement latency, the join round trip (subscribe to
//! subscription_succeeded, which carries the whole member list) and server CPU per event.

use super::{connect_all, fill_recv, header, ChurnTimes, Common, Recv};
use crate::client::Client;
use crate::proto;
use crate::stats::{self, CpuMark, Hist};
use clap::Args;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const CHANNEL: &str = "presence-churn";

#[derive(Args, Debug, Clone)]
pub struct ChurnArgs {
    #[command(flatten)]
    pub common: Common,
    /// Steady members of the presence channel.
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub connections: usize,
    /// Connections that join and leave.
    #[arg(long, default_value_t = 50)]
    pub churners: usize,
    /// Joins per second over all churners (as many leaves follow).
    #[arg(short = 'r', long, default_value_t = 100.0)]
    pub rate: f64,
    /// Seconds of churning (at most 120).
    #[arg(short = 'd', long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds to wait afterwards for outstanding announcements.
    #[arg(long, default_value_t = 3.0)]
    pub drain: f64,
}

impl ChurnArgs {
    pub fn budget(&self) -> Duration {
        Duration::from_secs_f64(2.0 * self.common.connect_timeout + self.duration.min(120.0) + self.drain.min(60.0) + 20.0)
    }
}

struct Counts {
    joins: AtomicU64,
    leaves: AtomicU64,
    errors: AtomicU64,
    join_ack_us: Hist,
}

async fn churner(c: usize, mut client: Client, a: Arc<ChurnArgs>, times: Arc<ChurnTimes>, n: Arc<Counts>, start: Instant) {
    let app = a.common.target().map(|t| t.app);
    let Ok(app) = app else { return };
    let period = Duration::from_secs_f64(a.churners as f64 / a.rate);
    let deadline = start + Duration::from_secs_f64(a.duration);
    let offset = Duration::from_secs_f64(c as f64 / a.rate);
    for seq in 1u64.. {
        let due = start + offset + period * (seq - 1) as u32;
        if due + period / 2 >= deadline {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let slot = ChurnTimes::slot(c, seq);
        let user = format!("c{c}s{seq}");
        times.join[slot].store(stats::now_us(), Relaxed);
        let t = Instant::now();
        if let Err(e) = client.subscribe(&app, CHANNEL, Some(&user)).await {
            n.errors.fetch_add(1, Relaxed);
            eprintln!("ferrocast-bench: churner {c}: {e}");
            return;
        }
        n.join_ack_us.record(t.elapsed().as_micros() as u64);
        n.joins.fetch_add(1, Relaxed);
        tokio::time::sleep_until((due + period / 2).into()).await;
        times.leave[slot].store(stats::now_us(), Relaxed);
        if client.writer.text(&proto::unsubscribe(CHANNEL)).await.is_err() {
            n.errors.fetch_add(1, Relaxed);
            return;
        }
        n.leaves.fetch_add(1, Relaxed);
    }
}

pub async fn run(a: ChurnArgs) -> Result<Value, String> {
    let ok_args = a.connections >= 1 && a.churners >= 1 && a.rate > 0.0 && a.rate / a.churners as f64 <= 50.0;
    if !(ok_args && a.duration > 0.0 && a.duration <= 120.0 && (0.0..=60.0).contains(&a.drain)) {
        return Err("need -n, --churners >= 1, --rate > 0 with at most 50 joins/s per churner, --duration in (0, 120]".into());
    }
    let server = a.common.server();
    let mut o = header("presence-churn", &a.common);
    let conn = connect_all(&a.common, a.connections, |_| CHANNEL.into(), |i| Some(format!("m{i}"))).await?;
    let params = json!({ "connections": a.connections, "churners": a.churners, "rate": a.rate, "duration": a.duration });
    o.extend(params.as_object().cloned().unwrap_or_default());
    conn.fill(&mut o);
    let members = conn.ok();
    let times = Arc::new(ChurnTimes::new(a.churners));
    let recv = Arc::new(Recv { churn: Some(times.clone()), ..Default::default() });
    let tasks: Vec<_> = conn.clients.into_iter().map(|(_, c)| tokio::spawn(recv.clone().run(c))).collect();
    let target = a.common.target()?;
    let mut churn_clients = Vec::new();
    for c in 0..a.churners {
        let cl = Client::connect(&target, a.connections + c).await.map_err(|e| format!("churner connect: {e}"))?;
        churn_clients.push(cl);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base_events = recv.member_events.load(Relaxed);
    let counts = Arc::new(Counts { joins: 0.into(), leaves: 0.into(), errors: 0.into(), join_ack_us: Hist::default() });
    let args = Arc::new(a.clone());
    let mark = CpuMark::now(server);
    let started_us = stats::now_us();
    let start = Instant::now();
    let handles: Vec<_> = churn_clients
        .into_iter()
        .enumerate()
        .map(|(c, cl)| tokio::spawn(churner(c, cl, args.clone(), times.clone(), counts.clone(), start)))
        .collect();
    for h in handles {
        let _ = h.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (joins, leaves) = (counts.joins.load(Relaxed), counts.leaves.load(Relaxed));
    let expected = (joins + leaves) * members;
    let got = || recv.member_events.load(Relaxed) - base_events;
    let until = Instant::now() + Duration::from_secs_f64(a.drain);
    while got() < expected && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (server_cpu, own_cpu) = mark.since(server);
    recv.stopping.store(true, Relaxed);
    let delivered = got();
    let window_s = (recv.last_delivery_us.load(Relaxed).saturating_sub(started_us) as f64 / 1e6).max(elapsed);
    o.insert("joins".into(), json!(joins));
    o.insert("leaves".into(), json!(leaves));
    o.insert("joins_per_s".into(), json!(stats::rate(joins, elapsed)));
    o.insert("churn_errors".into(), json!(counts.errors.load(Relaxed)));
    o.insert("join_ack_us".into(), counts.join_ack_us.json());
    o.insert("expected_member_events".into(), json!(expected));
    o.insert("member_events".into(), json!(delivered));
    o.insert("lost".into(), json!(expected.saturating_sub(delivered)));
    o.insert("member_events_per_s".into(), json!(stats::rate(delivered, window_s)));
    o.insert("latency_us".into(), recv.member_latency.json());
    o.insert("server_cpu_s".into(), json!(server_cpu));
    o.insert("bench_cpu_s".into(), json!(own_cpu));
    o.insert("server_cpu_us_per_delivery".into(), json!(stats::us_per(server_cpu, delivered)));
    o.insert("server_cpu_us_per_join_leave".into(), json!(stats::us_per(server_cpu, joins + leaves)));
    o.insert("server_rss_kib_end".into(), json!(server.rss_kib()));
    fill_recv(&mut o, &recv);
    for t in tasks {
        t.abort();
    }
    Ok(Value::Object(o))
}
