//! The debug feed over SSE with real clients: what a connection, its subscriptions, a presence
//! join, an API publish, a client event and webhook deliveries (accepted, retried, dead-lettered)
//! look like; server-side filters; the per-viewer rate cap with its dropped count; and the tap
//! existing only while someone watches.

use crate::harness::dashboard::Browser;
use crate::harness::receiver::Receiver;
use crate::harness::{config, eventually, test_app, TestServer, WsClient};
use crate::webhooks_events::webhook_config;
use ferrocast::config::{AppConfig, Config};
use ferrocast_protocol::webhook::EventType;
use serde_json::{json, Value};
use std::time::Duration;

const TOKEN: &str = "feed-token";

fn cfg(per_sec: u32) -> Config {
    let mut cfg = config(vec![test_app()]);
    cfg.admin_token = Some(TOKEN.into());
    cfg.dashboard.feed_events_per_sec = per_sec;
    cfg
}

async fn logged_in(server: &TestServer) -> Browser {
    let mut b = Browser::new(server);
    b.login(TOKEN).await;
    assert!(b.cookie.is_some(), "logged in");
    b
}

async fn connect_from(server: &TestServer, origin: &str) -> WsClient {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = server.ws_url("test-key", "protocol=7&client=js&version=8.4.0");
    let mut req = url.into_client_request().expect("request");
    req.headers_mut()
        .insert("origin", origin.parse().expect("origin"));
    let mut ws = WsClient::open_request(req).await;
    let established = ws.expect("pusher:connection_established").await;
    let data: Value =
        serde_json::from_str(established["data"].as_str().expect("data")).expect("json");
    ws.socket_id = data["socket_id"].as_str().expect("socket_id").to_owned();
    ws
}

