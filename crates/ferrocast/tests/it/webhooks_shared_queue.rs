//! The webhook queue shared through Redis: a node killed with SIGKILL leaves its pending
//! requests to another node, which sends them in order, each once; and a dead letter made on
//! one node is listed and replayed through another node's API.

use crate::harness::cluster::{node_config, unique_prefix, REDIS};
use crate::harness::process::{self, ProcessNode};
use crate::harness::receiver::Receiver;
use crate::harness::{eventually_async, temp_dir, test_app, ApiClient, TestServer, WsClient};
use ferrocast::config::{AdapterKind, AppConfig, WebhookEndpoint};
use ferrocast_protocol::webhook::EventType;
use serde_json::{json, Value};

/// The test app, sending `channel_occupied` only (so a later `channel_vacated` for the killed
/// node's channels, from whichever node notices, does not change what is counted) to `url`.
fn app(url: &str) -> AppConfig {
    AppConfig {
        webhooks: vec![WebhookEndpoint {
            url: url.to_owned(),
            event_types: vec![EventType::ChannelOccupied],
            channel_prefixes: vec![],
        }],
        ..test_app()
    }
}

/// Node A, as its own process (so it can be killed), on the Redis adapter under `prefix`:
/// one event per request, quick retries, `max_attempts` attempts.
fn process_node(prefix: &str, url: &str, max_attempts: u32) -> ProcessNode {
    let toml = format!(
        "app_store = \"config\"\n[history]\nstore = \"memory\"\n\
         [cluster]\nadapter = \"redis\"\nredis_url = \"redis://{REDIS}\"\nprefix = \"{prefix}\"\n\
         heartbeat_ms = 200\nnode_timeout_ms = 1500\n\
         [webhooks]\nbatch_ms = 10\nbatch_max = 1\ntimeout_ms = 500\nmax_attempts = {max_attempts}\n\
         backoff_ms = 20\nbackoff_max_ms = 100\n\
         [[apps]]\nid = \"test-app\"\nkey = \"test-key\"\nsecret = \"test-secret\"\n\
         [[apps.webhooks]]\nurl = \"{url}\"\nevent_types = [\"channel_occupied\"]\n"
    );
    process::spawn(prefix, &toml)
}

/// Node B, in this process, with the same settings.
async fn in_process_node(prefix: &str, url: &str, max_attempts: u32) -> TestServer {
    let mut cfg = node_config(AdapterKind::Redis, REDIS, prefix, vec![app(url)]);
    cfg.data_dir = temp_dir("webhooks-shared");
    cfg.webhooks.batch_ms = 10;
    cfg.webhooks.batch_max = 1;
    cfg.webhooks.timeout_ms = 500;
    cfg.webhooks.max_attempts = max_attempts;
    cfg.webhooks.backoff_ms = 20;
    cfg.webhooks.backoff_max_ms = 100;
    TestServer::with_config(cfg).await
}

/// Requests waiting in the endpoint's line in Redis (the key layout of docs/webhooks.md).
async fn waiting(prefix: &str, url: &str) -> usize {
    let client = redis::Client::open(format!("redis://{REDIS}")).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    redis::cmd("LLEN")
        .arg(format!("{{{prefix}:webhooks}}:line:test-app {url}"))
        .query_async(&mut conn)
        .await
        .expect("LLEN")
}

fn channels(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["channel"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn kill(mut node: ProcessNode) {
    node.child.kill().expect("SIGKILL");
    node.child.wait().expect("reaped");
}

#[tokio::test]
async fn a_killed_nodes_webhooks_are_sent_by_another_node_in_order_once_each() {
    let mut receiver = Receiver::start().await;
    receiver.down();
    let url = receiver.url("/hook");
    let prefix = unique_prefix();
    let a = process_node(&prefix, &url, 1000);
    // B has no sockets, so every request it sends was queued by A.
    let b = in_process_node(&prefix, &url, 1000).await;
    let mut c = WsClient::connect(&format!(
        "ws://127.0.0.1:{}/app/test-key?protocol=7",
        a.port
    ))
    .await;
    let names: Vec<String> = (0..10).map(|i| format!("room-{i}")).collect();
    for n in &names {
        c.subscribe(n).await;
    }
    eventually_async("A's ten requests in the shared queue", || async {
        waiting(&prefix, &url).await == 10
    })
    .await;
    kill(a);
    drop(c);
    receiver.up().await;

    let events = receiver.wait_events(10).await;
    assert_eq!(channels(&events), names, "every event of A, in order");
    eventually_async("the line to empty", || async {
        waiting(&prefix, &url).await == 0
    })
    .await;
    // Nothing reached the receiver while it was down, and B holds each endpoint alone, so no
    // request can have been cut after it was received: none is sent twice.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(receiver.requests().len(), 10, "each request exactly once");
    assert!(
        receiver
            .accepted()
            .iter()
            .all(|r| r.json()["events"].as_array().is_some_and(|e| e.len() == 1)),
        "one event per request"
    );
    b.shutdown().await;
}

#[tokio::test]
async fn a_dead_letter_made_on_one_node_is_listed_and_replayed_through_another() {
    let receiver = Receiver::start().await;
    receiver.set_status(500);
    let url = receiver.url("/hook");
    let prefix = unique_prefix();
    let a = process_node(&prefix, &url, 1);
    let mut c = WsClient::connect(&format!(
        "ws://127.0.0.1:{}/app/test-key?protocol=7",
        a.port
    ))
    .await;
    c.subscribe("doomed").await;
    let api_a = ApiClient::new(format!("http://127.0.0.1:{}", a.port), app(&url));
    api_a
        .get_until("/webhooks/dead_letters", &[], |b| {
            b["dead_letters"].as_array().is_some_and(|l| l.len() == 1)
        })
        .await;
    kill(a);
    drop(c);

    // B starts after A is gone: the dead letter is in Redis, not on A.
    let b = in_process_node(&prefix, &url, 1).await;
    let api_b = b.api(&app(&url));
    let list = api_b
        .get_until("/webhooks/dead_letters", &[], |b| {
            b["dead_letters"].as_array().is_some_and(|l| !l.is_empty())
        })
        .await;
    let letters = list["dead_letters"].as_array().expect("list");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["url"], url);
    assert_eq!(
        (&letters[0]["attempts"], &letters[0]["last_error"]),
        (&json!(1), &json!("HTTP 500"))
    );
    assert_eq!(
        letters[0]["events"],
        json!([{"name": "channel_occupied", "channel": "doomed"}])
    );

    receiver.set_status(200);
    let (status, body) = api_b.post("/webhooks/dead_letters/replay", json!({})).await;
    assert_eq!((status, body), (200, json!({"replayed": 1})));
    let events = receiver.wait_events(1).await;
    assert_eq!(channels(&events), ["doomed"]);
    let (_, list) = api_b.get("/webhooks/dead_letters", &[]).await;
    assert_eq!(list, json!({"dead_letters": []}));
    assert_eq!(
        receiver.requests().len(),
        2,
        "one failed attempt (by A), one delivery (by B)"
    );
    b.shutdown().await;
}
