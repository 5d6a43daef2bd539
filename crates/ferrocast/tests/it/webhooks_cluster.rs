//! Webhooks in a cluster, on Redis and on NATS (JetStream KV), each scenario written once: a
//! channel occupied (or a member present) on several nodes is announced once for the cluster
//! and vacated once when the last node leaves; a node killed with SIGKILL has its channels and
//! members vacated once by the survivors, after which the channel can be occupied again; and a
//! cluster restarted as a whole clears what its killed predecessor held.

use crate::cluster_scenarios::process_node_toml;
use crate::harness::cluster::{node_config, unique_prefix, wait_meshed};
use crate::harness::process::{self, ProcessNode};
use crate::harness::receiver::Receiver;
use crate::harness::{eventually_async, temp_dir, TestServer, WsClient};
use crate::webhooks_events::webhook_config;
use ferrocast::config::{AdapterKind, AppConfig};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn count(events: &[Value], name: &str, channel: &str) -> usize {
    events
        .iter()
        .filter(|e| e["name"] == name && e["channel"] == channel)
        .count()
}

async fn webhook_node(
    adapter: AdapterKind,
    addr: &str,
    prefix: &str,
    app: &AppConfig,
) -> TestServer {
    let mut cfg = node_config(adapter, addr, prefix, vec![app.clone()]);
    cfg.data_dir = temp_dir("webhooks-cluster");
    cfg.webhooks.batch_ms = 10;
    TestServer::with_config(cfg).await
}

/// What every scenario starts from: a webhook receiver, the app sending to it, a prefix of its
/// own, and the broker cleaned of that prefix at the end.
struct Scenario {
    receiver: Receiver,
    app: AppConfig,
    prefix: String,
    _cleanup: BrokerCleanup,
}

impl Scenario {
    async fn new(adapter: AdapterKind, addr: &'static str) -> Self {
        let receiver = Receiver::start().await;
        let (app, _) = webhook_config(&receiver, vec![]);
        let prefix = unique_prefix();
        Self {
            receiver,
            app,
            _cleanup: BrokerCleanup {
                adapter,
                addr,
                prefix: prefix.clone(),
            },
            prefix,
        }
    }
}

async fn connect(node: &ProcessNode) -> WsClient {
    WsClient::connect(&format!(
        "ws://127.0.0.1:{}/app/test-key?protocol=7",
        node.port
    ))
    .await
}

/// A node in its own process (so it can be killed), sending webhooks to `receiver`.
fn webhook_process(
    adapter: AdapterKind,
    addr: &str,
    prefix: &str,
    receiver: &Receiver,
) -> ProcessNode {
    let toml = format!(
        "{}\n[[apps.webhooks]]\nurl = \"{}\"\n\n[webhooks]\nbatch_ms = 10\n",
        process_node_toml(adapter, addr, prefix),
        receiver.url("/hook")
    );
    process::spawn(prefix, &toml)
}

/// Removes what a test left in the shared broker under its prefix when dropped, so a failing
/// test leaves nothing behind either.
struct BrokerCleanup {
    adapter: AdapterKind,
    addr: &'static str,
    prefix: String,
}

impl Drop for BrokerCleanup {
    fn drop(&mut self) {
        let (adapter, addr, prefix) = (self.adapter, self.addr, self.prefix.clone());
        // Drop cannot await, and may run inside the test's runtime: clean up on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(clean_broker(adapter, addr, &prefix));
        })
        .join();
    }
}

async fn clean_broker(adapter: AdapterKind, addr: &str, prefix: &str) {
    match adapter {
        AdapterKind::Redis => {
            let Ok(client) = redis::Client::open(format!("redis://{addr}")) else {
                return;
            };
            let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
                return;
            };
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}:*"))
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: redis::RedisResult<()> =
                    redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
            }
        }
        AdapterKind::Nats => {
            let Ok(client) = async_nats::connect(addr).await else {
                return;
            };
            let js = async_nats::jetstream::new(client);
            for suffix in ["", "_live"] {
                let _ = js
                    .delete_key_value(format!("{prefix}_occupancy{suffix}"))
                    .await;
            }
        }
        AdapterKind::Local => {}
    }
}

async fn occupied_once_for_three_nodes(adapter: AdapterKind, addr: &'static str) {
    let scenario = Scenario::new(adapter, addr).await;
    let (receiver, app, prefix) = (&scenario.receiver, &scenario.app, scenario.prefix.as_str());
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(webhook_node(adapter, addr, prefix, app).await);
    }
    wait_meshed(&nodes).await;
    let mut clients: Vec<WsClient> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let mut c = node.connect("test-key").await;
        c.subscribe("shared-room").await;
        c.join(app, "presence-shared", "same-user", json!(null))
            .await;
        // Each node's events go out in order, so its barrier arrives after its other events.
        c.subscribe(&format!("barrier-{i}")).await;
        clients.push(c);
    }
    eventually_async("every node's barrier", || async {
        let e = receiver.events();
        (0..3).all(|i| count(&e, "channel_occupied", &format!("barrier-{i}")) == 1)
    })
    .await;
    let events = receiver.events();
    assert_eq!(count(&events, "channel_occupied", "shared-room"), 1);
    assert_eq!(count(&events, "channel_occupied", "presence-shared"), 1);
    assert_eq!(count(&events, "member_added", "presence-shared"), 1);
    assert_eq!(count(&events, "channel_vacated", "shared-room"), 0);

    let last = clients.pop().expect("third client");
    for mut c in clients {
        c.unsubscribe("shared-room").await;
        c.unsubscribe("presence-shared").await;
    }
    drop(last);
    eventually_async("the last node's departure", || async {
        let e = receiver.events();
        count(&e, "channel_vacated", "shared-room") == 1
            && count(&e, "member_removed", "presence-shared") == 1
            && (0..3).all(|i| count(&e, "channel_vacated", &format!("barrier-{i}")) == 1)
    })
    .await;
    let events = receiver.events();
    assert_eq!(count(&events, "channel_vacated", "shared-room"), 1);
    assert_eq!(count(&events, "channel_vacated", "presence-shared"), 1);
    assert_eq!(count(&events, "member_removed", "presence-shared"), 1);
    for node in nodes {
        node.shutdown().await;
    }
}

