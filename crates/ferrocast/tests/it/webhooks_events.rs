//! Webhooks to a real HTTP receiver on loopback: every event type with its payload, signed as
//! the SDKs check it, filtered by type and channel prefix, and batched by size and delay.

use crate::harness::receiver::Receiver;
use crate::harness::{config, temp_dir, test_app, TestServer};
use ferrocast::config::{AppConfig, Config, WebhookEndpoint};
use ferrocast_protocol::signature;
use ferrocast_protocol::webhook::EventType;
use serde_json::{json, Value};

/// A server whose test app posts the `types` (all when empty) to `receiver`, with a private
/// data directory and short batching.
pub fn webhook_config(receiver: &Receiver, types: Vec<EventType>) -> (AppConfig, Config) {
    let app = AppConfig {
        webhooks: vec![WebhookEndpoint {
            url: receiver.url("/hook"),
            event_types: types,
            channel_prefixes: vec![],
        }],
        ..test_app()
    };
    let mut cfg = config(vec![app.clone()]);
    cfg.data_dir = temp_dir("webhooks");
    cfg.webhooks.batch_ms = 10;
    cfg.webhooks.backoff_ms = 20;
    cfg.webhooks.backoff_max_ms = 100;
    cfg.webhooks.vacated_delay_ms = 100;
    (app, cfg)
}

/// The events named `name`, without their `name` field.
fn named(events: &[Value], name: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["name"] == name)
        .map(|e| {
            let mut e = e.clone();
            e.as_object_mut().expect("object").remove("name");
            e
        })
        .collect()
}

#[tokio::test]
async fn a_quick_return_cancels_the_leave_and_a_real_leave_waits_out_the_grace_period() {
    let receiver = Receiver::start().await;
    let (app, mut cfg) = webhook_config(&receiver, vec![]);
    cfg.webhooks.vacated_delay_ms = 1500;
    let server = TestServer::with_config(cfg).await;

    let mut a = server.connect("test-key").await;
    a.join(&app, "presence-room", "alice", json!(null)).await;
    a.subscribe("public-reload").await;
    // A page reload: the socket goes, a new one comes back within the grace period.
    drop(a);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut b = server.connect("test-key").await;
    b.join(&app, "presence-room", "alice", json!(null)).await;
    b.subscribe("public-reload").await;
    // A real leave: only this channel's vacated may come, and not before the grace period.
    b.subscribe("public-gone").await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let left = std::time::Instant::now();
    b.unsubscribe("public-gone").await;
    crate::harness::eventually_async("public-gone vacated", || async {
        !named(&receiver.events(), "channel_vacated").is_empty()
    })
    .await;
    assert!(
        left.elapsed() >= std::time::Duration::from_millis(1400),
        "vacated was sent after {:?}, before the grace period ended",
        left.elapsed()
    );
    // Long enough for the reload's leaves to have been sent, had they not been cancelled.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let events = receiver.events();
    let vacated = named(&events, "channel_vacated");
    assert_eq!(vacated, [json!({"channel": "public-gone"})]);
    assert!(named(&events, "member_removed").is_empty(), "{events:?}");
    let occupied = named(&events, "channel_occupied");
    let count = |c: &str| occupied.iter().filter(|e| e["channel"] == c).count();
    assert_eq!(
        (
            count("presence-room"),
            count("public-reload"),
            count("public-gone")
        ),
        (1, 1, 1),
        "the return was not announced again: {events:?}"
    );
    assert_eq!(named(&events, "member_added").len(), 1, "{events:?}");
}

