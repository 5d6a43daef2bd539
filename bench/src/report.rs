//! Writes BENCHMARKS.md from result lines: one table per scenario with Ferrocast's figures
//! next to the null broadcaster's and their ratio, the commands that produced them, the soak's
//! memory curve, the comparison with sockudo on the shared load generator, and hand-written
//! notes (the profile) included verbatim.

use clap::Args;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// JSON-lines results of ferrocast-bench (labels `<server>/<case>`); later lines win.
    #[arg(long, required = true)]
    pub results: Vec<PathBuf>,
    /// JSON-lines results of the shared loadgen against Ferrocast.
    #[arg(long)]
    pub loadgen: Option<PathBuf>,
    /// The peer's results with the same loadgen (median of its runs is used).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// JSON-lines results of the shared loadgen against the null broadcaster (a column of its own).
    #[arg(long)]
    pub loadgen_null: Option<PathBuf>,
    /// Markdown files appended verbatim (e.g. the profile).
    #[arg(long)]
    pub notes: Vec<PathBuf>,
    /// One line describing the machine and build.
    #[arg(long, default_value = "")]
    pub machine: String,
    /// The command that ran the suite.
    #[arg(long, default_value = "bench/run.sh")]
    pub suite_command: String,
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub output: PathBuf,
}

fn read_lines(p: &PathBuf) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(|v| v.get("error").is_none()).collect())
}

/// A number at a dotted path, e.g. `latency_us.p99`.
fn num(v: &Value, path: &str) -> Option<f64> {
    path.split('.').try_fold(v, |v, k| v.get(k))?.as_f64()
}

fn fmt_num(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(x) if x.abs() >= 1000.0 => {
            let s = format!("{:.0}", x);
            let (sign, digits) = s.split_at(if x < 0.0 { 1 } else { 0 });
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            format!("{sign}{out}")
        }
        Some(x) if x.fract() == 0.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.2}"),
    }
}

fn ms(us: Option<f64>) -> String {
    us.map_or("–".into(), |u| format!("{:.1}", u / 1000.0))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

/// The command as recorded, with the run-specific server pid replaced.
fn command(v: &Value) -> String {
    let c = v.get("command").and_then(Value::as_str).unwrap_or("");
    let mut words: Vec<String> = c.split(' ').map(str::to_owned).collect();
    for i in 1..words.len() {
        if words[i - 1] == "--server-pid" {
            words[i] = "$SERVER_PID".into();
        }
    }
    if let Some(first) = words.first_mut() {
        *first = "bench/target/release/ferrocast-bench".into();
    }
    words.join(" ")
}

/// Latest line per (server, case), from labels `<server>/<case>`, in the order cases first ran.
struct Runs(Vec<((String, String), Value)>);

impl Runs {
    fn new(lines: &[Value]) -> Self {
        let mut v: Vec<((String, String), Value)> = Vec::new();
        for line in lines {
            let label = line.get("label").and_then(Value::as_str).unwrap_or("");
            let Some((server, case)) = label.split_once('/') else { continue };
            let key = (server.to_owned(), case.to_owned());
            match v.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = line.clone(),
                None => v.push((key, line.clone())),
            }
        }
        Self(v)
    }

    fn get(&self, server: &str, case: &str) -> Option<&Value> {
        self.0.iter().find(|((s, c), _)| s == server && c == case).map(|(_, v)| v)
    }

    fn cases(&self, server: &str, prefix: &str) -> Vec<&str> {
        self.0.iter().filter(|((s, c), _)| s == server && c.starts_with(prefix)).map(|((_, c), _)| c.as_str()).collect()
    }
}