#[tokio::test]
async fn the_feed_shows_what_happens_to_the_app() {
    let server = TestServer::with_config(cfg(1000)).await;
    let app: AppConfig = test_app();
    let b = logged_in(&server).await;
    let mut feed = b.feed("test-app", "").await;

    let mut ws = connect_from(&server, "https://site.example").await;
    let sid = ws.socket_id.clone();
    let e = feed.next_debug().await;
    assert_eq!(
        (
            e["type"].as_str(),
            e["socket_id"].as_str(),
            e["origin"].as_str()
        ),
        (
            Some("connected"),
            Some(sid.as_str()),
            Some("https://site.example")
        )
    );
    assert!(e["at"].as_u64().is_some());

    ws.join(&app, "presence-room", "u7", json!({"name": "Ann"}))
        .await;
    let e = feed.next_debug().await;
    assert_eq!(
        (e["type"].as_str(), e["channel"].as_str()),
        (Some("subscribed"), Some("presence-room"))
    );
    let e = feed.next_debug().await;
    assert_eq!(
        (e["type"].as_str(), e["user_id"].as_str()),
        (Some("member_added"), Some("u7"))
    );

    server
        .api(&app)
        .publish("presence-room", "news", "{\"a\":1}")
        .await;
    let e = feed.next_debug().await;
    assert_eq!(
        (e["type"].as_str(), e["event"].as_str(), e["data"].as_str()),
        (Some("api_event"), Some("news"), Some("{\"a\":1}"))
    );

    ws.send(json!({"event": "client-typing", "channel": "presence-room", "data": {"t": true}}))
        .await;
    let e = feed.next_debug().await;
    assert_eq!(
        (
            e["type"].as_str(),
            e["event"].as_str(),
            e["socket_id"].as_str()
        ),
        (
            Some("client_event"),
            Some("client-typing"),
            Some(sid.as_str())
        )
    );
    assert_eq!(e["data"], "{\"t\":true}");

    drop(ws);
    let kinds: Vec<String> = {
        let mut k = Vec::new();
        for _ in 0..3 {
            k.push(
                feed.next_debug().await["type"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            );
        }
        k
    };
    assert_eq!(kinds, ["unsubscribed", "member_removed", "disconnected"]);
}

#[tokio::test]
async fn webhook_deliveries_and_failures_show_without_credentials() {
    let receiver = Receiver::start().await;
    let (_, mut cfg) = webhook_config(&receiver, vec![EventType::ChannelOccupied]);
    // Basic-auth credentials in the endpoint URL (sent by the client, never shown).
    let url = format!(
        "http://hook-user:hook-pass@{}/hook?token=tok-123",
        receiver.addr
    );
    cfg.apps[0].webhooks[0].url = url;
    cfg.admin_token = Some(TOKEN.into());
    cfg.webhooks.max_attempts = 2;
    let server = TestServer::with_config(cfg).await;
    let b = logged_in(&server).await;
    let mut feed = b
        .feed(
            "test-app",
            "types=webhook_delivered,webhook_failed,webhook_dead_lettered",
        )
        .await;
    let mut ws = server.connect("test-key").await;

    ws.subscribe("room-ok").await;
    let e = feed.next_debug().await;
    assert_eq!(
        (
            e["type"].as_str(),
            e["status"].as_u64(),
            e["events"].as_u64(),
            e["attempt"].as_u64()
        ),
        (Some("webhook_delivered"), Some(200), Some(1), Some(1)),
        "{e}"
    );
    let shown = e["url"].as_str().expect("url");
    assert!(
        shown.starts_with("http://hook-user:<redacted>@127.0.0.1:")
            && shown.ends_with("/hook?token=<redacted>"),
        "{shown}"
    );
    assert_eq!(receiver.accepted().len(), 1, "the receiver got it");

    receiver.set_status(503);
    ws.subscribe("room-down").await;
    let e = feed.next_debug().await;
    assert_eq!(
        (
            e["type"].as_str(),
            e["error"].as_str(),
            e["attempt"].as_u64()
        ),
        (Some("webhook_failed"), Some("HTTP 503"), Some(1)),
        "{e}"
    );
    assert!(e["retry_in_ms"].as_u64().is_some_and(|d| d <= 100), "{e}");
    let e = feed.next_debug().await;
    assert_eq!(
        (
            e["type"].as_str(),
            e["error"].as_str(),
            e["attempt"].as_u64(),
            e["events"].as_u64()
        ),
        (
            Some("webhook_dead_lettered"),
            Some("HTTP 503"),
            Some(2),
            Some(1)
        ),
        "{e}"
    );
    assert!(!e.to_string().contains("hook-pass"), "{e}");
}

#[tokio::test]
async fn filters_apply_on_the_server() {
    let server = TestServer::with_config(cfg(1000)).await;
    let api = server.api(&test_app());
    let b = logged_in(&server).await;
    let mut feed = b.feed("test-app", "channel=keep-&types=api_event").await;
    let mut ws = server.connect("test-key").await;
    ws.subscribe("keep-1").await;
    api.publish("other-1", "e", "1").await;
    api.publish("keep-1", "e", "2").await;
    api.publish("keep-2", "e", "3").await;
    let got: Vec<Value> = vec![feed.next_debug().await, feed.next_debug().await];
    let seen: Vec<(&str, &str)> = got
        .iter()
        .map(|e| {
            (
                e["channel"].as_str().unwrap_or(""),
                e["data"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("keep-1", "2"), ("keep-2", "3")],
        "only API events on keep-*"
    );
}

#[tokio::test]
async fn a_busy_app_is_sampled_and_the_drops_are_counted() {
    let server = TestServer::with_config(cfg(5)).await;
    let api = server.api(&test_app());
    let b = logged_in(&server).await;
    let mut feed = b.feed("test-app", "types=api_event").await;
    let sent = 40;
    for i in 0..sent {
        api.publish("busy", "tick", &i.to_string()).await;
    }
    let (mut shown, mut dropped) = (0u64, 0u64);
    while shown + dropped < sent {
        let e = feed
            .next_within(Duration::from_secs(3))
            .await
            .unwrap_or_else(|| panic!("stalled at {shown} shown, {dropped} dropped"));
        match e.event.as_str() {
            "debug" => shown += 1,
            "dropped" => dropped = e.data["dropped"].as_u64().expect("count"),
            other => panic!("unexpected event {other}"),
        }
    }
    assert_eq!(shown + dropped, sent, "every event is shown or counted");
    assert!(
        (5..=15).contains(&shown),
        "about 5 per second shown, got {shown}"
    );
}

#[tokio::test]
async fn the_tap_exists_only_while_watched() {
    let server = TestServer::with_config(cfg(100)).await;
    let app = server.shared.apps.by_id("test-app").expect("app");
    assert!(!app.debug.is_watched());
    let b = logged_in(&server).await;
    let feed = b.feed("test-app", "").await;
    assert_eq!(app.debug.watchers(), 1);
    assert!(app.debug.is_watched());
    drop(feed);
    eventually("the tap to close with its last viewer", || {
        !app.debug.is_watched()
    })
    .await;
}

#[tokio::test]
async fn the_feed_needs_a_session() {
    let server = TestServer::with_config(cfg(100)).await;
    let b = Browser::new(&server);
    let (status, body) = b.get_json("/dashboard/api/apps/test-app/feed").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_admin_token"))
    );
    let b = logged_in(&server).await;
    let (status, body) = b.get_json("/dashboard/api/apps/nope/feed").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("app_not_found"))
    );
}
