//! Soak: N connection slots churn for a bounded number of minutes — each connects, subscribes
//! to one of C channels, receives published events for a random lifetime, then disconnects
//! (cleanly or abruptly, alternately) and starts over — while events are published to the
//! channels at a fixed rate. The server's RSS is sampled before, during and after (once every
//! slot has stopped and a settle period has passed), to show whether memory returns to its
//! baseline.

use super::{fill_recv, header, Common, Recv, Seqs};
use crate::client::connect_subscribed;
use crate::publish::{self, Dest, PubCfg};
use crate::stats::{self, CpuMark};
use crate::ws::Rng;
use clap::Args;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Args, Debug, Clone)]
pub struct SoakArgs {
    #[command(flatten)]
    pub common: Common,
    /// Connection slots churning at once.
    #[arg(short = 'n', long, default_value_t = 2000)]
    pub connections: usize,
    /// Minutes of churn (at most 30).
    #[arg(long, default_value_t = 2.0)]
    pub minutes: f64,
    /// Public channels the connections pick from.
    #[arg(long, default_value_t = 50)]
    pub channels: usize,
    /// Publishes per second, spread over the channels.
    #[arg(long, default_value_t = 20.0)]
    pub publish_rate: f64,
    /// Shortest and longest connection lifetime, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub life_min_ms: u64,
    #[arg(long, default_value_t = 5000)]
    pub life_max_ms: u64,
    /// Seconds between RSS samples.
    #[arg(long, default_value_t = 5.0)]
    pub sample_every: f64,
    /// Seconds to wait after the churn before the final RSS reading.
    #[arg(long, default_value_t = 20.0)]
    pub settle: f64,
}

impl SoakArgs {
    pub fn budget(&self) -> Duration {
        let life = self.life_max_ms.min(60_000) as f64 / 1000.0;
        Duration::from_secs_f64(self.minutes.min(30.0) * 60.0 + life + self.settle.min(120.0) + self.common.connect_timeout + 30.0)
    }
}

#[derive(Default)]
struct Tally {
    cycles: AtomicU64,
    failures: AtomicU64,
    active: AtomicI64,
}

