//! User authentication: sign-in, the `#server-to-user-{id}` channel, sending to a user's every
//! connection, and watchlist online/offline events in the shape pusher-js listens for.

use crate::harness::{test_app, watchlist_events, TestServer};
use ferrocast::config::AppConfig;
use ferrocast_protocol::signature;
use serde_json::json;

#[tokio::test]
async fn signin_echoes_the_user_data() {
    let app = test_app();
    let server = TestServer::start().await;
    let mut c = server.connect("test-key").await;
    let f = c
        .signin(&app, json!({"id": "u1", "user_info": {"name": "U"}}))
        .await;
    assert_eq!(f["event"], "pusher:signin_success");
    assert!(
        f["data"].is_object(),
        "signin_success data is an object: {f}"
    );
    let echoed: serde_json::Value =
        serde_json::from_str(f["data"]["user_data"].as_str().expect("string")).expect("json");
    assert_eq!(echoed, json!({"id": "u1", "user_info": {"name": "U"}}));
    // Signing in again as the same user is harmless.
    assert_eq!(
        c.signin(&app, json!({"id": "u1", "user_info": {"name": "U"}}))
            .await["event"],
        "pusher:signin_success"
    );
}

#[tokio::test]
async fn bad_signins_close_with_4009() {
    let app = test_app();
    let server = TestServer::start().await;
    let mut forged = server.connect("test-key").await;
    let ud = json!({"id": "u1"}).to_string();
    forged
        .send(json!({"event": "pusher:signin", "data": {"auth": "test-key:00", "user_data": ud}}))
        .await;
    forged.expect_error_and_close(4009).await;

    for user_data in [
        json!({"name": "no id"}),
        json!({"id": 5}),
        json!({"id": ""}),
    ] {
        let mut c = server.connect("test-key").await;
        let f = c.signin(&app, user_data.clone()).await;
        assert_eq!(f["event"], "pusher:error", "{user_data}");
        assert_eq!(f["data"]["code"], 4009);
        c.expect_close(4009).await;
    }

    let mut twice = server.connect("test-key").await;
    twice.signin(&app, json!({"id": "a"})).await;
    let f = twice.signin(&app, json!({"id": "b"})).await;
    assert_eq!(
        f["data"]["code"], 4009,
        "a connection cannot change user: {f}"
    );
    twice.expect_close(4009).await;
}

#[tokio::test]
async fn server_to_user_channel_is_for_that_user_only_and_reaches_every_connection() {
    let app = test_app();
    let server = TestServer::start().await;
    let api = server.api(&app);
    let mut tab1 = server.connect("test-key").await;
    let mut tab2 = server.connect("test-key").await;
    let mut other = server.connect("test-key").await;
    for (c, id) in [(&mut tab1, "u1"), (&mut tab2, "u1"), (&mut other, "u2")] {
        c.signin(&app, json!({"id": id})).await;
        c.subscribe(&format!("#server-to-user-{id}")).await;
    }
    other
        .subscribe_raw(json!({"channel": "#server-to-user-u1", "auth": ""}))
        .await;
    assert_eq!(
        other.expect("pusher:subscription_error").await["data"]["type"],
        "AuthError"
    );
    let mut anon = server.connect("test-key").await;
    anon.subscribe_raw(json!({"channel": "#server-to-user-u1", "auth": ""}))
        .await;
    anon.expect("pusher:subscription_error").await;

    api.publish("#server-to-user-u1", "note", "for u1").await;
    for c in [&mut tab1, &mut tab2] {
        let f = c.expect("note").await;
        assert_eq!(
            (f["channel"].as_str(), f["data"].as_str()),
            (Some("#server-to-user-u1"), Some("for u1"))
        );
    }
    other.expect_silence().await;
    anon.expect_silence().await;
}

#[tokio::test]
async fn other_reserved_names_are_refused() {
    let server = TestServer::start().await;
    let mut c = server.connect("test-key").await;
    c.subscribe_raw(json!({"channel": "#admin", "auth": ""}))
        .await;
    assert_eq!(
        c.expect("pusher:subscription_error").await["data"]["status"],
        400
    );
}

#[tokio::test]
async fn watchlists_report_online_and_offline() {
    let app = test_app();
    let server = TestServer::start().await;
    let mut bob1 = server.connect("test-key").await;
    bob1.signin(&app, json!({"id": "bob"})).await;
    let mut alice = server.connect("test-key").await;
    assert_eq!(
        alice
            .signin(&app, json!({"id": "alice", "watchlist": ["bob", "carol"]}))
            .await["event"],
        "pusher:signin_success"
    );
    let first = watchlist_events(&alice.next_event().await);
    assert_eq!(
        first,
        json!([{"name": "online", "user_ids": ["bob"]}, {"name": "offline", "user_ids": ["carol"]}])
    );

    let mut carol = server.connect("test-key").await;
    carol.signin(&app, json!({"id": "carol"})).await;
    assert_eq!(
        watchlist_events(&alice.next_event().await),
        json!([{"name": "online", "user_ids": ["carol"]}])
    );
    let mut bob2 = server.connect("test-key").await;
    bob2.signin(&app, json!({"id": "bob"})).await;
    alice.expect_silence().await;
    drop(bob1);
    alice.expect_silence().await;
    drop(bob2);
    assert_eq!(
        watchlist_events(&alice.next_event().await),
        json!([{"name": "offline", "user_ids": ["bob"]}])
    );
}

#[tokio::test]
async fn an_oversized_watchlist_keeps_the_first_ids_with_4302() {
    let app = AppConfig {
        max_watchlist_size: 2,
        ..test_app()
    };
    let server = TestServer::with_app(app.clone()).await;
    let mut c = server.connect("test-key").await;
    let ud = json!({"id": "w", "watchlist": ["a", "b", "c"]}).to_string();
    let auth = signature::token(
        &app.key,
        &app.secret,
        &signature::user_string(&c.socket_id, &ud),
    );
    c.send(json!({"event": "pusher:signin", "data": {"auth": auth, "user_data": ud}}))
        .await;
    c.expect_error(4302).await;
    c.expect("pusher:signin_success").await;
    let events = watchlist_events(&c.next_event().await);
    assert_eq!(events, json!([{"name": "offline", "user_ids": ["a", "b"]}]));
    let mut cc = server.connect("test-key").await;
    cc.signin(&app, json!({"id": "c"})).await;
    c.expect_silence().await;
}
