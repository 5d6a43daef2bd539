//! `null-broadcaster`: a minimal Pusher-protocol server for the benchmarks' baseline. It serves
//! WebSockets and HTTP publishes for any app on one loopback port, with no checks at all, and
//! writes pre-framed events straight to the subscribers' sockets. Never expose it.

use clap::Parser;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(about = "Minimal Pusher-protocol broadcaster: the benchmarks' floor (loopback only, no auth)")]
struct Cli {
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::Ipv4Addr,
    #[arg(long, default_value_t = 6001)]
    port: u16,
    /// Runtime threads (default: all CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Publishers write to each socket directly (one syscall per delivery) instead of
    /// queueing for the per-socket flushers (one syscall per batch).
    #[arg(long)]
    direct: bool,
    /// Exit after this many seconds (0 = run until stopped).
    #[arg(long, default_value_t = 0)]
    exit_after: u64,
}

fn main() {
    let cli = Cli::parse();
    if !cli.host.is_loopback() {
        eprintln!("null-broadcaster: refusing to listen on non-loopback {}", cli.host);
        std::process::exit(2);
    }
    ferrocast_bench::raise_nofile_limit();
    ferrocast_bench::null::DIRECT.store(cli.direct, std::sync::atomic::Ordering::Relaxed);
    if cli.exit_after > 0 {
        let d = Duration::from_secs(cli.exit_after);
        std::thread::spawn(move || {
            std::thread::sleep(d);
            std::process::exit(0);
        });
    }
    let threads = cli.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build();
    let result = rt.and_then(|rt| {
        rt.block_on(async {
            let sock = tokio::net::TcpSocket::new_v4()?;
            sock.set_reuseaddr(true)?;
            sock.bind((cli.host, cli.port).into())?;
            let listener = sock.listen(1024)?;
            println!("null-broadcaster listening on {}", listener.local_addr()?);
            ferrocast_bench::null::serve(listener).await
        })
    });
    if let Err(e) = result {
        eprintln!("null-broadcaster: {e}");
        std::process::exit(1);
    }
}
