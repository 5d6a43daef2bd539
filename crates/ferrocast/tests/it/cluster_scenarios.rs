//! Cluster behaviour, written once and run on each adapter (`cluster_redis`, `cluster_nats`):
//! three real nodes sharing the machine's broker under a unique prefix.

use crate::harness::cluster::{nodes, unique_prefix, wait_meshed};
use crate::harness::process::{self, ProcessNode};
use crate::harness::{eventually_async, test_app, watchlist_events, TestServer, WsClient};
use ferrocast::config::{AdapterKind, AppConfig};
use serde_json::json;

fn added(f: &serde_json::Value) -> String {
    let d: serde_json::Value =
        serde_json::from_str(f["data"].as_str().expect("string")).expect("json");
    d["user_id"].as_str().expect("user_id").to_owned()
}

pub async fn publish_reaches_every_node_once(adapter: AdapterKind, addr: &str) {
    let n = nodes(adapter, addr, &unique_prefix(), vec![test_app()], 3).await;
    let mut on_b = n[1].connect("test-key").await;
    let mut on_c = n[2].connect("test-key").await;
    let mut also_c = n[2].connect("test-key").await;
    for c in [&mut on_b, &mut on_c, &mut also_c] {
        c.subscribe("news").await;
    }
    let api_a = n[0].api(&test_app());
    api_a.publish("news", "e", "from a").await;
    for c in [&mut on_b, &mut on_c, &mut also_c] {
        assert_eq!(c.expect("e").await["data"], "from a");
    }
    // socket_id exclusion crosses nodes.
    let (status, _) = api_a
        .post(
            "/events",
            json!({"name": "e2", "channel": "news", "data": "x", "socket_id": on_c.socket_id}),
        )
        .await;
    assert_eq!(status, 200);
    on_b.expect("e2").await;
    also_c.expect("e2").await;
    on_c.expect_silence().await;
    on_b.expect_silence().await;
    // Client events from C reach B, not the sender.
    let app = test_app();
    on_b.subscribe_private(&app, "private-chat").await;
    on_c.subscribe_private(&app, "private-chat").await;
    crate::harness::eventually_async("b's subscription to be counted cluster-wide", || async {
        n[2].api(&app)
            .get("/channels/private-chat", &[("info", "subscription_count")])
            .await
            .1["subscription_count"]
            == 2
    })
    .await;
    on_c.send(json!({"event": "client-hi", "channel": "private-chat", "data": {"n": 1}}))
        .await;
    assert_eq!(on_b.expect("client-hi").await["data"], json!({"n": 1}));
    on_c.expect_silence().await;
}

pub async fn presence_is_one_membership(adapter: AdapterKind, addr: &str) {
    let app = test_app();
    let n = nodes(adapter, addr, &unique_prefix(), vec![app.clone()], 3).await;
    let mut alice = n[0].connect("test-key").await;
    alice
        .join(&app, "presence-room", "alice", json!({"name": "A"}))
        .await;
    let mut bob = n[1].connect("test-key").await;
    let list = bob.join(&app, "presence-room", "bob", json!({})).await;
    // Alice's join may still be crossing the bus when bob subscribes; once it has, bob hears it
    // as member_added, so bob ends up knowing alice either way.
    if list["count"] == 1 {
        assert_eq!(
            added(&bob.expect("pusher_internal:member_added").await),
            "alice"
        );
    } else {
        assert_eq!(list["hash"]["alice"], json!({"name": "A"}));
    }
    assert_eq!(
        added(&alice.expect("pusher_internal:member_added").await),
        "bob"
    );
    // Bob on a second node is still one member.
    let mut bob2 = n[2].connect("test-key").await;
    bob2.join(&app, "presence-room", "bob", json!({})).await;
    eventually_async("node c to know both members", || async {
        n[2].api(&app)
            .get("/channels/presence-room/users", &[])
            .await
            .1
            == json!({"users": [{"id": "alice"}, {"id": "bob"}]})
    })
    .await;
    alice.expect_silence().await;
    for node in &n {
        let (_, body) = node
            .api(&app)
            .get(
                "/channels/presence-room",
                &[("info", "user_count,subscription_count")],
            )
            .await;
        assert_eq!(
            body,
            json!({"occupied": true, "user_count": 2, "subscription_count": 3}),
            "from every node"
        );
    }
    drop(bob);
    alice.expect_silence().await;
    drop(bob2);
    let removed = alice.expect("pusher_internal:member_removed").await;
    assert_eq!(added(&removed), "bob");
    alice.expect_silence().await;
}

