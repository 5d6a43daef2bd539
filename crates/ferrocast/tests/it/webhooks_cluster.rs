//! Webhooks in a cluster of three nodes on Redis: a channel occupied (or a member present) on
//! several nodes is announced once for the cluster, and vacated once when the last node leaves.

use crate::harness::cluster::{node_config, unique_prefix, wait_meshed, REDIS};
use crate::harness::receiver::Receiver;
use crate::harness::{eventually_async, temp_dir, TestServer, WsClient};
use crate::webhooks_events::webhook_config;
use ferrocast::config::AdapterKind;
use serde_json::{json, Value};

fn count(events: &[Value], name: &str, channel: &str) -> usize {
    events
        .iter()
        .filter(|e| e["name"] == name && e["channel"] == channel)
        .count()
}

#[tokio::test]
async fn channel_occupied_and_member_added_fire_once_for_three_nodes() {
    let receiver = Receiver::start().await;
    let (app, _) = webhook_config(&receiver, vec![]);
    let prefix = unique_prefix();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let mut cfg = node_config(AdapterKind::Redis, REDIS, &prefix, vec![app.clone()]);
        cfg.data_dir = temp_dir("webhooks-cluster");
        cfg.webhooks.batch_ms = 10;
        nodes.push(TestServer::with_config(cfg).await);
    }
    wait_meshed(&nodes).await;
    let mut clients: Vec<WsClient> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let mut c = node.connect("test-key").await;
        c.subscribe("shared-room").await;
        c.join(&app, "presence-shared", "same-user", json!(null))
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
            && count(&e, "channel_vacated", "barrier-2") == 1
    })
    .await;
    let events = receiver.events();
    assert_eq!(count(&events, "channel_vacated", "shared-room"), 1);
    assert_eq!(count(&events, "channel_vacated", "presence-shared"), 1);
    assert_eq!(count(&events, "member_removed", "presence-shared"), 1);
}
