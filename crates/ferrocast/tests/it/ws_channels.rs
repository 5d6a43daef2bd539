//! Subscribing to public, private, encrypted and cache channels, and receiving what the HTTP API
//! publishes.

use crate::harness::{test_app, TestServer};
use serde_json::json;

#[tokio::test]
async fn public_channel_receives_published_events_verbatim() {
    let server = TestServer::start().await;
    let api = server.api(&test_app());
    let mut c = server.connect("test-key").await;
    assert_eq!(c.subscribe("news").await, json!({}));
    api.publish("news", "headline", r#"{"title":"hi"}"#).await;
    let f = c.expect("headline").await;
    assert_eq!(
        f,
        json!({"event": "headline", "channel": "news", "data": r#"{"title":"hi"}"#})
    );
}

#[tokio::test]
async fn subscribing_twice_delivers_once_and_unsubscribing_stops_delivery() {
    let server = TestServer::start().await;
    let api = server.api(&test_app());
    let mut c = server.connect("test-key").await;
    c.subscribe("news").await;
    c.subscribe("news").await;
    api.publish("news", "one", "1").await;
    c.expect("one").await;
    c.expect_silence().await;
    c.send(json!({"event": "pusher:unsubscribe", "data": {"channel": "news"}}))
        .await;
    // A ping round trip proves the unsubscribe was handled before the next publish.
    c.send(json!({"event": "pusher:ping", "data": {}})).await;
    c.expect("pusher:pong").await;
    api.publish("news", "two", "2").await;
    c.expect_silence().await;
}

#[tokio::test]
async fn private_channels_need_a_valid_signature_for_this_socket() {
    let app = test_app();
    let server = TestServer::start().await;
    let api = server.api(&app);
    let mut ok = server.connect("test-key").await;
    ok.subscribe_private(&app, "private-room").await;
    let mut bad = server.connect("test-key").await;
    let cases = [
        json!({"channel": "private-room", "auth": "test-key:deadbeef"}),
        json!({"channel": "private-room"}),
        json!({"channel": "private-room", "auth": ok.auth(&app, "private-room", None)}),
        json!({"channel": "private-room", "auth": format!("other-key:{}", ok.auth(&app, "private-room", None).split(':').nth(1).unwrap_or(""))}),
    ];
    for case in cases {
        bad.subscribe_raw(case.clone()).await;
        let f = bad.expect("pusher:subscription_error").await;
        assert_eq!(f["channel"], "private-room", "{case}");
        assert_eq!(f["data"]["type"], "AuthError");
        assert_eq!(f["data"]["status"], 401);
    }
    api.publish("private-room", "secret", "s").await;
    ok.expect("secret").await;
    bad.expect_silence().await;
}

#[tokio::test]
async fn encrypted_channels_are_private_and_relay_the_payload_untouched() {
    let app = test_app();
    let server = TestServer::start().await;
    let api = server.api(&app);
    let mut c = server.connect("test-key").await;
    c.subscribe_raw(json!({"channel": "private-encrypted-vault", "auth": ""}))
        .await;
    assert_eq!(
        c.expect("pusher:subscription_error").await["data"]["status"],
        401
    );
    c.subscribe_private(&app, "private-encrypted-vault").await;
    let sealed = r#"{"nonce":"bm9uY2U=","ciphertext":"Y2lwaGVy"}"#;
    api.publish("private-encrypted-vault", "sealed", sealed)
        .await;
    assert_eq!(c.expect("sealed").await["data"], sealed);
}

#[tokio::test]
async fn cache_channels_send_the_last_event_or_a_cache_miss() {
    let app = test_app();
    let server = TestServer::start().await;
    let api = server.api(&app);
    let mut first = server.connect("test-key").await;
    first.subscribe("cache-price").await;
    assert_eq!(
        first.expect("pusher:cache_miss").await["channel"],
        "cache-price"
    );
    api.publish("cache-price", "tick", "1").await;
    api.publish("cache-price", "tick", "2").await;
    first.expect("tick").await;
    first.expect("tick").await;
    let mut late = server.connect("test-key").await;
    late.subscribe("cache-price").await;
    let cached = late.expect("tick").await;
    assert_eq!(cached["data"], "2", "the last event is replayed");
    late.expect_silence().await;

    let mut p = server.connect("test-key").await;
    p.subscribe_private(&app, "private-cache-x").await;
    p.expect("pusher:cache_miss").await;
    api.publish("private-cache-x", "e", "p").await;
    p.expect("e").await;
    let mut p2 = server.connect("test-key").await;
    p2.subscribe_private(&app, "private-cache-x").await;
    assert_eq!(p2.expect("e").await["data"], "p");
    let mut pr = server.connect("test-key").await;
    pr.join(&app, "presence-cache-room", "u1", json!({})).await;
    pr.expect("pusher:cache_miss").await;
}

#[tokio::test]
async fn events_reach_only_their_channel() {
    let server = TestServer::start().await;
    let api = server.api(&test_app());
    let mut a = server.connect("test-key").await;
    let mut b = server.connect("test-key").await;
    a.subscribe("alpha").await;
    b.subscribe("beta").await;
    api.publish("alpha", "e", "a").await;
    a.expect("e").await;
    b.expect_silence().await;
}