async fn killed_node_is_vacated_once(adapter: AdapterKind, addr: &'static str) {
    let scenario = Scenario::new(adapter, addr).await;
    let (receiver, app, prefix) = (&scenario.receiver, &scenario.app, scenario.prefix.as_str());
    // Two survivors, so two reapers race for the dead node.
    let survivors = [
        webhook_node(adapter, addr, prefix, app).await,
        webhook_node(adapter, addr, prefix, app).await,
    ];
    let mut victim = webhook_process(adapter, addr, prefix, receiver);
    eventually_async("the victim to join", || async {
        survivors
            .iter()
            .all(|s| s.shared.cluster.peers().len() == 2)
    })
    .await;
    let mut on_victim = connect(&victim).await;
    on_victim.subscribe("solo-room").await;
    on_victim
        .join(app, "presence-solo", "user with spaces", json!(null))
        .await;
    eventually_async("the victim's occupied events", || async {
        let e = receiver.events();
        count(&e, "channel_occupied", "solo-room") == 1
            && count(&e, "channel_occupied", "presence-solo") == 1
            && count(&e, "member_added", "presence-solo") == 1
    })
    .await;

    victim.child.kill().expect("SIGKILL");
    victim.child.wait().expect("reaped");
    let killed = Instant::now();
    eventually_async("the survivors to vacate the victim's channels", || async {
        let e = receiver.events();
        count(&e, "channel_vacated", "solo-room") == 1
            && count(&e, "channel_vacated", "presence-solo") == 1
            && count(&e, "member_removed", "presence-solo") == 1
    })
    .await;
    // node_timeout_ms (1500) + one heartbeat (200), plus batching and delivery.
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(5), "vacated after {took:?}");
    // Both survivors keep reaping; nothing is sent twice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let events = receiver.events();
    assert_eq!(count(&events, "channel_vacated", "solo-room"), 1);
    assert_eq!(count(&events, "channel_vacated", "presence-solo"), 1);
    let removed: Vec<&Value> = events
        .iter()
        .filter(|e| e["name"] == "member_removed")
        .collect();
    assert_eq!(removed.len(), 1, "{events:?}");
    assert_eq!(removed[0]["user_id"], "user with spaces");
    drop(on_victim);

    // The channel is free again: a new subscriber on a survivor occupies it.
    let mut again = survivors[0].connect("test-key").await;
    again.subscribe("solo-room").await;
    eventually_async("solo-room occupied again", || async {
        count(&receiver.events(), "channel_occupied", "solo-room") == 2
    })
    .await;
    drop(again);
    eventually_async("solo-room vacated again", || async {
        count(&receiver.events(), "channel_vacated", "solo-room") == 2
    })
    .await;
    for node in survivors {
        node.shutdown().await;
    }
}

/// The whole cluster dies (one node, killed) and a new one starts: the new node never heard of
/// the old one on the bus, yet clears what it held, from the shared store's liveness marks.
async fn restarted_cluster_vacates_what_the_dead_held(adapter: AdapterKind, addr: &'static str) {
    let scenario = Scenario::new(adapter, addr).await;
    let (receiver, app, prefix) = (&scenario.receiver, &scenario.app, scenario.prefix.as_str());
    let mut old = webhook_process(adapter, addr, prefix, receiver);
    let mut client = connect(&old).await;
    client.subscribe("lonely").await;
    eventually_async("the old node's occupied event", || async {
        count(&receiver.events(), "channel_occupied", "lonely") == 1
    })
    .await;
    old.child.kill().expect("SIGKILL");
    old.child.wait().expect("reaped");
    drop(client);
    let new = webhook_node(adapter, addr, prefix, app).await;
    eventually_async("the new node to vacate the old one's channel", || async {
        count(&receiver.events(), "channel_vacated", "lonely") == 1
    })
    .await;
    let mut again = new.connect("test-key").await;
    again.subscribe("lonely").await;
    eventually_async("lonely occupied again", || async {
        count(&receiver.events(), "channel_occupied", "lonely") == 2
    })
    .await;
    assert_eq!(count(&receiver.events(), "channel_vacated", "lonely"), 1);
    drop(again);
    new.shutdown().await;
}

/// Each scenario as two tests, `{scenario}::redis` and `{scenario}::nats`.
macro_rules! on_redis_and_nats {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use crate::harness::cluster::{NATS, REDIS};
            use ferrocast::config::AdapterKind;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                super::$scenario(AdapterKind::Redis, REDIS).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn nats() {
                super::$scenario(AdapterKind::Nats, NATS).await;
            }
        }
    )*};
}

on_redis_and_nats!(
    occupied_once_for_three_nodes,
    killed_node_is_vacated_once,
    restarted_cluster_vacates_what_the_dead_held,
);
