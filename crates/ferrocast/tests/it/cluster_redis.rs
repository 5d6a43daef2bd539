//! The cluster scenarios on the machine's Redis, plus what only Redis tests here: a broker cut
//! under a running cluster, and a node killed with SIGKILL.

use crate::cluster_scenarios as s;
use crate::harness::cluster::{unique_prefix, wait_meshed, Proxy, REDIS};
use crate::harness::{eventually_async, test_app, WsClient};
use ferrocast::config::AdapterKind::Redis;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_reaches_every_node_once() {
    s::publish_reaches_every_node_once(Redis, REDIS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_one_membership() {
    s::presence_is_one_membership(Redis, REDIS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_terminate_and_cache_are_cluster_wide() {
    s::queries_terminate_and_cache_are_cluster_wide(Redis, REDIS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_counts_the_cluster() {
    s::connection_limit_counts_the_cluster(Redis, REDIS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchlists_see_the_whole_cluster() {
    s::watchlists_see_the_whole_cluster(Redis, REDIS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_node_serves_the_cached_event() {
    s::a_late_node_serves_the_cached_event(Redis, REDIS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_keeps_local_service_and_resyncs_after() {
    let app = test_app();
    let prefix = unique_prefix();
    let proxy = Proxy::start(REDIS).await;
    let nodes = [
        s::start_node(Redis, &proxy.addr.to_string(), &prefix, &app).await,
        s::start_node(Redis, REDIS, &prefix, &app).await,
    ];
    wait_meshed(&nodes).await;
    let [a, b] = &nodes;
    let mut alice = a.connect("test-key").await;
    alice.join(&app, "presence-room", "alice", json!({})).await;
    let mut bob = b.connect("test-key").await;
    bob.join(&app, "presence-room", "bob", json!({})).await;
    alice.wait_for("pusher_internal:member_added").await;
    let ready = |s: &crate::harness::TestServer| {
        let url = format!("http://{}/ready", s.ops_addr);
        async move {
            reqwest::get(url)
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    assert_eq!(ready(a).await, 200);

    proxy.cut();
    eventually_async("node a to notice the broker is gone", || async {
        ready(a).await == 503
    })
    .await;
    // Local clients are still served.
    a.api(&app)
        .publish("presence-room", "local", "still here")
        .await;
    assert_eq!(alice.wait_for("local").await["data"], "still here");
    // Node b stops hearing a's heartbeats and removes its members.
    let removed = bob.wait_for("pusher_internal:member_removed").await;
    assert!(
        removed["data"].as_str().expect("data").contains("alice"),
        "{removed}"
    );

    proxy.restore();
    eventually_async("node a to reconnect", || async { ready(a).await == 200 }).await;
    wait_meshed(&nodes).await;
    // Resynchronised: alice is a member for b again, and publishes cross again.
    let back = bob.wait_for("pusher_internal:member_added").await;
    assert!(
        back["data"].as_str().expect("data").contains("alice"),
        "{back}"
    );
    eventually_async("b to list alice again", || async {
        b.api(&app)
            .get("/channels/presence-room/users", &[])
            .await
            .1
            == json!({"users": [{"id": "alice"}, {"id": "bob"}]})
    })
    .await;
    a.api(&app).publish("presence-room", "cross", "again").await;
    assert_eq!(bob.wait_for("cross").await["data"], "again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_its_members_and_subscriptions_within_the_timeout() {
    let app = test_app();
    let prefix = unique_prefix();
    let a = s::start_node(Redis, REDIS, &prefix, &app).await;
    let mut victim = s::process_node(Redis, REDIS, &prefix);
    let mut watcher = a.connect("test-key").await;
    watcher
        .join(&app, "presence-room", "watcher", json!({}))
        .await;
    let url = format!("ws://127.0.0.1:{}/app/test-key?protocol=7", victim.port);
    let mut ghost = WsClient::connect(&url).await;
    ghost.join(&app, "presence-room", "ghost", json!({})).await;
    assert!(
        watcher.wait_for("pusher_internal:member_added").await["data"]
            .as_str()
            .expect("data")
            .contains("ghost")
    );
    let api = a.api(&app);
    eventually_async("a to count the ghost's subscription", || async {
        api.get("/channels/presence-room", &[("info", "subscription_count")])
            .await
            .1["subscription_count"]
            == 2
    })
    .await;

    victim.child.kill().expect("SIGKILL");
    let killed = Instant::now();
    let removed = watcher
        .wait_for_within("pusher_internal:member_removed", Duration::from_secs(10))
        .await;
    assert!(
        removed["data"].as_str().expect("data").contains("ghost"),
        "{removed}"
    );
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "removed after {:?}",
        killed.elapsed()
    );
    let (_, body) = api
        .get(
            "/channels/presence-room",
            &[("info", "user_count,subscription_count")],
        )
        .await;
    assert_eq!(
        body,
        json!({"occupied": true, "user_count": 1, "subscription_count": 1})
    );
    drop(ghost);
}
