//! Presence channels: member lists, member_added/removed to the others, one member per user,
//! and the per-app limits on members and user_info.

use crate::harness::{test_app, TestServer};
use ferrocast::config::AppConfig;
use serde_json::json;

fn added_user(f: &serde_json::Value) -> serde_json::Value {
    serde_json::from_str::<serde_json::Value>(f["data"].as_str().expect("string data"))
        .expect("json")
}

#[tokio::test]
async fn members_see_each_other_join_and_leave() {
    let app = test_app();
    let server = TestServer::start().await;
    let mut a = server.connect("test-key").await;
    let list = a
        .join(&app, "presence-room", "alice", json!({"name": "Alice"}))
        .await;
    assert_eq!(
        list,
        json!({"ids": ["alice"], "hash": {"alice": {"name": "Alice"}}, "count": 1})
    );
    let mut b = server.connect("test-key").await;
    let list = b
        .join(&app, "presence-room", "bob", json!({"name": "Bob"}))
        .await;
    assert_eq!(list["count"], 2);
    assert_eq!(list["hash"]["alice"], json!({"name": "Alice"}));
    let added = a.expect("pusher_internal:member_added").await;
    assert_eq!(added["channel"], "presence-room");
    assert_eq!(
        added_user(&added),
        json!({"user_id": "bob", "user_info": {"name": "Bob"}})
    );
    b.expect_silence().await;
    drop(b);
    let removed = a.expect("pusher_internal:member_removed").await;
    assert_eq!(added_user(&removed), json!({"user_id": "bob"}));
}

#[tokio::test]
async fn a_user_on_two_sockets_is_one_member() {
    let app = test_app();
    let server = TestServer::start().await;
    let api = server.api(&app);
    let mut watcher = server.connect("test-key").await;
    watcher.join(&app, "presence-room", "w", json!(null)).await;
    let mut tab1 = server.connect("test-key").await;
    tab1.join(&app, "presence-room", "u", json!({})).await;
    watcher.expect("pusher_internal:member_added").await;
    let mut tab2 = server.connect("test-key").await;
    let list = tab2.join(&app, "presence-room", "u", json!({})).await;
    assert_eq!(list["count"], 2);
    watcher.expect_silence().await;
    let (_, users) = api.get("/channels/presence-room/users", &[]).await;
    assert_eq!(users, json!({"users": [{"id": "u"}, {"id": "w"}]}));
    tab1.send(json!({"event": "pusher:unsubscribe", "data": {"channel": "presence-room"}}))
        .await;
    watcher.expect_silence().await;
    drop(tab2);
    let removed = watcher.expect("pusher_internal:member_removed").await;
    assert_eq!(added_user(&removed)["user_id"], "u");
}

#[tokio::test]
async fn numeric_user_ids_are_members_too() {
    let app = test_app();
    let server = TestServer::start().await;
    let mut a = server.connect("test-key").await;
    let cd = json!({"user_id": 42}).to_string();
    let auth = a.auth(&app, "presence-n", Some(&cd));
    a.subscribe_raw(json!({"channel": "presence-n", "auth": auth, "channel_data": cd}))
        .await;
    let d = a.expect_succeeded("presence-n").await;
    assert_eq!(d["presence"]["ids"], json!(["42"]));
}

#[tokio::test]
async fn presence_errors_are_subscription_errors() {
    let app = AppConfig {
        max_presence_members: 1,
        max_presence_user_info_kb: 1,
        ..test_app()
    };
    let server = TestServer::with_app(app.clone()).await;
    let mut a = server.connect("test-key").await;
    a.join(&app, "presence-full", "first", json!({})).await;
    let mut b = server.connect("test-key").await;
    let cd = json!({"user_id": "second"}).to_string();
    let auth = b.auth(&app, "presence-full", Some(&cd));
    b.subscribe_raw(json!({"channel": "presence-full", "auth": auth, "channel_data": cd}))
        .await;
    let f = b.expect("pusher:subscription_error").await;
    assert_eq!(f["data"]["type"], "LimitReached");
    // The same user on another socket is not a new member, so it still fits.
    let mut a2 = server.connect("test-key").await;
    a2.join(&app, "presence-full", "first", json!({})).await;

    let big = json!({"user_id": "big", "user_info": {"bio": "x".repeat(1100)}}).to_string();
    let auth = b.auth(&app, "presence-other", Some(&big));
    b.subscribe_raw(json!({"channel": "presence-other", "auth": auth, "channel_data": big}))
        .await;
    assert_eq!(
        b.expect("pusher:subscription_error").await["data"]["status"],
        413
    );

    let no_data = b.auth(&app, "presence-other", None);
    b.subscribe_raw(json!({"channel": "presence-other", "auth": no_data}))
        .await;
    assert_eq!(
        b.expect("pusher:subscription_error").await["data"]["status"],
        400
    );

    let tampered = json!({"user_id": "admin"}).to_string();
    b.subscribe_raw(json!({"channel": "presence-other", "auth": auth, "channel_data": tampered}))
        .await;
    assert_eq!(
        b.expect("pusher:subscription_error").await["data"]["type"],
        "AuthError"
    );
}