pub async fn queries_terminate_and_cache_are_cluster_wide(adapter: AdapterKind, addr: &str) {
    let app = test_app();
    let n = nodes(adapter, addr, &unique_prefix(), vec![app.clone()], 3).await;
    let mut a = n[0].connect("test-key").await;
    let mut b = n[1].connect("test-key").await;
    a.subscribe("alpha").await;
    b.subscribe("alpha").await;
    b.subscribe("beta").await;
    let api_c = n[2].api(&app);
    eventually_async("the channel list from node c", || async {
        api_c.get("/channels", &[("info", "subscription_count")]).await.1
            == json!({"channels": {"alpha": {"subscription_count": 2}, "beta": {"subscription_count": 1}}})
    })
    .await;
    let (_, info) = api_c
        .post("/events", json!({"name": "e", "channels": ["alpha", "beta"], "data": "d", "info": "subscription_count"}))
        .await;
    assert_eq!(
        info,
        json!({"channels": {"alpha": {"subscription_count": 2}, "beta": {"subscription_count": 1}}})
    );
    assert_eq!(a.expect("e").await["data"], "d");
    b.expect("e").await;
    b.expect("e").await;

    // Cache channels: published on c, replayed to a new subscriber on a.
    api_c.publish("cache-price", "tick", "42").await;
    let mut late = n[0].connect("test-key").await;
    eventually_async("node a to have the cached event", || async {
        n[0].api(&app)
            .get("/channels/cache-price", &[("info", "cache")])
            .await
            .1["cache"]["data"]
            == "42"
    })
    .await;
    late.subscribe("cache-price").await;
    assert_eq!(late.expect("tick").await["data"], "42");

    // Terminating a user reaches its sockets on every node.
    let mut u_on_a = n[0].connect("test-key").await;
    let mut u_on_b = n[1].connect("test-key").await;
    u_on_a.signin(&app, json!({"id": "u"})).await;
    u_on_b.signin(&app, json!({"id": "u"})).await;
    let (status, _) = api_c
        .post("/users/u/terminate_connections", json!({}))
        .await;
    assert_eq!(status, 200);
    u_on_a.expect_error_and_close(4009).await;
    u_on_b.expect_error_and_close(4009).await;
    a.expect_silence().await;
}

pub async fn connection_limit_counts_the_cluster(adapter: AdapterKind, addr: &str) {
    let app = AppConfig {
        max_connections: 2,
        ..test_app()
    };
    let n = nodes(adapter, addr, &unique_prefix(), vec![app.clone()], 3).await;
    let _a = n[0].connect("test-key").await;
    let _b = n[1].connect("test-key").await;
    let c_app = n[2].shared.apps.by_key("test-key").expect("app");
    // Node c learns the others' counts from their heartbeats.
    eventually_async("node c to hear the others' connection counts", || async {
        let slot = c_app.try_connect();
        slot.is_none()
    })
    .await;
    let mut third = crate::harness::WsClient::open(&n[2].ws_url("test-key", "protocol=7")).await;
    third.expect_error_and_close(4004).await;
}

pub async fn start_node(
    adapter: AdapterKind,
    addr: &str,
    prefix: &str,
    app: &AppConfig,
) -> TestServer {
    TestServer::with_config(crate::harness::cluster::node_config(
        adapter,
        addr,
        prefix,
        vec![app.clone()],
    ))
    .await
}

/// A node run as its own process on `adapter`, so it can be killed with SIGKILL.
pub fn process_node(adapter: AdapterKind, addr: &str, prefix: &str) -> ProcessNode {
    process::spawn(prefix, &process_node_toml(adapter, addr, prefix))
}

/// The configuration of `process_node`; it ends inside the app's `[[apps]]` table, so an
/// `[[apps.webhooks]]` table appended belongs to the app.
pub fn process_node_toml(adapter: AdapterKind, addr: &str, prefix: &str) -> String {
    let (kind, url) = match adapter {
        AdapterKind::Nats => ("nats", format!("nats_url = \"nats://{addr}\"")),
        _ => ("redis", format!("redis_url = \"redis://{addr}\"")),
    };
    format!(
        "app_store = \"config\"\n[cluster]\nadapter = \"{kind}\"\n{url}\n\
         prefix = \"{prefix}\"\nheartbeat_ms = 200\nnode_timeout_ms = 1500\n\n[[apps]]\nid = \"test-app\"\n\
         key = \"test-key\"\nsecret = \"test-secret\"\n"
    )
}

