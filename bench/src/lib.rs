//! Ferrocast's benchmark suite: a Pusher-protocol (v7) load generator that drives a running
//! server over real loopback sockets (scenarios in `scenarios/`, one JSON line each), the
//! report writer that turns those lines into BENCHMARKS.md, a slow webhook receiver
//! (`receiver.rs`), and `null`, a minimal broadcaster that shows what the machine can do at all.

pub mod client;
pub mod http;
pub mod null;
pub mod proto;
pub mod publish;
pub mod receiver;
pub mod report;
pub mod scenarios;
pub mod stats;
pub mod ws;

/// Seconds since the Unix epoch (for request signatures).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Raises this process's open-file limit to its hard limit; returns the limit in force.
pub fn raise_nofile_limit() -> u64 {
    let mut l = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: get/setrlimit on a live stack struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
        }
    }
    l.rlim_cur
}

/// Ends the process after `budget`, whatever it is doing: every run stops by itself.
pub fn watchdog(budget: std::time::Duration, what: &'static str) {
    std::thread::spawn(move || {
        std::thread::sleep(budget);
        println!("{}", serde_json::json!({ "error": format!("watchdog: {what} exceeded its {}s budget", budget.as_secs()) }));
        std::process::exit(3);
    });
}
