//! Measurement: a lock-free log-linear latency histogram (under 1% relative error, shared by
//! thousands of receiving tasks), the run's monotonic clock, and readings of a process's RSS
//! and CPU time from /proc.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::Instant;

/// Values below this are exact; above, each power of two is split into `SUB` buckets.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
const LINEAR: u64 = 2 * SUB;
/// Up to 2^48 µs, far beyond any run.
const BUCKETS: usize = (LINEAR + (48 - SUB_BITS as u64) * SUB) as usize;

/// Microseconds since the run's clock started (one clock for senders and receivers).
pub fn now_us() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// A concurrent histogram of microsecond values.
pub struct Hist {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum: AtomicU64,
    max: AtomicU64,
}

impl Default for Hist {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

fn index(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let shift = 63 - v.leading_zeros() - SUB_BITS; // v >> shift is in [SUB, 2 * SUB)
    let i = LINEAR + (shift as u64 - 1) * SUB + ((v >> shift) - SUB);
    (i as usize).min(BUCKETS - 1)
}

/// The middle of bucket `i`'s range.
fn value(i: usize) -> u64 {
    let i = i as u64;
    if i < LINEAR {
        return i;
    }
    let shift = (i - LINEAR) / SUB + 1;
    let low = (SUB + (i - LINEAR) % SUB) << shift;
    low + (1 << shift) / 2
}

impl Hist {
    pub fn record(&self, v: u64) {
        self.buckets[index(v)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum.fetch_add(v, Relaxed);
        self.max.fetch_max(v, Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// The value at quantile `q` (0..=1).
    pub fn quantile(&self, q: f64) -> u64 {
        let n = self.count();
        if n == 0 {
            return 0;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= rank {
                return value(i).min(self.max.load(Relaxed));
            }
        }
        self.max.load(Relaxed)
    }

    /// `{count, mean, p50, p90, p99, p999, max}` in µs.
    pub fn json(&self) -> Value {
        let n = self.count();
        if n == 0 {
            return json!({ "count": 0 });
        }
        json!({
            "count": n,
            "mean": (self.sum.load(Relaxed) as f64 / n as f64).round(),
            "p50": self.quantile(0.50),
            "p90": self.quantile(0.90),
            "p99": self.quantile(0.99),
            "p999": self.quantile(0.999),
            "max": self.max.load(Relaxed),
        })
    }
}

/// `VmRSS` of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as f64
}

/// utime + stime of a process (`"self"` for this one), in seconds.
pub fn cpu_s(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may contain spaces and ends at the last ')'.
    let f: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clock_ticks())
}

/// A process to watch: the server under test.
#[derive(Debug, Clone, Copy)]
pub struct Proc(pub Option<u32>);

impl Proc {
    pub fn rss_kib(self) -> Option<u64> {
        self.0.and_then(rss_kib)
    }

    pub fn cpu_s(self) -> Option<f64> {
        self.0.and_then(|p| cpu_s(&p.to_string()))
    }
}

/// CPU seconds used by the server and by this process between two points.
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    server: Option<f64>,
    me: Option<f64>,
}

impl CpuMark {
    pub fn now(server: Proc) -> Self {
        Self { server: server.cpu_s(), me: cpu_s("self") }
    }

    /// (server CPU s, own CPU s) since this mark.
    pub fn since(&self, server: Proc) -> (Option<f64>, Option<f64>) {
        let now = Self::now(server);
        let d = |a: Option<f64>, b: Option<f64>| Some(round3(b? - a?));
        (d(self.server, now.server), d(self.me, now.me))
    }
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Per-second rate, rounded.
pub fn rate(count: u64, secs: f64) -> f64 {
    if secs > 0.0 { (count as f64 / secs).round() } else { 0.0 }
}

/// Server CPU µs per unit of work (delivery, connection, ...).
pub fn us_per(cpu_s: Option<f64>, units: u64) -> Option<f64> {
    (units > 0).then(|| cpu_s.map(|c| (c * 1e6 / units as f64 * 100.0).round() / 100.0)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_within_one_percent() {
        for v in [0u64, 1, 200, 255, 256, 257, 1000, 12_345, 999_999, 60_000_000] {
            let got = value(index(v));
            assert!((got as f64 - v as f64).abs() <= v as f64 * 0.01 + 1.0, "{v} -> {got}");
        }
        assert!(index(u64::MAX) < BUCKETS);
    }

    #[test]
    fn quantiles_of_a_uniform_range() {
        let h = Hist::default();
        for v in 1..=10_000 {
            h.record(v);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 5000.0).abs() < 60.0, "{p50}");
        assert_eq!(h.quantile(1.0), 10_000);
        assert_eq!(h.json()["count"], 10_000);
    }

    #[test]
    fn reads_own_process() {
        assert!(rss_kib(std::process::id()).unwrap_or(0) > 0);
        assert!(cpu_s("self").is_some());
    }
}
