//! The HTTP publisher: `workers` sequential tasks, each on its own kept-alive connection,
//! sending signed `POST /apps/{id}/events` to its share of the channels, either paced to a
//! global rate or as fast as the server keeps up (closed loop: a bounded number of
//! deliveries outstanding), until the deadline.

use crate::client::Target;
use crate::http::Http;
use crate::proto;
use crate::scenarios::Recv;
use crate::stats::{self, Hist};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A channel to publish to and how many subscribers each publish reaches.
#[derive(Debug, Clone)]
pub struct Dest {
    pub channel: String,
    pub subscribers: u64,
}

pub struct PubCfg {
    pub target: Target,
    pub payload: usize,
    /// Publishes per second over all workers; 0 = as fast as the server keeps up.
    pub rate: f64,
    pub workers: usize,
    pub duration: Duration,
    /// Closed loop: at most `window` × (largest fan-out) deliveries outstanding (0 = off).
    pub window: u64,
}

#[derive(Default)]
pub struct PubReport {
    pub ok: AtomicU64,
    pub errors: AtomicU64,
    pub expected: AtomicU64,
    pub connections_opened: AtomicU64,
    pub http_us: Hist,
    /// Rate mode: how late each publish left relative to its slot.
    pub lag_us: Hist,
    samples: Mutex<Vec<String>>,
    ticket: AtomicU64,
    /// When publishing began (run clock) and how long it lasted, in µs.
    pub started_us: AtomicU64,
    pub elapsed_us: AtomicU64,
}

impl PubReport {
    fn sample(&self, s: String) {
        let mut v = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if v.len() < 5 {
            v.push(s);
        }
    }

    pub fn elapsed_s(&self) -> f64 {
        self.elapsed_us.load(Relaxed) as f64 / 1e6
    }

    pub fn fill(&self, o: &mut Map<String, Value>, rate: f64) {
        let ok = self.ok.load(Relaxed);
        o.insert("publish_s".into(), json!(stats::round3(self.elapsed_s())));
        o.insert("publishes_ok".into(), json!(ok));
        o.insert("publishes_per_s".into(), json!(stats::rate(ok, self.elapsed_s())));
        o.insert("publish_errors".into(), json!(self.errors.load(Relaxed)));
        o.insert("publish_error_samples".into(), json!(self.samples.lock().unwrap_or_else(|e| e.into_inner()).clone()));
        o.insert("publish_http_us".into(), self.http_us.json());
        o.insert("http_connections_opened".into(), json!(self.connections_opened.load(Relaxed)));
        if rate > 0.0 {
            o.insert("publish_lag_us".into(), self.lag_us.json());
        }
    }
}

/// Channel indices worker `w` publishes to: disjoint shares when there are enough channels,
/// so each (worker, channel) stream has one sender and in-order sequence numbers.
fn shares(w: usize, workers: usize, channels: usize) -> Vec<usize> {
    if channels >= workers {
        (w..channels).step_by(workers).collect()
    } else {
        vec![w % channels]
    }
}

async fn worker(w: usize, cfg: Arc<PubCfg>, dests: Arc<Vec<Dest>>, recv: Arc<Recv>, rep: Arc<PubReport>, start: Instant) {
    let deadline = start + cfg.duration;
    let mine = shares(w, cfg.workers, dests.len());
    let mut seqs = vec![0u64; mine.len()];
    let mut http = Http::new(cfg.target.clone(), w);
    let biggest = dests.iter().map(|d| d.subscribers).max().unwrap_or(1);
    let max_pending = (cfg.window > 0).then(|| (cfg.window * biggest).max(1000));
    let mut rr = 0usize;
    'run: loop {
        if cfg.rate > 0.0 {
            let n = rep.ticket.fetch_add(1, Relaxed);
            let due = start + Duration::from_secs_f64(n as f64 / cfg.rate);
            if due >= deadline {
                break;
            }
            tokio::time::sleep_until(due.into()).await;
            rep.lag_us.record(due.elapsed().as_micros() as u64);
        }
        if Instant::now() >= deadline {
            break;
        }
        if let Some(max) = max_pending {
            while rep.expected.load(Relaxed).saturating_sub(recv.delivered.load(Relaxed)) > max {
                if Instant::now() >= deadline {
                    break 'run;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let slot = rr % mine.len();
        rr += 1;
        let dest = &dests[mine[slot]];
        seqs[slot] += 1;
        let data = proto::bench_data(w as u32, seqs[slot], stats::now_us(), cfg.payload);
        let body = proto::publish_body(&dest.channel, &data);
        let path = proto::publish_target(&cfg.target.app, &body, crate::unix_now());
        let sent = Instant::now();
        match http.post(&path, body.as_bytes()).await {
            Ok(r) if (200..300).contains(&r.status) => {
                rep.http_us.record(sent.elapsed().as_micros() as u64);
                rep.ok.fetch_add(1, Relaxed);
                rep.expected.fetch_add(dest.subscribers, Relaxed);
            }
            Ok(r) => {
                seqs[slot] -= 1; // refused: receivers must not see a false gap
                rep.errors.fetch_add(1, Relaxed);
                rep.sample(format!("HTTP {}: {}", r.status, String::from_utf8_lossy(&r.body).chars().take(200).collect::<String>()));
            }
            Err(e) => {
                rep.errors.fetch_add(1, Relaxed);
                rep.sample(format!("request: {e}"));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    rep.connections_opened.fetch_add(http.opened, Relaxed);
}

/// Publishes until `cfg.duration` has passed; returns the report.
pub async fn run(cfg: PubCfg, dests: Vec<Dest>, recv: Arc<Recv>) -> Arc<PubReport> {
    let cfg = Arc::new(cfg);
    let dests = Arc::new(dests);
    let rep = Arc::new(PubReport::default());
    rep.started_us.store(stats::now_us(), Relaxed);
    let start = Instant::now();
    let handles: Vec<_> = (0..cfg.workers)
        .map(|w| tokio::spawn(worker(w, cfg.clone(), dests.clone(), recv.clone(), rep.clone(), start)))
        .collect();
    for h in handles {
        let _ = h.await;
    }
    rep.elapsed_us.store(start.elapsed().as_micros() as u64, Relaxed);
    rep
}

/// Waits until every expected delivery arrived or `limit` passed.
pub async fn drain(rep: &PubReport, recv: &Recv, limit: Duration) {
    let until = Instant::now() + limit;
    while recv.delivered.load(Relaxed) < rep.expected.load(Relaxed) && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::shares;

    #[test]
    fn channels_are_shared_out_disjointly() {
        assert_eq!(shares(0, 4, 10), vec![0, 4, 8]);
        assert_eq!(shares(3, 4, 10), vec![3, 7]);
        assert_eq!(shares(2, 4, 1), vec![0]);
    }
}