/// A column: header, and how to read it from one line.
type Col = (&'static str, fn(&Value) -> String);

/// A table of the cases whose name starts with `prefix`: Ferrocast's columns, then the null
/// broadcaster's `compare` metric and the ratio.
fn table(out: &mut String, runs: &Runs, prefix: &str, cols: &[Col], compare: (&str, &str)) {
    let cases = runs.cases("ferrocast", prefix);
    if cases.is_empty() {
        out.push_str("_Not run._\n\n");
        return;
    }
    let (metric_name, metric) = compare;
    let _ = write!(out, "| case |");
    for (h, _) in cols {
        let _ = write!(out, " {h} |");
    }
    let _ = writeln!(out, " null: {metric_name} | Ferrocast / null |");
    let _ = writeln!(out, "|---|{}---|---|", "---|".repeat(cols.len()));
    let mut cmds = Vec::new();
    for case in &cases {
        let Some(f) = runs.get("ferrocast", case) else { continue };
        let null = runs.get("null", case);
        let _ = write!(out, "| {case} |");
        for (_, get) in cols {
            let _ = write!(out, " {} |", get(f));
        }
        let nm = null.and_then(|n| num(n, metric));
        let _ = writeln!(out, " {} | {} |", fmt_num(nm), ratio(num(f, metric), nm));
        cmds.push(command(f));
    }
    let _ = writeln!(out, "\n<details><summary>Commands</summary>\n\n```sh");
    for c in cmds {
        let _ = writeln!(out, "{c}");
    }
    let _ = writeln!(out, "```\n\nThe null broadcaster ran the same commands.\n</details>\n");
}

macro_rules! col {
    ($h:expr, ms $path:expr) => {
        ($h, (|v: &Value| ms(num(v, $path))) as fn(&Value) -> String)
    };
    ($h:expr, $path:expr) => {
        ($h, (|v: &Value| fmt_num(num(v, $path))) as fn(&Value) -> String)
    };
}

fn latency_cols() -> [Col; 3] {
    [col!("p50 ms", ms "latency_us.p50"), col!("p99 ms", ms "latency_us.p99"), col!("p99.9 ms", ms "latency_us.p999")]
}

fn scenarios(out: &mut String, runs: &Runs) {
    let mut section = |title: &str, text: &str, prefix: &str, cols: Vec<Col>, compare: (&str, &str)| {
        let _ = writeln!(out, "### {title}\n\n{text}\n");
        table(out, runs, prefix, &cols, compare);
    };
    section(
        "(a) Idle memory",
        "N connections, each subscribed to one public channel, held 5 s; RSS from /proc/PID/status before and after.",
        "idle-",
        vec![col!("connections", "connections_ok"), col!("RSS before KiB", "server_rss_kib_before"),
             col!("RSS held KiB", "server_rss_kib_connected"), col!("bytes/conn", "server_rss_bytes_per_conn"),
             col!("connects/s", "connects_per_s")],
        ("bytes/conn", "server_rss_bytes_per_conn"),
    );
    let fan_cols = || {
        let mut c: Vec<Col> = vec![col!("publishes/s", "publishes_per_s"), col!("deliveries/s", "deliveries_per_s")];
        c.extend(latency_cols());
        c.extend([col!("server CPU-µs/delivery", "server_cpu_us_per_delivery"), col!("lost", "lost"), col!("gaps", "gaps"), col!("disconnects", "disconnects")]);
        c
    };
    section(
        "(b) Fan-out",
        "One public channel, N subscribers, events published through the signed HTTP API by 4 workers on kept-alive \
         connections: at a fixed rate (`rate`) or as fast as the server keeps up (`max`: closed loop, at most 8 publishes' \
         deliveries outstanding). Latency is from just before the HTTP request to the subscriber's parse (one clock). \
         CPU-µs/delivery = server utime+stime over the publish phase ÷ deliveries.",
        "fanout-",
        fan_cols(),
        ("CPU-µs/delivery", "server_cpu_us_per_delivery"),
    );
    section(
        "(b) Fan-out throughput next to the null broadcaster",
        "The same runs, throughput side by side.",
        "fanout-",
        vec![col!("deliveries/s", "deliveries_per_s")],
        ("deliveries/s", "deliveries_per_s"),
    );
    section(
        "(c) Many channels",
        "N connections, each on its own channel; publishes spread round-robin (8 workers, kept-alive), so every publish \
         is one delivery and the HTTP API's cost per request dominates.",
        "channels-",
        fan_cols(),
        ("CPU-µs/delivery", "server_cpu_us_per_delivery"),
    );
    let mut ev: Vec<Col> = vec![col!("members", "connections_ok"), col!("events/s sent", "events_per_s"), col!("deliveries/s", "deliveries_per_s")];
    ev.extend(latency_cols());
    ev.extend([col!("server CPU-µs/delivery", "server_cpu_us_per_delivery"), col!("lost", "lost")]);
    section(
        "(d) Client events on a presence channel",
        "Members of one presence channel; some send `client-bench` events at a fixed rate, relayed to every other member. \
         Latency: sender's send to receiver's parse, through the server.",
        "client-events",
        ev,
        ("CPU-µs/delivery", "server_cpu_us_per_delivery"),
    );
    section(
        "(e) Connect + subscribe rate",
        "N connections opened 100 at a time: WebSocket upgrade, `connection_established`, subscribe, `subscription_succeeded`.",
        "connect-",
        vec![col!("connections", "connections_ok"), col!("connects/s", "connects_per_s"),
             col!("p50 ms", ms "connect_subscribed_us.p50"), col!("p99 ms", ms "connect_subscribed_us.p99"),
             col!("server CPU-µs/connection", "server_cpu_us_per_connect")],
        ("CPU-µs/connection", "server_cpu_us_per_connect"),
    );
    section(
        "(f) Presence churn",
        "N steady members on one presence channel; 50 churner connections join and leave as new users at the target rate. \
         Every join and leave is announced to every member; latency is from the join/leave being sent to a member parsing \
         `member_added`/`member_removed`. A join's answer carries the whole member list.",
        "churn-",
        vec![col!("joins/s", "joins_per_s"), col!("member events/s", "member_events_per_s"),
             col!("p50 ms", ms "latency_us.p50"), col!("p99 ms", ms "latency_us.p99"),
             col!("join ack p50 ms", ms "join_ack_us.p50"), col!("server CPU-µs/event", "server_cpu_us_per_delivery"),
             col!("server CPU-µs/join+leave", "server_cpu_us_per_join_leave"), col!("lost", "lost")],
        ("CPU-µs/event", "server_cpu_us_per_delivery"),
    );
}

fn soak(out: &mut String, runs: &Runs) {
    let _ = writeln!(out, "### Soak (issue 3)\n");
    let Some(v) = runs.cases("ferrocast", "soak").first().and_then(|c| runs.get("ferrocast", c)) else {
        out.push_str("_Not run._\n\n");
        return;
    };
    let kib = |p: &str| num(v, p).map_or("–".into(), |k| format!("{:.1} MiB", k / 1024.0));
    let _ = writeln!(
        out,
        "{} connection slots churned for {} min (connect, subscribe to one of {} channels, receive for 0.5–5 s, disconnect \
         cleanly or abruptly), {} publishes/s: **{} connection cycles** ({} connects/s), {} connect failures, {} unexpected \
         disconnects, {} deliveries.\n\n| RSS before | peak during | all disconnected | after {} s settle | kept vs before | kept / peak growth | growth in the churn's second half |\n|---|---|---|---|---|---|---|\n| {} | {} | {} | {} | {} | {} | {} KiB/min |\n",
        fmt_num(num(v, "connections")), fmt_num(num(v, "minutes")), fmt_num(num(v, "channels")), fmt_num(num(v, "publish_rate")),
        fmt_num(num(v, "cycles")), fmt_num(num(v, "connects_per_s")), fmt_num(num(v, "connect_failures")),
        fmt_num(num(v, "disconnects")), fmt_num(num(v, "deliveries")), fmt_num(num(v, "settle_s")),
        kib("server_rss_kib_before"), kib("server_rss_kib_peak"), kib("server_rss_kib_stopped"), kib("server_rss_kib_after"),
        kib("rss_kept_kib"), fmt_num(num(v, "rss_kept_fraction_of_peak_growth")), fmt_num(num(v, "rss_kib_per_min_second_half")),
    );
    let all: Vec<&Value> = v.get("rss_samples").and_then(Value::as_array).into_iter().flatten().collect();
    let step = all.len().div_ceil(14).max(1);
    let samples: Vec<String> = all.iter().enumerate().filter(|(i, _)| i % step == 0 || i + 1 == all.len()).map(|(_, s)| s)
        .map(|s| format!("{}s: {:.0} MiB ({} open)", fmt_num(s[0].as_f64()), s[1].as_f64().unwrap_or(0.0) / 1024.0, s[2]))
        .collect();
    let _ = writeln!(out, "RSS samples: {}.\n\n```sh\n{}\n```\n", samples.join(", "), command(v));
}

/// The side-by-side runs of `bench/cluster.sh` and `bench/history.sh`: one load, several setups.
fn setups(out: &mut String, runs: &Runs) {
    let cluster = "1,000 subscribers on one channel, 100-byte events published through node A's HTTP API. `1-node`: every \
         subscriber on A (local adapter). `2-nodes-redis` / `2-nodes-nats`: the subscribers alternate between node A \
         and node B, so half the deliveries cross the bus (one bus message per publish, fanned out by B). `max` = as \
         fast as the nodes keep up (closed loop), `50` = a fixed 50 publishes/s. Both nodes and the generator share \
         the machine's two cores. The CPU column is node A's process only, divided by all deliveries, so on two \
         nodes it leaves out B's share.";
    let history = "The same fan-out (1,000 subscribers, 100-byte events through the HTTP API, `max` and a fixed 50/s) \
         with channel history off, and on for the channel (rule `fan-*`, size 1000) in the embedded SQLite store and in \
         Redis: every event is stored before it is fanned out. CPU-µs/delivery counts the server only (not Redis).";
    setup_table(out, runs, "cluster", "Cross-node fan-out (`bench/cluster.sh`)", cluster);
    setup_table(out, runs, "history", "Fan-out with history on (`bench/history.sh`)", history);
}

/// `bench/webhooks.sh`: each load with webhooks off and on (a slow receiver), side by side; the
/// median of the script's repetitions, as single connect runs here vary by ±5 %.
fn webhooks(out: &mut String, lines: &[Value]) {
    let of = |label: String| -> Vec<&Value> {
        lines.iter().filter(|v| v.get("label").and_then(Value::as_str) == Some(label.as_str())).collect()
    };
    let med = |runs: &[&Value], key: &str| -> Option<f64> {
        let mut xs: Vec<f64> = runs.iter().filter_map(|v| num(v, key)).collect();
        median(&mut xs)
    };
    type Figure = (&'static str, &'static str, &'static str);
    let loads: [(&str, &[Figure]); 3] = [
        ("connect-10k", &[("connects/s", "connects_per_s", "higher"), ("server CPU-µs/connection", "server_cpu_us_per_connect", "lower")]),
        ("client-events", &[
            ("deliveries/s", "deliveries_per_s", "higher"),
            ("p99 latency ms", "latency_us.p99", "lower"),
            ("server CPU-µs/delivery", "server_cpu_us_per_delivery", "lower"),
        ]),
        ("presence-churn", &[
            ("member events delivered/s", "member_events_per_s", "higher"),
            ("p99 latency ms", "latency_us.p99", "lower"),
            ("server CPU-µs/join or leave", "server_cpu_us_per_join_leave", "lower"),
        ]),
    ];
    if !lines.iter().any(|v| v.get("label").and_then(Value::as_str).is_some_and(|l| l.starts_with("webhooks/"))) {
        return;
    }
    let _ = writeln!(
        out,
        "### The socket path with webhooks on (`bench/webhooks.sh`)\n\nEach load against a fresh server with no webhook \
         endpoint (`off`), then with one endpoint that wants every event type and answers each request only after a second \
         (`ferrocast-bench slow-receiver`), so the queue backs up while the load runs (`on`). `connect-10k`: 10,000 \
         connections, each on its own channel (a `channel_occupied` and a `subscription_count` event each). \
         `client-events`: 50 members of a presence channel each sending 100 client events/s (a `client_event` webhook \
         each). `presence-churn`: 1,000 members, 200 joins/s and as many leaves (`member_added`/`member_removed`). \
         \"Queued / refused\" are the server's `ferrocast_webhook_events_total` counters after the load; refused \
         would mean events lost to a full buffer. Medians of {} runs of each case, off and on alternating.\n",
        of("webhooks/connect-10k-off".into()).len()
    );
    let _ = writeln!(out, "| load | figure | webhooks off | webhooks on | on ÷ off |\n|---|---|---|---|---|");
    let mut cmds = Vec::new();
    for (load, figures) in loads {
        let (off, on) = (of(format!("webhooks/{load}-off")), of(format!("webhooks/{load}-on")));
        let Some(last_on) = on.last() else { continue };
        for (name, key, better) in figures.iter() {
            let scale = if key.starts_with("latency_us") { 1e-3 } else { 1.0 };
            let (a, b) = (med(&off, key).map(|x| x * scale), med(&on, key).map(|x| x * scale));
            let ratio = match (a, b) {
                (Some(a), Some(b)) if a > 0.0 => format!("{:.2} ({better} is better)", b / a),
                _ => "–".into(),
            };
            let _ = writeln!(out, "| {load} | {name} | {} | {} | {ratio} |", fmt_num(a), fmt_num(b));
        }
        let queue = of(format!("webhooks/{load}-queue"));
        if !queue.is_empty() {
            let refused: f64 = queue.iter().filter_map(|q| num(q, "webhook_events_refused")).sum();
            let _ = writeln!(
                out,
                "| {load} | webhook events queued (median) / refused (all runs) | – | {} / {} | |",
                fmt_num(med(&queue, "webhook_events_queued")),
                fmt_num(Some(refused))
            );
        }
        cmds.push(command(last_on));
    }
    if let Some(r) = of("webhooks/receiver".into()).last() {
        let _ = writeln!(
            out,
            "\nThe slow receiver got {} requests holding {} events over all the `on` runs: the rest were still queued when \
             each server stopped (the script's data directories are temporary).",
            fmt_num(num(r, "webhook_requests")),
            fmt_num(num(r, "webhook_events"))
        );
    }
    let _ = writeln!(out, "\n<details><summary>Commands</summary>\n\n```sh\nbench/webhooks.sh   # runs, for off and on:");
    for c in cmds {
        let _ = writeln!(out, "{c}");
    }
    let _ = writeln!(out, "```\n</details>\n");
}

fn setup_table(out: &mut String, runs: &Runs, server: &str, title: &str, text: &str) {
    let cases = runs.cases(server, "");
    if cases.is_empty() {
        return;
    }
    let _ = writeln!(out, "### {title}\n\n{text}\n");
    let mut cols: Vec<Col> = vec![col!("publishes/s", "publishes_per_s"), col!("deliveries/s", "deliveries_per_s")];
    cols.extend(latency_cols());
    cols.extend([
        col!("server CPU-µs/delivery", "server_cpu_us_per_delivery"),
        col!("lost", "lost"),
        col!("gaps", "gaps"),
        col!("disconnects", "disconnects"),
    ]);
    let _ = write!(out, "| case |");
    for (h, _) in &cols {
        let _ = write!(out, " {h} |");
    }
    let _ = writeln!(out, "\n|---|{}", "---|".repeat(cols.len()));
    let mut cmds = Vec::new();
    for case in &cases {
        let Some(v) = runs.get(server, case) else { continue };
        let _ = write!(out, "| {case} |");
        for (_, get) in &cols {
            let _ = write!(out, " {} |", get(v));
        }
        let _ = writeln!(out);
        cmds.push(command(v));
    }
    let _ = writeln!(out, "\n<details><summary>Commands</summary>\n\n```sh");
    for c in cmds {
        let _ = writeln!(out, "{c}");
    }
    let _ = writeln!(out, "```\n</details>\n");
}

fn median(xs: &mut [f64]) -> Option<f64> {
    xs.sort_by(|a, b| a.total_cmp(b));
    (!xs.is_empty()).then(|| xs[xs.len() / 2])
}

fn loadgen(out: &mut String, ours: &[Value], peer: &[Value], null: &[Value]) {
    let scen = |v: &Value| v.get("label").and_then(Value::as_str).and_then(|l| l.split_once('/')).map(|(_, s)| s.to_owned());
    let metric = |lines: &[Value], s: &str, f: &dyn Fn(&Value) -> Option<f64>| {
        let mut xs: Vec<f64> = lines.iter().filter(|v| scen(v).as_deref() == Some(s)).filter_map(f).collect();
        median(&mut xs)
    };
    type Get = fn(&Value) -> Option<f64>;
    let deliveries: Get = |v| num(v, "deliveries_per_s");
    let p99: Get = |v| num(v, "latency_us.p99");
    let cpu: Get = |v| Some(num(v, "server_cpu_s")? * 1e6 / num(v, "deliveries")?);
    let connects: Get = |v| num(v, "connects_per_s");
    let rows: [(&str, &str, Get); 16] = [
        ("idle-10k", "RSS bytes/connection", |v| num(v, "server_rss_bytes_per_conn")),
        ("idle-10k", "connects/s", connects),
        ("fanout-1k-max", "deliveries/s", deliveries),
        ("fanout-1k-max", "p99 latency µs", p99),
        ("fanout-1k-max", "server CPU-µs/delivery", cpu),
        ("fanout-10k-20", "publishes/s achieved (20 offered)", |v| num(v, "publishes_per_s")),
        ("fanout-10k-20", "deliveries/s", deliveries),
        ("fanout-10k-20", "p99 latency µs", p99),
        ("fanout-10k-20", "server CPU-µs/delivery", cpu),
        ("channels-2k", "deliveries/s", deliveries),
        ("channels-2k", "p99 latency µs", p99),
        ("channels-2k", "server CPU-µs/delivery", cpu),
        ("connect-10k", "connects/s", connects),
        ("fanout-1k-50", "p50 latency µs", |v| num(v, "latency_us.p50")),
        ("fanout-1k-50", "p99 latency µs", p99),
        ("fanout-1k-50", "server CPU-µs/delivery", cpu),
    ];
    let null_col = !null.is_empty();
    let _ = writeln!(
        out,
        "| loadgen scenario | metric | Ferrocast (median) | sockudo 5.0.1 (median of 3) | Ferrocast / sockudo |{}\n|---|---|---|---|---|{}",
        if null_col { " null broadcaster (median) |" } else { "" },
        if null_col { "---|" } else { "" }
    );
    for (s, name, f) in rows {
        let (a, b) = (metric(ours, s, &f), metric(peer, s, &f));
        let _ = write!(out, "| {s} | {name} | {} | {} | {} |", fmt_num(a), fmt_num(b), ratio(a, b));
        if null_col {
            let _ = write!(out, " {} |", fmt_num(metric(null, s, &f)));
        }
        let _ = writeln!(out);
    }
    let losses: Vec<String> = ours.iter().map(|v| format!("{}: lost {}, gaps {}, disconnects {}, publish errors {}", scen(v).unwrap_or_default(),
        fmt_num(num(v, "lost")), fmt_num(num(v, "gaps")), fmt_num(num(v, "disconnects")), fmt_num(num(v, "publish_errors")))).collect();
    let _ = writeln!(
        out,
        "\nfanout-1k-50 (1,000 subscribers at a fixed 50 publishes/s) is the peer's variant run; shared/bench ships no \
         raw line for it, so its sockudo figures are the ones BASELINE.md states: p50 9,500 µs, p99 17,600 µs."
    );
    let _ = writeln!(out, "\nFerrocast's runs: {}.\n", losses.join("; "));
}

pub fn run(a: &ReportArgs) -> Result<(), String> {
    let mut lines = Vec::new();
    for p in &a.results {
        lines.extend(read_lines(p)?);
    }
    let runs = Runs::new(&lines);
    let mut out = String::new();
    out.push_str("# Benchmarks\n\n<!-- Written by bench/run.sh (ferrocast-bench report); edit bench/profile.md or the code, not this file. -->\n\n");
    let _ = writeln!(out, "**Machine:** {}\n", a.machine);
    let _ = writeln!(
        out,
        "The server and the load generator share the machine's two cores (and, while these ran, other engineers' \
         builds), so throughput and latency are \"system\" figures and noisy; **server CPU-µs per delivery and RSS per \
         connection** vary least. Every scenario ran against a freshly started server, all on 127.0.0.x. The null \
         broadcaster (`bench/src/null/`) is the floor: it speaks just enough of the protocol, checks nothing, and appends \
         pre-framed bytes to each subscriber's queue, which one task per socket writes in a single syscall. Its ratio \
         column is Ferrocast ÷ null (above 1× means Ferrocast costs more or does more).\n\nFerrocast's config (written by \
         the scripts): app `bench-app` / `bench-key` / `bench-secret` with `max_connections = 0`, \
         `max_client_events_per_sec = 0`, `max_presence_members = 0`, and `drain_grace = 0`; everything else at its default. \
         Started as `ferrocast serve --config FILE --host 127.0.0.1 --port 6001 --metrics-port 0`.\n\nWhole suite: `{}`; raw lines: {}.\n",
        a.suite_command,
        a.results.iter().map(|p| format!("`{}`", p.display())).collect::<Vec<_>>().join(", ")
    );
    out.push_str("## Ferrocast on its own benchmark (`bench/`)\n\n");
    scenarios(&mut out, &runs);
    soak(&mut out, &runs);
    setups(&mut out, &runs);
    webhooks(&mut out, &lines);
    if let (Some(l), Some(b)) = (&a.loadgen, &a.baseline) {
        if let (Ok(ours), Ok(peer)) = (read_lines(l), read_lines(b)) {
            out.push_str("## Ferrocast vs sockudo on the shared load generator\n\n");
            let _ = writeln!(
                out,
                "Same generator (`shared/bench/loadgen`), same commands as the peer's baseline in `shared/bench/BASELINE.md`; \
                 Ferrocast's median of its runs (`REPS`), sockudo's median of three. Produced by `bench/loadgen-compare.sh`, which copies \
                 `shared/bench` to a writable directory and runs\n\n```sh\nSTART_CMD='exec $FERROCAST_BIN serve --config $WORK/ferrocast-bench.toml \
                 --host 127.0.0.1 --port 6001 --metrics-port 0' LABEL=ferrocast-<commit> REPS=3 OUT=bench/results/loadgen-ferrocast.jsonl $WORK/baseline.sh\n```\n\n\
                 Raw lines: `{}`, `{}`. Latency is end to end (before the HTTP request → subscriber's parse).\n",
                l.display(),
                b.display()
            );
            let null = a.loadgen_null.as_ref().and_then(|p| read_lines(p).ok()).unwrap_or_default();
            if !null.is_empty() {
                out.push_str(
                    "The last column is the null broadcaster (`bench/src/null/`) on the same generator \
                     (`SERVER=null bench/loadgen-compare.sh`, raw lines `bench/results/loadgen-null.jsonl`): what this \
                     machine gives a server that does nothing but write pre-framed bytes.\n\n",
                );
            }
            loadgen(&mut out, &ours, &peer, &null);
        }
    }
    for p in &a.notes {
        out.push_str(&std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?);
        out.push('\n');
    }
    std::fs::write(&a.output, out).map_err(|e| format!("{}: {e}", a.output.display()))
}
