//! Client events: relayed to the other subscribers of private and presence channels only,
//! never echoed, with the sender's user_id on presence channels, under the app's switch and a
//! per-connection rate limit (4301, the connection stays open).

use crate::harness::{test_app, Frame, TestServer, WsClient};
use ferrocast::config::AppConfig;
use serde_json::json;
use std::time::Duration;

async fn pair(server: &TestServer, app: &AppConfig, channel: &str) -> (WsClient, WsClient) {
    let mut a = server.connect(&app.key).await;
    let mut b = server.connect(&app.key).await;
    a.subscribe_private(app, channel).await;
    b.subscribe_private(app, channel).await;
    (a, b)
}

#[tokio::test]
async fn relayed_to_others_and_not_echoed() {
    let app = test_app();
    let server = TestServer::start().await;
    let (mut a, mut b) = pair(&server, &app, "private-chat").await;
    a.send(json!({"event": "client-typing", "channel": "private-chat", "data": {"who": "a"}}))
        .await;
    let f = b.expect("client-typing").await;
    assert_eq!(
        f,
        json!({"event": "client-typing", "channel": "private-chat", "data": {"who": "a"}})
    );
    a.expect_silence().await;
}

#[tokio::test]
async fn presence_client_events_carry_the_senders_user_id() {
    let app = test_app();
    let server = TestServer::start().await;
    let mut a = server.connect("test-key").await;
    let mut b = server.connect("test-key").await;
    a.join(&app, "presence-chat", "alice", json!({})).await;
    b.join(&app, "presence-chat", "bob", json!({})).await;
    a.expect("pusher_internal:member_added").await;
    a.send(json!({"event": "client-hi", "channel": "presence-chat", "data": "x"}))
        .await;
    let f = b.expect("client-hi").await;
    assert_eq!(f["user_id"], "alice");
    assert_eq!(f["data"], "x");
}

async fn rejected(c: &mut WsClient, event: serde_json::Value) -> String {
    c.send(event).await;
    let msg = c.expect_error(4301).await;
    c.send(json!({"event": "pusher:ping", "data": {}})).await;
    c.expect("pusher:pong").await;
    msg
}

#[tokio::test]
async fn rejections_are_4301_and_keep_the_connection() {
    let app = test_app();
    let server = TestServer::start().await;
    let (mut a, mut b) = pair(&server, &app, "private-chat").await;
    a.subscribe("public").await;
    b.subscribe("public").await;
    let m = rejected(
        &mut a,
        json!({"event": "client-x", "channel": "public", "data": {}}),
    )
    .await;
    assert!(m.contains("private and presence"), "{m}");
    let m = rejected(
        &mut a,
        json!({"event": "client-x", "channel": "private-other", "data": {}}),
    )
    .await;
    assert!(m.contains("Not subscribed"), "{m}");
    let long = format!("client-{}", "x".repeat(200));
    rejected(
        &mut a,
        json!({"event": long, "channel": "private-chat", "data": {}}),
    )
    .await;
    let big = "x".repeat(10 * 1024 + 1);
    let m = rejected(
        &mut a,
        json!({"event": "client-big", "channel": "private-chat", "data": big}),
    )
    .await;
    assert!(m.contains("larger"), "{m}");
    b.expect_silence().await;
}

#[tokio::test]
async fn apps_can_switch_client_events_off() {
    let app = AppConfig {
        client_events: false,
        ..test_app()
    };
    let server = TestServer::with_app(app.clone()).await;
    let (mut a, mut b) = pair(&server, &app, "private-chat").await;
    let m = rejected(
        &mut a,
        json!({"event": "client-x", "channel": "private-chat", "data": {}}),
    )
    .await;
    assert!(m.contains("not enabled"), "{m}");
    b.expect_silence().await;
}

#[tokio::test]
async fn the_rate_limit_rejects_the_excess_only() {
    let app = AppConfig {
        max_client_events_per_sec: 3,
        ..test_app()
    };
    let server = TestServer::with_app(app.clone()).await;
    let (mut a, mut b) = pair(&server, &app, "private-chat").await;
    for i in 0..10 {
        a.send(json!({"event": "client-n", "channel": "private-chat", "data": {"i": i}}))
            .await;
    }
    let mut errors = 0;
    while let Some(Frame::Event(f)) = a.next_within(Duration::from_millis(500)).await {
        assert_eq!(f["data"]["code"], 4301, "{f}");
        errors += 1;
    }
    let mut delivered = 0;
    while let Some(Frame::Event(f)) = b.next_within(Duration::from_millis(300)).await {
        assert_eq!(f["event"], "client-n");
        delivered += 1;
    }
    assert_eq!(errors + delivered, 10);
    assert!(
        (3..=5).contains(&delivered),
        "a burst of 3 per second passes, got {delivered}"
    );
    // The connection is still usable.
    a.send(json!({"event": "pusher:ping", "data": {}})).await;
    a.expect("pusher:pong").await;
}
