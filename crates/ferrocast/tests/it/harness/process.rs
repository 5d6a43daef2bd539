//! The real `ferrocast` binary as a child process, for what an in-process server cannot show:
//! signals (SIGTERM drains, a second signal), SIGKILL, its log output, and its memory alone
//! (`/proc/<pid>/status`), apart from the test's clients.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

pub struct ProcessNode {
    pub child: Child,
    pub port: u16,
    pub ops_port: u16,
    /// Everything the server wrote to stdout and stderr so far.
    output: Arc<Mutex<String>>,
}

impl Drop for ProcessNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server's memory, from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// Resident now (`VmRSS`).
    pub rss_kib: u64,
    /// The most ever resident (`VmHWM`), so a spike that was freed again still shows.
    pub peak_kib: u64,
}

impl ProcessNode {
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn memory(&self) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/<pid>/status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("{name} in /proc/<pid>/status"))
        };
        Memory {
            rss_kib: field("VmRSS:"),
            peak_kib: field("VmHWM:"),
        }
    }

    /// Asserts that neither the resident memory nor its peak grew by more than `mib` since
    /// `before` — the measure of "memory stays bounded" under an attack.
    pub fn assert_memory_within(&self, before: Memory, mib: u64, what: &str) {
        let now = self.memory();
        let grew = now.peak_kib.saturating_sub(before.rss_kib) / 1024;
        let held = now.rss_kib.saturating_sub(before.rss_kib) / 1024;
        eprintln!("{what}: rss {before:?} -> {now:?} (peak +{grew} MiB, held +{held} MiB)");
        assert!(
            grew <= mib && held <= mib,
            "{what}: memory grew by {grew} MiB at peak, {held} MiB held (bound {mib} MiB)"
        );
    }

    /// The server's stdout and stderr so far.
    pub fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }
}

/// Starts `ferrocast serve` on loopback with `toml` as its configuration, in a temp dir named
/// after `name`, and waits for the ports it prints.
pub fn spawn(name: &str, toml: &str) -> ProcessNode {
    spawn_with_env(name, toml, &[])
}

/// Like `spawn`, with extra environment variables.
pub fn spawn_with_env(name: &str, toml: &str, env: &[(&str, &str)]) -> ProcessNode {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("ferrocast-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cfg = dir.join("ferrocast.toml");
    std::fs::write(&cfg, toml).expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrocast"))
        .args([
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--metrics-port",
            "0",
            "--config",
        ])
        .arg(&cfg)
        .envs(env.iter().copied())
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferrocast");
    let output = Arc::new(Mutex::new(String::new()));
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let port_after = |line: &str, prefix: &str| {
        line.strip_prefix(prefix)
            .and_then(|rest| rest.rsplit(':').next())
            .and_then(|p| p.parse::<u16>().ok())
    };
    let (mut port, mut ops_port) = (None, None);
    while port.is_none() || ops_port.is_none() {
        let line = lines.next().expect("server output").expect("line");
        port = port.or_else(|| port_after(&line, "Ferrocast listening on http://"));
        ops_port = ops_port.or_else(|| port_after(&line, "Metrics, health and usage on http://"));
        append(&output, &line);
    }
    // Keep draining both pipes so the server never blocks on a full one.
    let out = output.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            append(&out, &line);
        }
    });
    let mut stderr = child.stderr.take().expect("stderr");
    let err = output.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = stderr.read(&mut buf) {
            if let Ok(mut o) = err.lock() {
                o.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    });
    ProcessNode {
        child,
        port: port.expect("port"),
        ops_port: ops_port.expect("ops port"),
        output,
    }
}

fn append(output: &Mutex<String>, line: &str) {
    if let Ok(mut o) = output.lock() {
        o.push_str(line);
        o.push('\n');
    }
}