async fn slot(i: usize, a: Arc<SoakArgs>, recv: Arc<Recv>, tally: Arc<Tally>, sem: Arc<Semaphore>, deadline: Instant) {
    let Ok(target) = a.common.target() else { return };
    let mut rng = Rng::new(i as u64 * 7919 + 1);
    let limit = Duration::from_secs_f64(a.common.connect_timeout.min(10.0));
    let mut round = 0usize;
    while Instant::now() < deadline {
        let channel = format!("soak-{}", rng.range(0, a.channels as u64 - 1));
        let permit = sem.clone().acquire_owned().await;
        let conn = connect_subscribed(&target, i + round * a.connections, &channel, None, limit).await;
        drop(permit);
        round += 1;
        let mut client = match conn {
            Ok(c) => c,
            Err(e) => {
                tally.failures.fetch_add(1, Relaxed);
                recv.note(format!("soak connect: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        tally.active.fetch_add(1, Relaxed);
        let life = Duration::from_millis(rng.range(a.life_min_ms, a.life_max_ms));
        let mut seqs = Seqs::default();
        let lived = tokio::time::timeout(life, async {
            loop {
                match client.next_text().await {
                    Ok(t) => recv.on_text(t, &mut seqs),
                    Err(e) => return e,
                }
            }
        })
        .await;
        if let Ok(e) = lived {
            recv.disconnects.fetch_add(1, Relaxed);
            recv.note(format!("soak disconnected: {e}"));
        } else if round.is_multiple_of(2) {
            client.close().await;
        } else {
            drop(client); // abrupt: no close frame
        }
        tally.active.fetch_sub(1, Relaxed);
        tally.cycles.fetch_add(1, Relaxed);
    }
}

pub async fn run(a: SoakArgs) -> Result<Value, String> {
    let bad = a.connections == 0 || a.channels == 0 || a.life_min_ms == 0 || a.life_min_ms > a.life_max_ms;
    if bad || !(a.minutes > 0.0 && a.minutes <= 30.0) || a.sample_every < 0.5 || !(0.0..=120.0).contains(&a.settle) {
        return Err("need -n, --channels >= 1, 0 < life-min <= life-max, --minutes in (0, 30], --settle in [0, 120]".into());
    }
    let server = a.common.server();
    let mut o = header("soak", &a.common);
    let params = json!({ "connections": a.connections, "minutes": a.minutes, "channels": a.channels,
        "publish_rate": a.publish_rate, "life_ms": [a.life_min_ms, a.life_max_ms] });
    o.extend(params.as_object().cloned().unwrap_or_default());
    let rss_before = server.rss_kib();
    let t0 = Instant::now();
    let samples = Arc::new(Mutex::new(Vec::<Value>::new()));
    let tally = Arc::new(Tally::default());
    let sampler = {
        let (samples, tally, every) = (samples.clone(), tally.clone(), Duration::from_secs_f64(a.sample_every));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let row = json!([stats::round3(t0.elapsed().as_secs_f64()), server.rss_kib(), tally.active.load(Relaxed)]);
                samples.lock().unwrap_or_else(|e| e.into_inner()).push(row);
            }
        })
    };
    let recv = Arc::new(Recv::default());
    let sem = Arc::new(Semaphore::new(a.common.connect_concurrency));
    let deadline = Instant::now() + Duration::from_secs_f64(a.minutes * 60.0);
    let args = Arc::new(a.clone());
    let mark = CpuMark::now(server);
    let slots: Vec<_> = (0..a.connections)
        .map(|i| tokio::spawn(slot(i, args.clone(), recv.clone(), tally.clone(), sem.clone(), deadline)))
        .collect();
    let dests = (0..a.channels).map(|c| Dest { channel: format!("soak-{c}"), subscribers: 0 }).collect();
    let cfg = PubCfg {
        target: a.common.target()?,
        payload: 100,
        rate: a.publish_rate.max(0.1),
        workers: 2,
        duration: Duration::from_secs_f64(a.minutes * 60.0),
        window: 0,
    };
    let rep = publish::run(cfg, dests, recv.clone()).await;
    let mut rss_peak = 0;
    for s in slots {
        let _ = s.await;
    }
    let churn_s = t0.elapsed().as_secs_f64();
    let rss_stopped = server.rss_kib();
    tokio::time::sleep(Duration::from_secs_f64(a.settle)).await;
    let rss_after = server.rss_kib();
    sampler.abort();
    let (server_cpu, own_cpu) = mark.since(server);
    let samples = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for s in &samples {
        rss_peak = rss_peak.max(s[1].as_u64().unwrap_or(0));
    }
    let cycles = tally.cycles.load(Relaxed);
    o.insert("churn_s".into(), json!(stats::round3(churn_s)));
    o.insert("cycles".into(), json!(cycles));
    o.insert("connects_per_s".into(), json!(stats::rate(cycles, churn_s)));
    o.insert("connect_failures".into(), json!(tally.failures.load(Relaxed)));
    rep.fill(&mut o, 1.0);
    o.insert("deliveries".into(), json!(recv.delivered.load(Relaxed)));
    o.insert("latency_us".into(), recv.latency.json());
    o.insert("server_cpu_s".into(), json!(server_cpu));
    o.insert("bench_cpu_s".into(), json!(own_cpu));
    o.insert("server_rss_kib_before".into(), json!(rss_before));
    o.insert("server_rss_kib_peak".into(), json!(rss_peak));
    o.insert("server_rss_kib_stopped".into(), json!(rss_stopped));
    o.insert("server_rss_kib_after".into(), json!(rss_after));
    if let (Some(b), Some(e)) = (rss_before, rss_after) {
        let grown = rss_peak.saturating_sub(b).max(1);
        o.insert("rss_kept_kib".into(), json!(e as i64 - b as i64));
        o.insert("rss_kept_fraction_of_peak_growth".into(), json!(stats::round3((e as f64 - b as f64) / grown as f64)));
    }
    // Growth while the churn goes on: a plateau means memory is reused, a slope means it is not.
    let half: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| Some((s[0].as_f64()?, s[1].as_f64()?)))
        .filter(|(t, _)| *t >= churn_s / 2.0 && *t <= churn_s)
        .collect();
    if let (Some(a), Some(b)) = (half.first(), half.last()) {
        if b.0 > a.0 {
            o.insert("rss_kib_per_min_second_half".into(), json!(((b.1 - a.1) / (b.0 - a.0) * 60.0).round()));
        }
    }
    o.insert("rss_samples".into(), json!(samples));
    o.insert("settle_s".into(), json!(a.settle));
    recv.stopping.store(true, Relaxed);
    fill_recv(&mut o, &recv);
    // Connections join mid-stream, so sequence gaps mean nothing here.
    o.remove("gaps");
    Ok(Value::Object(o))
}
