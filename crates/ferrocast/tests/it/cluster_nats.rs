//! The cluster scenarios on the machine's NATS server.

use crate::cluster_scenarios as s;
use crate::harness::cluster::NATS;
use ferrocast::config::AdapterKind::Nats;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_reaches_every_node_once() {
    s::publish_reaches_every_node_once(Nats, NATS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_one_membership() {
    s::presence_is_one_membership(Nats, NATS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_terminate_and_cache_are_cluster_wide() {
    s::queries_terminate_and_cache_are_cluster_wide(Nats, NATS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_counts_the_cluster() {
    s::connection_limit_counts_the_cluster(Nats, NATS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchlists_see_the_whole_cluster() {
    s::watchlists_see_the_whole_cluster(Nats, NATS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_node_serves_the_cached_event() {
    s::a_late_node_serves_the_cached_event(Nats, NATS).await;
}

/// A private nats-server on a free loopback port that requires a user and password.
struct AuthNats {
    child: std::process::Child,
    port: u16,
}

impl Drop for AuthNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn auth_nats(user: &str, pass: &str) -> AuthNats {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = std::process::Command::new("nats-server")
        .args([
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--user",
            user,
            "--pass",
            pass,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nats-server on PATH");
    let server = AuthNats { child, port };
    crate::harness::eventually_async("nats-server to listen", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_nats_url_authenticate() {
    use crate::harness::cluster::{node_config, unique_prefix, wait_meshed};
    use crate::harness::{test_app, TestServer};
    let nats = auth_nats("ferro", "p@ss:w/rd+1").await;
    let prefix = unique_prefix();
    let node = |url: String| {
        let mut cfg = node_config(Nats, NATS, &prefix, vec![test_app()]);
        cfg.cluster.nats_url = url;
        TestServer::with_config(cfg)
    };
    let good = format!("nats://ferro:p%40ss%3Aw%2Frd+1@127.0.0.1:{}", nats.port);
    let nodes = vec![node(good.clone()).await, node(good).await];
    wait_meshed(&nodes).await;
    let mut on_b = nodes[1].connect("test-key").await;
    on_b.subscribe("news").await;
    nodes[0]
        .api(&test_app())
        .publish("news", "e", "through an authenticated bus")
        .await;
    on_b.expect("e").await;
    let refused = node(format!("nats://ferro:wrong@127.0.0.1:{}", nats.port)).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !refused.shared.cluster.is_connected(),
        "a wrong password must not connect"
    );
}