#[tokio::test]
async fn every_event_type_arrives_signed_with_its_payload() {
    let receiver = Receiver::start().await;
    let (app, cfg) = webhook_config(&receiver, vec![]);
    let server = TestServer::with_config(cfg).await;

    let mut a = server.connect("test-key").await;
    a.subscribe("public-room").await;
    a.subscribe("cache-news").await;
    a.expect("pusher:cache_miss").await;
    a.join(&app, "presence-game", "alice", json!({"n": 1}))
        .await;
    a.subscribe_private(&app, "private-chat").await;
    let mut b = server.connect("test-key").await;
    b.subscribe_private(&app, "private-chat").await;
    b.join(&app, "presence-game", "bob", json!(null)).await;
    b.send(json!({"event": "client-typing", "channel": "presence-game", "data": {"who": "bob"}}))
        .await;
    a.send(json!({"event": "client-hi", "channel": "private-chat", "data": "plain"}))
        .await;
    a.wait_for("client-typing").await;
    b.wait_for("client-hi").await;
    let (a_sid, b_sid) = (a.socket_id.clone(), b.socket_id.clone());
    drop(b);
    receiver.wait_events(1).await;
    crate::harness::eventually_async("bob's departure", || async {
        named(&receiver.events(), "member_removed").len() == 1
    })
    .await;
    drop(a);
    crate::harness::eventually_async("every channel vacated", || async {
        named(&receiver.events(), "channel_vacated").len() == 4
    })
    .await;

    for r in receiver.accepted() {
        assert_eq!(r.header("x-pusher-key"), "test-key");
        assert_eq!(r.header("content-type"), "application/json");
        let body = std::str::from_utf8(&r.body).expect("utf-8");
        assert!(
            signature::verify("test-secret", body, r.header("x-pusher-signature")),
            "signature of {body}"
        );
        let time_ms = r.json()["time_ms"].as_u64().expect("time_ms");
        let now = crate::harness::now() * 1000;
        assert!(time_ms.abs_diff(now) < 60_000, "time_ms is the send time");
    }
    let events = receiver.events();
    let occupied: Vec<Value> = named(&events, "channel_occupied");
    assert_eq!(
        occupied,
        [
            json!({"channel": "public-room"}),
            json!({"channel": "cache-news"}),
            json!({"channel": "presence-game"}),
            json!({"channel": "private-chat"}),
        ]
    );
    assert_eq!(
        named(&events, "cache_miss"),
        [json!({"channel": "cache-news"})]
    );
    assert_eq!(
        named(&events, "member_added"),
        [
            json!({"channel": "presence-game", "user_id": "alice"}),
            json!({"channel": "presence-game", "user_id": "bob"})
        ]
    );
    assert_eq!(
        named(&events, "member_removed")[0],
        json!({"channel": "presence-game", "user_id": "bob"})
    );
    assert_eq!(
        named(&events, "client_event"),
        [
            json!({"channel": "presence-game", "event": "client-typing", "data": "{\"who\":\"bob\"}",
                   "socket_id": b_sid, "user_id": "bob"}),
            json!({"channel": "private-chat", "event": "client-hi", "data": "plain", "socket_id": a_sid}),
        ]
    );
    let counts: Vec<Value> = named(&events, "subscription_count")
        .into_iter()
        .filter(|e| e["channel"] == "private-chat")
        .collect();
    assert_eq!(
        counts.last().expect("count")["subscription_count"],
        0,
        "the last count of private-chat is 0"
    );
    assert!(
        named(&events, "subscription_count")
            .iter()
            .all(|e| e["channel"] != "presence-game"),
        "no subscription_count for presence channels"
    );
    let vacated = named(&events, "channel_vacated");
    for ch in ["public-room", "cache-news", "presence-game", "private-chat"] {
        assert!(vacated.contains(&json!({ "channel": ch })), "{ch} vacated");
    }
    // The last member's member_removed comes before its channel is vacated.
    let pos = |name: &str, user: Option<&str>| {
        events
            .iter()
            .position(|e| {
                e["name"] == name
                    && e["channel"] == "presence-game"
                    && user.is_none_or(|u| e["user_id"] == u)
            })
            .expect(name)
    };
    assert!(pos("member_removed", Some("alice")) < pos("channel_vacated", None));
}

#[tokio::test]
async fn endpoints_get_only_their_types_and_channel_prefixes() {
    let all = Receiver::start().await;
    let filtered = Receiver::start().await;
    let (mut app, mut cfg) = webhook_config(&all, vec![EventType::ChannelOccupied]);
    app.webhooks.push(WebhookEndpoint {
        url: filtered.url("/only-game"),
        event_types: vec![EventType::ChannelOccupied, EventType::ChannelVacated],
        channel_prefixes: vec!["game-".into()],
    });
    cfg.apps = vec![app];
    let server = TestServer::with_config(cfg).await;
    let mut c = server.connect("test-key").await;
    c.subscribe("chat-1").await;
    c.subscribe("game-1").await;
    c.unsubscribe("game-1").await;
    all.wait_events(2).await;
    filtered.wait_events(2).await;
    c.subscribe("game-2").await;
    all.wait_events(3).await;
    filtered.wait_events(3).await;
    assert_eq!(
        all.events(),
        [
            json!({"name": "channel_occupied", "channel": "chat-1"}),
            json!({"name": "channel_occupied", "channel": "game-1"}),
            json!({"name": "channel_occupied", "channel": "game-2"}),
        ],
        "only channel_occupied, every channel"
    );
    assert_eq!(
        filtered.events(),
        [
            json!({"name": "channel_occupied", "channel": "game-1"}),
            json!({"name": "channel_vacated", "channel": "game-1"}),
            json!({"name": "channel_occupied", "channel": "game-2"}),
        ],
        "only game- channels"
    );
    assert!(all
        .requests()
        .iter()
        .all(|r| r.headers.contains_key("x-pusher-signature")));
}

#[tokio::test]
async fn events_are_batched_by_size_and_by_delay() {
    let receiver = Receiver::start().await;
    let (_, mut cfg) = webhook_config(&receiver, vec![EventType::ChannelOccupied]);
    cfg.webhooks.batch_max = 3;
    cfg.webhooks.batch_ms = 300;
    let server = TestServer::with_config(cfg).await;
    let mut c = server.connect("test-key").await;
    for i in 0..4 {
        c.subscribe(&format!("room-{i}")).await;
    }
    receiver.wait_events(4).await;
    let sizes: Vec<usize> = receiver
        .accepted()
        .iter()
        .map(|r| r.json()["events"].as_array().expect("events").len())
        .collect();
    assert_eq!(
        sizes,
        [3, 1],
        "a full batch at once, the rest after batch_ms"
    );
    let names: Vec<Value> = receiver
        .events()
        .iter()
        .map(|e| e["channel"].clone())
        .collect();
    assert_eq!(
        names,
        [
            json!("room-0"),
            json!("room-1"),
            json!("room-2"),
            json!("room-3")
        ]
    );
}

#[tokio::test]
async fn apps_without_webhooks_create_no_queue() {
    let mut cfg = config(vec![test_app()]);
    cfg.data_dir = temp_dir("no-webhooks");
    let dir = cfg.data_dir.clone();
    let server = TestServer::with_config(cfg).await;
    let mut c = server.connect("test-key").await;
    c.subscribe("room").await;
    drop(c);
    server.shutdown().await;
    assert!(!dir.join("webhooks.db").exists());
}
