//! What every scenario shares: the target and server options, the receiving side (counters,
//! latency histograms, gap tracking, disconnects) and the connect phase that opens N subscribed
//! clients with bounded concurrency and reports its rate, latency and server CPU.

pub mod churn;
pub mod events;
pub mod fanout;
pub mod idle;
pub mod soak;

use crate::client::{connect_subscribed, Client, Target};
use crate::proto::{self, App, Incoming};
use crate::stats::{self, CpuMark, Hist, Proc};
use clap::Args;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

/// Options every scenario takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 6001)]
    pub port: u16,
    #[arg(long, default_value = "bench-app")]
    pub app_id: String,
    #[arg(long, default_value = "bench-key")]
    pub key: String,
    #[arg(long, default_value = "bench-secret")]
    pub secret: String,
    /// Server process id: its RSS and CPU time are read from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Spread client sockets over 127.0.0.1..=127.0.0.N (ephemeral ports per source address).
    #[arg(long, default_value_t = 8)]
    pub source_ips: u8,
    /// Connections being set up at once (below the server's listen backlog).
    #[arg(long, default_value_t = 100)]
    pub connect_concurrency: usize,
    /// Seconds allowed for the whole connect phase (and for each connection's setup).
    #[arg(long, default_value_t = 60.0)]
    pub connect_timeout: f64,
    /// Ports of other nodes of the same cluster: WebSocket clients are spread over --port and
    /// these in turn (repeat the flag); the HTTP API is always called on --port.
    #[arg(long = "ws-port")]
    pub ws_ports: Vec<u16>,
    /// Free-form label copied into the output, e.g. `ferrocast` or `null`.
    #[arg(long, default_value = "")]
    pub label: String,
}

impl Common {
    pub fn target(&self) -> Result<Target, String> {
        let ip: std::net::Ipv4Addr = self.host.parse().map_err(|_| format!("--host must be an IPv4 address: {}", self.host))?;
        if !ip.is_loopback() {
            return Err(format!("refusing non-loopback target {ip}"));
        }
        if self.source_ips == 0 || self.connect_concurrency == 0 {
            return Err("--source-ips and --connect-concurrency must be at least 1".into());
        }
        Ok(Target {
            addr: SocketAddr::new(ip.into(), self.port),
            app: App { id: self.app_id.clone(), key: self.key.clone(), secret: self.secret.clone() },
            source_ips: self.source_ips,
            sub_addrs: match self.ws_ports.is_empty() {
                true => Vec::new(),
                false => std::iter::once(self.port)
                    .chain(self.ws_ports.iter().copied())
                    .map(|p| SocketAddr::new(ip.into(), p))
                    .collect(),
            },
        })
    }

    pub fn server(&self) -> Proc {
        Proc(self.server_pid)
    }
}

/// Send times of presence joins and leaves, indexed by (churner, sequence % RING), so the
/// members that receive `member_added` / `member_removed` can tell the latency.
pub struct ChurnTimes {
    pub join: Vec<AtomicU64>,
    pub leave: Vec<AtomicU64>,
}

pub const CHURN_RING: usize = 1024;

impl ChurnTimes {
    pub fn new(churners: usize) -> Self {
        let v = || (0..churners * CHURN_RING).map(|_| AtomicU64::new(0)).collect();
        Self { join: v(), leave: v() }
    }

    pub fn slot(churner: usize, seq: u64) -> usize {
        churner * CHURN_RING + (seq as usize % CHURN_RING)
    }
}

/// `c{churner}s{seq}` → the slot in `ChurnTimes`.
fn churn_slot(user_id: &str) -> Option<usize> {
    let (c, s) = user_id.strip_prefix('c')?.split_once('s')?;
    Some(ChurnTimes::slot(c.parse().ok()?, s.parse().ok()?))
}

/// Everything the receiving tasks record.
#[derive(Default)]
pub struct Recv {
    pub delivered: AtomicU64,
    pub latency: Hist,
    pub gaps: AtomicU64,
    pub out_of_order: AtomicU64,
    pub last_delivery_us: AtomicU64,
    pub member_events: AtomicU64,
    pub member_latency: Hist,
    pub churn: Option<Arc<ChurnTimes>>,
    pub errors: AtomicU64,
    pub disconnects: AtomicU64,
    pub stopping: AtomicBool,
    samples: Mutex<Vec<String>>,
}

/// Per-connection view of each sender's sequence, to count gaps and reordering.
#[derive(Default)]
pub struct Seqs(Vec<u64>);

impl Recv {
    pub fn note(&self, what: String) {
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if s.len() < 5 {
            s.push(what);
        }
    }

