//! Shutdown of the real binary: SIGTERM drains (4200 to clients, not ready during the grace
//! period, exit 0), and a second signal exits at once.

use crate::harness::{WsClient, DEADLINE};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Binary {
    child: Child,
    port: u16,
    ops_port: u16,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(drain_grace: u64) -> Binary {
    let dir = std::env::temp_dir().join(format!(
        "ferrocast-shutdown-{}-{drain_grace}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let cfg = dir.join("ferrocast.toml");
    std::fs::write(
        &cfg,
        format!("drain_grace = {drain_grace}\nshutdown_timeout = 5\n"),
    )
    .expect("config");
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
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
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
    Binary {
        child,
        port: port.expect("port"),
        ops_port: ops_port.expect("ops port"),
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig} failed");
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[tokio::test]
async fn sigterm_drains_then_exits_cleanly() {
    let mut server = start(2);
    let url = format!("ws://127.0.0.1:{}/app/app-key?protocol=7", server.port);
    let mut c = WsClient::connect(&url).await;
    c.subscribe("news").await;
    signal(&server.child, "-TERM");
    c.expect_error_and_close(4200).await;
    let ready = reqwest::get(format!("http://127.0.0.1:{}/ready", server.ops_port))
        .await
        .expect("ready");
    assert_eq!(ready.status(), 503, "not ready while draining");
    let mut late = WsClient::open(&url).await;
    late.expect_error_and_close(4200).await;
    let status = wait_exit(&mut server.child, DEADLINE + Duration::from_secs(5))
        .expect("exits after the drain");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn a_second_signal_exits_at_once() {
    let mut server = start(60);
    signal(&server.child, "-TERM");
    // The drain would take a minute; the second signal cuts it short.
    let ready_url = format!("http://127.0.0.1:{}/ready", server.ops_port);
    let end = Instant::now() + DEADLINE;
    while reqwest::get(&ready_url)
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
        != 503
    {
        assert!(Instant::now() < end, "never started draining");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(&server.child, "-INT");
    let status = wait_exit(&mut server.child, Duration::from_secs(3)).expect("exits at once");
    assert_eq!(status.code(), Some(130));
}
