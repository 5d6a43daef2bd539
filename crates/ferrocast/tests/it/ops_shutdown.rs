//! Shutdown of the real binary: SIGTERM drains (4200 to clients, not ready during the grace
//! period, exit 0), and a second signal exits at once.

use crate::harness::process::{self, ProcessNode};
use crate::harness::{WsClient, DEADLINE};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

fn start(drain_grace: u64) -> ProcessNode {
    let toml =
        format!("app_store = \"config\"\ndrain_grace = {drain_grace}\nshutdown_timeout = 5\n");
    process::spawn(&format!("shutdown-{drain_grace}"), &toml)
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