    pub fn samples(&self) -> Vec<String> {
        self.samples.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records one received text frame.
    pub fn on_text(&self, text: &str, seqs: &mut Seqs) {
        match proto::parse(text) {
            Incoming::Bench(m) => {
                let now = stats::now_us();
                self.latency.record(now.saturating_sub(m.t_us));
                self.delivered.fetch_add(1, Relaxed);
                self.last_delivery_us.fetch_max(now, Relaxed);
                let w = m.worker as usize;
                if w >= seqs.0.len() {
                    seqs.0.resize(w + 1, 0);
                }
                let last = seqs.0[w];
                if m.seq > last {
                    self.gaps.fetch_add(m.seq - last - 1, Relaxed);
                    seqs.0[w] = m.seq;
                } else {
                    self.out_of_order.fetch_add(1, Relaxed);
                }
            }
            Incoming::MemberAdded { user_id } => self.on_member(user_id, true),
            Incoming::MemberRemoved { user_id } => self.on_member(user_id, false),
            Incoming::Error(e) => {
                self.errors.fetch_add(1, Relaxed);
                self.note(e);
            }
            _ => {}
        }
    }

    fn on_member(&self, user_id: &str, joined: bool) {
        let now = stats::now_us();
        self.member_events.fetch_add(1, Relaxed);
        self.last_delivery_us.fetch_max(now, Relaxed);
        if let (Some(times), Some(slot)) = (&self.churn, churn_slot(user_id)) {
            let t = if joined { &times.join[slot] } else { &times.leave[slot] };
            let sent = t.load(Relaxed);
            if sent > 0 && sent <= now {
                self.member_latency.record(now - sent);
            }
        }
    }

    /// A receiving task's loop: every text frame until the connection ends or the run stops.
    pub async fn run(self: Arc<Self>, mut client: Client) {
        let mut seqs = Seqs::default();
        loop {
            match client.next_text().await {
                Ok(text) => self.on_text(text, &mut seqs),
                Err(e) => {
                    if !self.stopping.load(Relaxed) {
                        self.disconnects.fetch_add(1, Relaxed);
                        self.note(format!("disconnected: {e}"));
                    }
                    return;
                }
            }
        }
    }
}

/// The outcome of a connect phase.
pub struct Connected {
    pub clients: Vec<(usize, Client)>,
    pub failed: u64,
    pub errors: Vec<String>,
    pub elapsed: Duration,
    pub subscribed_us: Hist,
    pub server_cpu_s: Option<f64>,
}

impl Connected {
    pub fn ok(&self) -> u64 {
        self.clients.len() as u64
    }

    /// Connect-phase fields of the output line.
    pub fn fill(&self, o: &mut Map<String, Value>) {
        let secs = self.elapsed.as_secs_f64();
        o.insert("connections_ok".into(), json!(self.ok()));
        o.insert("connect_failures".into(), json!(self.failed));
        o.insert("connect_error_samples".into(), json!(self.errors));
        o.insert("connect_s".into(), json!(stats::round3(secs)));
        o.insert("connects_per_s".into(), json!(stats::rate(self.ok(), secs)));
        o.insert("connect_subscribed_us".into(), self.subscribed_us.json());
        o.insert("server_cpu_s_connect".into(), json!(self.server_cpu_s));
        o.insert("server_cpu_us_per_connect".into(), json!(stats::us_per(self.server_cpu_s, self.ok())));
    }
}

/// Opens `n` clients, client `i` subscribed to `channel(i)` as presence member `user(i)`,
/// at most `common.connect_concurrency` in setup at once.
pub async fn connect_all(
    common: &Common,
    n: usize,
    channel: impl Fn(usize) -> String,
    user: impl Fn(usize) -> Option<String>,
) -> Result<Connected, String> {
    let target = Arc::new(common.target()?);
    let limit = Duration::from_secs_f64(common.connect_timeout);
    let sem = Arc::new(Semaphore::new(common.connect_concurrency));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mark = CpuMark::now(common.server());
    let t0 = Instant::now();
    let deadline = tokio::time::Instant::now() + limit;
    let mut spawned: Vec<JoinHandle<()>> = Vec::new();
    for i in 0..n {
        let permit = match tokio::time::timeout_at(deadline, sem.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => break,
        };
        let (t, tx, ch, u) = (target.clone(), tx.clone(), channel(i), user(i));
        spawned.push(tokio::spawn(async move {
            let start = Instant::now();
            let r = connect_subscribed(&t, i, &ch, u.as_deref(), limit).await;
            drop(permit);
            let _ = tx.send((i, r, start.elapsed()));
        }));
    }
    drop(tx);
    let mut out = Connected {
        clients: Vec::with_capacity(n),
        failed: 0,
        errors: Vec::new(),
        elapsed: Duration::ZERO,
        subscribed_us: Hist::default(),
        server_cpu_s: None,
    };
    while let Ok(Some((i, r, took))) = tokio::time::timeout_at(deadline, rx.recv()).await {
        match r {
            Ok(c) => {
                out.subscribed_us.record(took.as_micros() as u64);
                out.clients.push((i, c));
            }
            Err(e) => {
                out.failed += 1;
                if out.errors.len() < 5 {
                    out.errors.push(e);
                }
            }
        }
    }
    out.elapsed = t0.elapsed();
    out.server_cpu_s = mark.since(common.server()).0;
    for h in spawned {
        h.abort();
    }
    out.failed = n as u64 - out.ok();
    eprintln!("ferrocast-bench: {}/{n} connected and subscribed in {:.2}s", out.ok(), out.elapsed.as_secs_f64());
    Ok(out)
}

/// The start of every output line.
pub fn header(scenario: &str, common: &Common) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("scenario".into(), json!(scenario));
    o.insert("label".into(), json!(common.label));
    o.insert("command".into(), json!(std::env::args().collect::<Vec<_>>().join(" ")));
    o.insert("server_pid".into(), json!(common.server_pid));
    o.insert("ws_ports".into(), json!(common.ws_ports));
    o.insert("unix_time".into(), json!(crate::unix_now()));
    o.insert("server_rss_kib_start".into(), json!(common.server().rss_kib()));
    o
}

/// Receiver-side fields of the output line.
pub fn fill_recv(o: &mut Map<String, Value>, r: &Recv) {
    o.insert("gaps".into(), json!(r.gaps.load(Relaxed)));
    o.insert("out_of_order".into(), json!(r.out_of_order.load(Relaxed)));
    o.insert("server_errors".into(), json!(r.errors.load(Relaxed)));
    o.insert("disconnects".into(), json!(r.disconnects.load(Relaxed)));
    o.insert("error_samples".into(), json!(r.samples()));
}