pub async fn watchlists_see_the_whole_cluster(adapter: AdapterKind, addr: &str) {
    let app = test_app();
    let prefix = unique_prefix();
    let n = nodes(adapter, addr, &prefix, vec![app.clone()], 2).await;
    let mut bob_b = n[1].connect("test-key").await;
    bob_b.signin(&app, json!({"id": "bob"})).await;
    // Bob's sign-in on b reaches a, so a new watcher on a sees him online at once.
    eventually_async("a to know bob is signed in on b", || async {
        let mut probe = n[0].connect("test-key").await;
        probe
            .signin(&app, json!({"id": "probe", "watchlist": ["bob"]}))
            .await;
        watchlist_events(&probe.next_event().await)
            == json!([{"name": "online", "user_ids": ["bob"]}])
    })
    .await;
    let mut alice = n[0].connect("test-key").await;
    alice
        .signin(&app, json!({"id": "alice", "watchlist": ["bob", "carol"]}))
        .await;
    assert_eq!(
        watchlist_events(&alice.next_event().await),
        json!([{"name": "online", "user_ids": ["bob"]}, {"name": "offline", "user_ids": ["carol"]}])
    );
    // Bob on a second node changes nothing; he is offline only when his last socket goes.
    let mut bob_a = n[0].connect("test-key").await;
    bob_a.signin(&app, json!({"id": "bob"})).await;
    alice.expect_silence().await;
    drop(bob_b);
    alice.expect_silence().await;
    drop(bob_a);
    assert_eq!(
        watchlist_events(&alice.next_event().await),
        json!([{"name": "offline", "user_ids": ["bob"]}])
    );

    // Carol signs in on a node that then dies without a goodbye.
    let mut victim = process_node(adapter, addr, &prefix);
    eventually_async("the new node to join", || async {
        n.iter().all(|s| s.shared.cluster.peers().len() == 2)
    })
    .await;
    let mut carol = WsClient::connect(&format!(
        "ws://127.0.0.1:{}/app/test-key?protocol=7",
        victim.port
    ))
    .await;
    carol.signin(&app, json!({"id": "carol"})).await;
    assert_eq!(
        watchlist_events(&alice.next_event().await),
        json!([{"name": "online", "user_ids": ["carol"]}])
    );
    victim.child.kill().expect("SIGKILL");
    let offline = alice
        .wait_for_within(
            "pusher_internal:watchlist_events",
            std::time::Duration::from_secs(10),
        )
        .await;
    assert_eq!(
        watchlist_events(&offline),
        json!([{"name": "offline", "user_ids": ["carol"]}])
    );
    drop(carol);
    alice.expect_silence().await;
}

pub async fn a_late_node_serves_the_cached_event(adapter: AdapterKind, addr: &str) {
    let app = test_app();
    let prefix = unique_prefix();
    let mut n = nodes(adapter, addr, &prefix, vec![app.clone()], 2).await;
    n[0].api(&app).publish("cache-late", "tick", "42").await;
    eventually_async("node b to keep the published event", || async {
        n[1].api(&app)
            .get("/channels/cache-late", &[("info", "cache")])
            .await
            .1["cache"]["data"]
            == "42"
    })
    .await;
    // Started after the publish: it never saw it, and asks the others on the first subscribe.
    n.push(start_node(adapter, addr, &prefix, &app).await);
    wait_meshed(&n).await;
    let mut late = n[2].connect("test-key").await;
    late.subscribe("cache-late").await;
    assert_eq!(late.expect("tick").await["data"], "42");
    // Now kept on the new node too, and later publishes follow in order.
    n[0].api(&app).publish("cache-late", "tick", "43").await;
    assert_eq!(late.expect("tick").await["data"], "43");
    let mut later = n[2].connect("test-key").await;
    later.subscribe("cache-late").await;
    assert_eq!(later.expect("tick").await["data"], "43");
    // A channel no node has an event for is still a miss.
    late.subscribe("cache-empty").await;
    late.expect("pusher:cache_miss").await;
    late.expect_silence().await;
}
