//! Bad input never takes the server down: each malformed or hostile message gets the protocol's
//! error, and the server keeps serving everyone else.

use crate::harness::{config, eventually, test_app, Frame, TestServer};
use ferrocast::config::AppConfig;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn malformed_messages_get_4300_and_the_connection_stays() {
    let server = TestServer::start().await;
    let mut c = server.connect("test-key").await;
    for bad in [
        "{",
        "[]",
        "null",
        r#"{"data":{}}"#,
        r#"{"event":"pusher:subscribe"}"#,
        r#"{"event":"pusher:subscribe","data":{"auth":""}}"#,
        r#"{"event":"pusher:subscribe","data":"not json"}"#,
        r#"{"event":"client-x","data":{}}"#,
        r#"{"event":"no-such-event","data":{}}"#,
        r#"{"event":"pusher:signin","data":{"auth":1}}"#,
    ] {
        c.send_text(bad).await;
        let msg = c.expect_error(4300).await;
        assert!(!msg.is_empty(), "{bad}: the error says what is wrong");
    }
    c.send_message(Message::Binary(vec![1, 2, 3].into())).await;
    c.expect_error(4300).await;
    c.subscribe("still-works").await;
}

#[tokio::test]
async fn illegal_channel_names_are_refused_with_a_subscription_error() {
    let server = TestServer::start().await;
    let mut c = server.connect("test-key").await;
    let too_long = "a".repeat(201);
    for name in [
        "",
        "has space",
        "ünïcode",
        "semi:colon",
        "#reserved",
        too_long.as_str(),
    ] {
        c.subscribe_raw(json!({"channel": name, "auth": ""})).await;
        let f = c.expect("pusher:subscription_error").await;
        assert_eq!(f["data"]["type"], "InvalidChannel", "{name}");
        assert_eq!(f["data"]["status"], 400);
    }
    c.subscribe(&"a".repeat(200)).await;
}

#[tokio::test]
async fn oversized_messages_close_with_1009_and_others_carry_on() {
    let mut cfg = config(vec![test_app()]);
    cfg.max_message_kb = 16;
    let server = TestServer::with_config(cfg).await;
    let api = server.api(&test_app());
    let mut bystander = server.connect("test-key").await;
    bystander.subscribe("news").await;
    let mut c = server.connect("test-key").await;
    let huge = json!({"event": "client-x", "channel": "private-a", "data": "x".repeat(17 * 1024)});
    c.send(huge).await;
    c.expect_close(1009).await;
    api.publish("news", "e", "still here").await;
    bystander.expect("e").await;
}

#[tokio::test]
async fn a_subscribe_flood_hits_the_per_connection_cap() {
    let app = AppConfig {
        max_channels_per_connection: 50,
        ..test_app()
    };
    let server = TestServer::with_app(app).await;
    let mut c = server.connect("test-key").await;
    for i in 0..60 {
        c.subscribe_raw(json!({"channel": format!("flood-{i}"), "auth": ""}))
            .await;
    }
    let (mut ok, mut limited) = (0, 0);
    for _ in 0..60 {
        let f = c.next_event().await;
        match f["event"].as_str() {
            Some("pusher_internal:subscription_succeeded") => ok += 1,
            Some("pusher:subscription_error") => {
                assert_eq!(f["data"]["type"], "LimitReached");
                limited += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, limited), (50, 10));
    // Unsubscribing frees a place.
    c.send(json!({"event": "pusher:unsubscribe", "data": {"channel": "flood-0"}}))
        .await;
    c.subscribe("flood-again").await;
    let mut other = server.connect("test-key").await;
    other.subscribe("flood-1").await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_without_slowing_others() {
    let mut cfg = config(vec![test_app()]);
    cfg.outbox_capacity = 16;
    cfg.write_timeout = 1;
    let server = TestServer::with_config(cfg).await;
    let api = server.api(&test_app());
    let mut slow = server.connect("test-key").await;
    slow.subscribe("firehose").await;
    let mut fast = server.connect("test-key").await;
    fast.subscribe("firehose").await;
    const BATCHES: usize = 100;
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while n < BATCHES * 10 {
            match fast.next_within(Duration::from_secs(10)).await {
                Some(Frame::Event(f)) if f["event"] == "big" => n += 1,
                other => panic!("fast subscriber got {other:?} after {n} events"),
            }
        }
        n
    });
    let payload = "x".repeat(10 * 1024);
    for _ in 0..BATCHES {
        let batch: Vec<_> = (0..10)
            .map(|_| json!({"channel": "firehose", "name": "big", "data": payload}))
            .collect();
        let (status, body) = api.post("/batch_events", json!({"batch": batch})).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        reader.await.expect("reader"),
        BATCHES * 10,
        "the fast subscriber got everything"
    );
    let app = server.shared.apps.by_key("test-key").expect("app");
    eventually("the slow subscriber is dropped", || {
        app.channels.counts("firehose").subscriptions == 1
    })
    .await;
    eventually("its connection slot is freed", || app.connections() == 1).await;
    drop(slow);
}
