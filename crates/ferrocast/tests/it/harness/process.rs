//! The real `ferrocast` binary as a child process, for what an in-process server cannot show:
//! signals (SIGTERM drains, a second signal) and SIGKILL.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct ProcessNode {
    pub child: Child,
    pub port: u16,
    pub ops_port: u16,
}

impl Drop for ProcessNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `ferrocast serve` on loopback with `toml` as its configuration, in a temp dir named
/// after `name`, and waits for the ports it prints.
pub fn spawn(name: &str, toml: &str) -> ProcessNode {
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
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ferrocast");
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
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    ProcessNode {
        child,
        port: port.expect("port"),
        ops_port: ops_port.expect("ops port"),
    }
}
