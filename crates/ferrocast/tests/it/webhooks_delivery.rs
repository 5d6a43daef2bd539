//! Webhook delivery that loses nothing: retries in order, a receiver down across a restart of
//! the server (the embedded queue), and the dead-letter list with replay through the API.

use crate::harness::receiver::Receiver;
use crate::harness::{eventually_async, TestServer};
use crate::webhooks_events::webhook_config;
use ferrocast::config::AppConfig;
use ferrocast_protocol::webhook::EventType;
use serde_json::{json, Value};

fn channels(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["channel"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_receiver_failing_three_times_still_gets_every_event_in_order() {
    let receiver = Receiver::start().await;
    receiver.fail_first(3);
    let (_, mut cfg) = webhook_config(&receiver, vec![EventType::ChannelOccupied]);
    cfg.webhooks.batch_max = 1;
    let server = TestServer::with_config(cfg).await;
    let mut c = server.connect("test-key").await;
    let names: Vec<String> = (0..5).map(|i| format!("room-{i}")).collect();
    for n in &names {
        c.subscribe(n).await;
    }
    let events = receiver.wait_events(5).await;
    assert_eq!(channels(&events), names, "every event, in order");
    let statuses: Vec<u16> = receiver.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 500, 200, 200, 200, 200, 200]);
    let first = &receiver.requests()[0];
    assert_eq!(
        first.json()["events"],
        receiver.requests()[3].json()["events"],
        "the failed request is retried before any later one"
    );
}

#[tokio::test]
async fn a_receiver_down_across_a_restart_gets_everything_from_the_embedded_queue() {
    let mut receiver = Receiver::start().await;
    receiver.down();
    let (_, mut cfg) = webhook_config(&receiver, vec![]);
    cfg.webhooks.max_attempts = 1000;
    let first = TestServer::with_config(cfg.clone()).await;
    let mut c = first.connect("test-key").await;
    c.subscribe("before-restart-1").await;
    c.subscribe("before-restart-2").await;
    c.unsubscribe("before-restart-1").await;
    // A round trip, so the unsubscription is handled before the socket goes.
    c.send(json!({"event": "pusher:ping", "data": {}})).await;
    c.expect("pusher:pong").await;
    drop(c);
    // Shutdown closes the connection (channel_vacated) and writes the last batch to the queue.
    first.shutdown().await;
    assert!(receiver.events().is_empty(), "nothing could be delivered");
    receiver.up().await;
    let second = TestServer::with_config(cfg).await;
    let summary = || -> Vec<(String, String)> {
        receiver
            .events()
            .iter()
            .filter(|e| e["name"] != "subscription_count")
            .map(|e| {
                (
                    e["name"].as_str().unwrap_or_default().to_owned(),
                    e["channel"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    eventually_async("the queued events after the restart", || async {
        summary().len() >= 4
    })
    .await;
    let summary = summary();
    let expected: Vec<(String, String)> = [
        ("channel_occupied", "before-restart-1"),
        ("channel_occupied", "before-restart-2"),
        ("channel_vacated", "before-restart-1"),
        ("channel_vacated", "before-restart-2"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(summary, expected);
    drop(second);
}

#[tokio::test]
async fn dead_letters_are_listed_per_app_and_replayed() {
    let receiver = Receiver::start().await;
    receiver.set_status(503);
    let (app, mut cfg) = webhook_config(&receiver, vec![EventType::ChannelOccupied]);
    cfg.webhooks.batch_max = 1;
    cfg.webhooks.max_attempts = 2;
    let other = AppConfig {
        id: "other-app".into(),
        key: "other-key".into(),
        secret: "other-secret".into(),
        ..Default::default()
    };
    cfg.apps.push(other.clone());
    let server = TestServer::with_config(cfg).await;
    let api = server.api(&app);
    let mut c = server.connect("test-key").await;
    c.subscribe("lost-1").await;
    c.subscribe("lost-2").await;
    let list = api
        .get_until("/webhooks/dead_letters", &[], |b| {
            b["dead_letters"].as_array().is_some_and(|l| l.len() == 2)
        })
        .await;
    let letters = list["dead_letters"].as_array().expect("list").clone();
    assert_eq!(letters[0]["url"], receiver.url("/hook"));
    assert_eq!(letters[0]["attempts"], 2);
    assert_eq!(letters[0]["last_error"], "HTTP 503");
    assert_eq!(
        letters[0]["events"],
        json!([{"name": "channel_occupied", "channel": "lost-1"}])
    );
    assert!(letters[0]["failed_at_ms"].as_u64().expect("failed_at_ms") > 0);
    assert_eq!(receiver.requests().len(), 4, "two attempts each");

    let (status, theirs) = server.api(&other).get("/webhooks/dead_letters", &[]).await;
    assert_eq!(
        (status, theirs),
        (200, json!({"dead_letters": []})),
        "apps see only their own"
    );

    receiver.set_status(200);
    let id = letters[1]["id"].clone();
    let (status, body) = api
        .post("/webhooks/dead_letters/replay", json!({"ids": [id]}))
        .await;
    assert_eq!((status, body), (200, json!({"replayed": 1})));
    let events = receiver.wait_events(1).await;
    assert_eq!(channels(&events), ["lost-2"]);
    let (status, body) = api.post("/webhooks/dead_letters/replay", json!({})).await;
    assert_eq!((status, body), (200, json!({"replayed": 1})));
    let events = receiver.wait_events(2).await;
    assert_eq!(channels(&events), ["lost-2", "lost-1"]);
    let (_, list) = api.get("/webhooks/dead_letters", &[]).await;
    assert_eq!(list, json!({"dead_letters": []}));
    let (status, _) = api
        .post("/webhooks/dead_letters/replay", json!({"ids": "all"}))
        .await;
    assert_eq!(status, 400, "a bad body is refused");
}
