//! `ferrocast-bench`: runs one benchmark scenario against a Pusher-protocol server on loopback
//! and prints one JSON line of results on stdout (progress on stderr), or writes the report.
//! Every scenario is bounded in time by a watchdog.

use clap::{Parser, Subcommand};
use ferrocast_bench::scenarios::{churn, events, fanout, idle, soak};
use ferrocast_bench::{raise_nofile_limit, receiver, report, watchdog};
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(about = "Ferrocast benchmarks over real sockets (Pusher protocol v7, loopback only)")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    /// Runtime threads (default: all CPUs).
    #[arg(long, global = true)]
    threads: Option<usize>,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// (a) N subscribed connections held idle: server RSS per connection.
    Idle(idle::IdleArgs),
    /// (e) connect + subscribe rate and latency for N connections.
    Connect(idle::IdleArgs),
    /// (b) N subscribers on one channel, events published through the HTTP API.
    Fanout(fanout::FanoutArgs),
    /// (c) N connections each on its own channel (--channels defaults to -n), publishes spread.
    Channels(fanout::FanoutArgs),
    /// (d) client events relayed among the members of a presence channel.
    ClientEvents(events::EventsArgs),
    /// (f) joins and leaves on a presence channel with N steady members.
    PresenceChurn(churn::ChurnArgs),
    /// Connections churning for minutes; server RSS before, during and after.
    Soak(soak::SoakArgs),
    /// A webhook receiver that answers each request late (for `bench/webhooks.sh`).
    SlowReceiver(receiver::ReceiverArgs),
    /// Writes BENCHMARKS.md from result files (no network).
    Report(report::ReportArgs),
}

fn main() {
    let cli = Cli::parse();
    let (name, limit): (&'static str, Duration) = match &cli.scenario {
        Scenario::Idle(a) | Scenario::Connect(a) => ("scenario", a.budget()),
        Scenario::Fanout(a) | Scenario::Channels(a) => ("scenario", a.budget()),
        Scenario::ClientEvents(a) => ("scenario", a.budget()),
        Scenario::PresenceChurn(a) => ("scenario", a.budget()),
        Scenario::Soak(a) => ("soak", a.budget()),
        Scenario::SlowReceiver(a) => ("slow-receiver", Duration::from_secs(a.max_seconds)),
        Scenario::Report(a) => {
            if let Err(e) = report::run(a) {
                eprintln!("ferrocast-bench report: {e}");
                std::process::exit(1);
            }
            return;
        }
    };
    watchdog(limit, name);
    let nofile = raise_nofile_limit();
    let threads = cli.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferrocast-bench: runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = rt.block_on(async move {
        match cli.scenario {
            Scenario::Idle(a) => idle::run(a, true).await,
            Scenario::Connect(a) => idle::run(a, false).await,
            Scenario::Fanout(a) => fanout::run(a).await,
            Scenario::Channels(mut a) => {
                if a.channels == 1 {
                    a.channels = a.connections;
                }
                fanout::run(a).await
            }
            Scenario::ClientEvents(a) => events::run(a).await,
            Scenario::PresenceChurn(a) => churn::run(a).await,
            Scenario::Soak(a) => soak::run(a).await,
            Scenario::SlowReceiver(a) => receiver::run(a).await,
            Scenario::Report(_) => unreachable!("handled above"),
        }
    });
    match result {
        Ok(mut v) => {
            if let Some(o) = v.as_object_mut() {
                o.insert("nofile_limit".into(), nofile.into());
                o.insert("bench_threads".into(), threads.into());
            }
            println!("{v}");
            std::process::exit(0);
        }
        Err(e) => {
            println!("{}", serde_json::json!({ "error": e }));
            std::process::exit(1);
        }
    }
}
