//! The ways a cluster reaches Redis beyond a plain URL, each against real redis-server processes
//! started by the test on free loopback ports: TLS with a private CA, the master named by
//! Sentinel, and a three-node Redis Cluster whose nodes each carry part of the cluster.

use crate::harness::cluster::{node_config, unique_prefix, wait_meshed, REDIS};
use crate::harness::{eventually, test_app, TestServer};
use ferrocast::config::{AdapterKind, Config};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A redis-server child process, killed when dropped.
struct RedisProcess(Child);

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis_server(dir: &Path, port: u16, args: &[&str]) -> RedisProcess {
    let child = Command::new("redis-server")
        .args(args)
        .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is installed (scripts/services.sh)");
    let process = RedisProcess(child);
    wait_listening(port);
    process
}

fn wait_listening(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("redis-server did not listen on {port}");
}

/// A loopback port that is free now, and whose cluster-bus twin (port + 10000) is free too.
fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("ephemeral port")
            .port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

fn temp_dir(what: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferrocast-{what}-{}", unique_prefix()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn redis_config(url: String, prefix: &str) -> Config {
    let mut cfg = node_config(AdapterKind::Redis, REDIS, prefix, vec![test_app()]);
    cfg.cluster.redis_url = url;
    cfg
}

/// Two nodes from `configs`: a publish through the first reaches a subscriber on the second.
async fn publish_crosses(configs: [Config; 2]) {
    let [a, b] = configs;
    let nodes = [
        TestServer::with_config(a).await,
        TestServer::with_config(b).await,
    ];
    wait_meshed(&nodes).await;
    let mut on_b = nodes[1].connect("test-key").await;
    on_b.subscribe("news").await;
    nodes[0]
        .api(&test_app())
        .publish("news", "e", "across")
        .await;
    assert_eq!(on_b.expect("e").await["data"], "across");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_reach_redis_over_tls_with_a_private_ca() {
    let dir = temp_dir("redis-tls");
    let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("cert");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, c.cert.pem()).expect("cert file");
    std::fs::write(&key, c.signing_key.serialize_pem()).expect("key file");
    let port = free_port();
    let (port_s, cert_s, key_s) = (
        port.to_string(),
        cert.display().to_string(),
        key.display().to_string(),
    );
    let _redis = redis_server(
        &dir,
        port,
        &[
            "--port",
            "0",
            "--tls-port",
            &port_s,
            "--tls-cert-file",
            &cert_s,
            "--tls-key-file",
            &key_s,
            "--tls-ca-cert-file",
            &cert_s,
            "--tls-auth-clients",
            "no",
        ],
    );
    let prefix = unique_prefix();
    let url = format!("rediss://127.0.0.1:{port}");
    let tls = || {
        let mut cfg = redis_config(url.clone(), &prefix);
        cfg.cluster.redis_tls_ca_file = Some(cert.clone());
        cfg
    };
    publish_crosses([tls(), tls()]).await;

    // Without the CA the certificate is not trusted, so the node never gets on the bus.
    let untrusting = TestServer::with_config(redis_config(url.clone(), &unique_prefix())).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !untrusting.shared.cluster.is_connected(),
        "a node that does not trust the certificate must not connect"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_find_the_master_through_sentinel() {
    let dir = temp_dir("sentinel");
    let port = free_port();
    let master = format!("fc-{}", std::process::id());
    let conf = dir.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\nsentinel monitor {master} 127.0.0.1 6379 1\n\
             sentinel down-after-milliseconds {master} 60000\n"
        ),
    )
    .expect("sentinel.conf");
    let conf_s = conf.display().to_string();
    let _sentinel = redis_server(&dir, port, &[&conf_s, "--sentinel"]);
    let prefix = unique_prefix();
    let via_sentinel = || {
        // redis_url's address is unreachable on purpose: the master's comes from Sentinel.
        let mut cfg = redis_config("redis://127.0.0.1:1".into(), &prefix);
        cfg.cluster.redis_sentinels = vec![format!("redis://127.0.0.1:{port}")];
        cfg.cluster.redis_sentinel_master = master.clone();
        cfg
    };
    publish_crosses([via_sentinel(), via_sentinel()]).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_different_members_of_a_redis_cluster_are_one_cluster() {
    let dir = temp_dir("redis-cluster");
    let ports = [free_port(), free_port(), free_port()];
    let mut servers = Vec::new();
    for port in ports {
        let (p, file) = (port.to_string(), format!("nodes-{port}.conf"));
        servers.push(redis_server(
            &dir,
            port,
            &[
                "--port",
                &p,
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &file,
            ],
        ));
    }
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let created = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("redis-cli");
    assert!(created.success(), "redis-cli --cluster create failed");
    eventually("the Redis Cluster to be formed", || {
        ports.iter().all(|p| {
            Command::new("redis-cli")
                .args(["-p", &p.to_string(), "cluster", "info"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
                .unwrap_or(false)
        })
    })
    .await;
    let prefix = unique_prefix();
    publish_crosses([
        redis_config(format!("redis://{}", addrs[0]), &prefix),
        redis_config(format!("redis://{}", addrs[2]), &prefix),
    ])
    .await;
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);
}
