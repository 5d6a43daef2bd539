//! Querying channels over HTTP (`/channels`, `/channels/{name}`, `/channels/{name}/users`) against
//! real subscriptions, counts following unsubscribes and disconnects, and terminating a user's
//! connections.

use crate::harness::{assert_error, test_app, TestServer};
use ferrocast::config::AppConfig;
use serde_json::json;

#[tokio::test]
async fn list_shows_only_occupied_channels() {
    let server = TestServer::start().await;
    let app = test_app();
    let api = server.api(&app);
    assert_eq!(
        api.get("/channels", &[]).await,
        (200, json!({"channels": {}}))
    );
    let mut c = server.connect("test-key").await;
    let mut d = server.connect("test-key").await;
    for ch in ["a-1", "a-2", "b-1"] {
        c.subscribe(ch).await;
    }
    d.subscribe("a-1").await;
    c.subscribe_private(&app, "private-x").await;
    c.join(&app, "presence-room", "u1", json!({"name": "One"}))
        .await;
    d.join(&app, "presence-room", "u2", json!({})).await;
    api.publish("published-but-empty", "e", "d").await;
    let all = json!({"channels": {"a-1": {}, "a-2": {}, "b-1": {}, "presence-room": {}, "private-x": {}}});
    assert_eq!(api.get("/channels", &[]).await, (200, all));
    let resp = api.get("/channels", &[("filter_by_prefix", "a-")]).await;
    assert_eq!(resp, (200, json!({"channels": {"a-1": {}, "a-2": {}}})));
    let resp = api
        .get(
            "/channels",
            &[("filter_by_prefix", "a-"), ("info", "subscription_count")],
        )
        .await;
    let want =
        json!({"channels": {"a-1": {"subscription_count": 2}, "a-2": {"subscription_count": 1}}});
    assert_eq!(resp, (200, want));
    let resp = api
        .get(
            "/channels",
            &[("filter_by_prefix", "presence-"), ("info", "user_count")],
        )
        .await;
    assert_eq!(
        resp,
        (
            200,
            json!({"channels": {"presence-room": {"user_count": 2}}})
        )
    );
    let info = [
        ("filter_by_prefix", "presence-"),
        ("info", "user_count,subscription_count"),
    ];
    let want = json!({"channels": {"presence-room": {"user_count": 2, "subscription_count": 2}}});
    assert_eq!(api.get("/channels", &info).await, (200, want));
    let resp = api
        .get("/channels", &[("filter_by_prefix", "nothing-")])
        .await;
    assert_eq!(resp, (200, json!({"channels": {}})));
}

#[tokio::test]
async fn list_refuses_user_count_without_the_presence_prefix() {
    let server = TestServer::start().await;
    let api = server.api(&test_app());
    assert_error(
        &api.get("/channels", &[("info", "user_count")]).await,
        400,
        "invalid_info",
    );
    let resp = api
        .get(
            "/channels",
            &[("filter_by_prefix", "private-"), ("info", "user_count")],
        )
        .await;
    assert_error(&resp, 400, "invalid_info");
    assert_error(
        &api.get("/channels", &[("info", "bogus")]).await,
        400,
        "invalid_info",
    );
}

#[tokio::test]
async fn show_reports_occupancy_and_counts() {
    let server = TestServer::start().await;
    let app = test_app();
    let api = server.api(&app);
    assert_eq!(
        api.get("/channels/empty", &[]).await,
        (200, json!({"occupied": false}))
    );
    let resp = api
        .get("/channels/empty", &[("info", "subscription_count")])
        .await;
    assert_eq!(
        resp,
        (200, json!({"occupied": false, "subscription_count": 0}))
    );
    let (mut s1, mut s2, mut s3) = (
        server.connect("test-key").await,
        server.connect("test-key").await,
        server.connect("test-key").await,
    );
    s1.subscribe("room").await;
    s2.subscribe("room").await;
    assert_eq!(
        api.get("/channels/room", &[]).await,
        (200, json!({"occupied": true}))
    );
    let resp = api
        .get("/channels/room", &[("info", "subscription_count")])
        .await;
    assert_eq!(
        resp,
        (200, json!({"occupied": true, "subscription_count": 2}))
    );
    s1.join(&app, "presence-p", "u1", json!({})).await;
    s2.join(&app, "presence-p", "u1", json!({})).await;
    s3.join(&app, "presence-p", "u2", json!({})).await;
    let resp = api
        .get(
            "/channels/presence-p",
            &[("info", "user_count,subscription_count")],
        )
        .await;
    assert_eq!(
        resp,
        (
            200,
            json!({"occupied": true, "user_count": 2, "subscription_count": 3})
        )
    );
    let resp = api
        .get("/channels/presence-p", &[("info", "user_count")])
        .await;
    assert_eq!(resp, (200, json!({"occupied": true, "user_count": 2})));
    assert_error(
        &api.get("/channels/room", &[("info", "user_count")]).await,
        400,
        "invalid_info",
    );
    assert_error(
        &api.get("/channels/private-x", &[("info", "user_count")])
            .await,
        400,
        "invalid_info",
    );
    assert_error(
        &api.get("/channels/room", &[("info", "bogus")]).await,
        400,
        "invalid_info",
    );
    assert_error(
        &api.get("/channels/bad!name", &[]).await,
        400,
        "invalid_channel",
    );
}

#[tokio::test]
async fn show_info_cache_returns_the_cached_event() {
    let app = AppConfig {
        cache_ttl: 60,
        ..test_app()
    };
    let server = TestServer::with_app(app.clone()).await;
    let api = server.api(&app);
    let resp = api.get("/channels/cache-x", &[("info", "cache")]).await;
    assert_eq!(
        resp,
        (200, json!({"occupied": false})),
        "nothing cached yet"
    );
    api.publish("cache-x", "price", "{\"v\":1}").await;
    api.publish("plain", "price", "1").await;
    let (status, body) = api.get("/channels/cache-x", &[("info", "cache")]).await;
    assert_eq!(status, 200, "{body}");
    let ttl = body["cache"]["ttl"]
        .as_u64()
        .unwrap_or_else(|| panic!("ttl: {body}"));
    assert!((58..=60).contains(&ttl), "ttl {ttl} of 60: {body}");
    assert_eq!(
        body,
        json!({"occupied": false, "cache": {"event": "price", "data": "{\"v\":1}", "ttl": ttl}})
    );
    let resp = api.get("/channels/plain", &[("info", "cache")]).await;
    assert_eq!(
        resp,
        (200, json!({"occupied": false})),
        "only cache channels keep events"
    );
    // Without info=cache there is no cache attribute.
    assert_eq!(
        api.get("/channels/cache-x", &[]).await,
        (200, json!({"occupied": false}))
    );
}

#[tokio::test]
async fn users_lists_presence_members_once_each() {
    let server = TestServer::start().await;
    let app = test_app();
    let api = server.api(&app);
    assert_eq!(
        api.get("/channels/presence-room/users", &[]).await,
        (200, json!({"users": []}))
    );
    let (mut s1, mut s2, mut s3) = (
        server.connect("test-key").await,
        server.connect("test-key").await,
        server.connect("test-key").await,
    );
    s1.join(&app, "presence-room", "u1", json!({"name": "One"}))
        .await;
    s2.join(&app, "presence-room", "u1", json!({"name": "One"}))
        .await;
    s3.join(&app, "presence-room", "u2", json!({})).await;
    let want = json!({"users": [{"id": "u1"}, {"id": "u2"}]});
    assert_eq!(
        api.get("/channels/presence-room/users", &[]).await,
        (200, want)
    );
    s3.unsubscribe("presence-room").await;
    let want = json!({"users": [{"id": "u1"}]});
    api.get_until("/channels/presence-room/users", &[], |b| *b == want)
        .await;
    // u1 stays while any of its sockets is subscribed.
    drop(s1);
    let info = [("info", "subscription_count")];
    api.get_until("/channels/presence-room", &info, |b| {
        b["subscription_count"] == 1
    })
    .await;
    assert_eq!(
        api.get("/channels/presence-room/users", &[]).await,
        (200, want)
    );
    drop(s2);
    api.get_until("/channels/presence-room/users", &[], |b| {
        *b == json!({"users": []})
    })
    .await;
}

#[tokio::test]
async fn users_is_refused_for_other_channel_kinds() {
    let server = TestServer::start().await;
    let app = test_app();
    let api = server.api(&app);
    let mut c = server.connect("test-key").await;
    c.subscribe("room").await;
    c.subscribe_private(&app, "private-x").await;
    for ch in ["room", "private-x", "cache-x", "empty"] {
        let resp = api.get(&format!("/channels/{ch}/users"), &[]).await;
        assert_error(&resp, 400, "not_presence_channel");
    }
    assert_error(
        &api.get("/channels/bad!name/users", &[]).await,
        400,
        "invalid_channel",
    );
}

#[tokio::test]
async fn counts_drop_after_unsubscribe_and_disconnect() {
    let server = TestServer::start().await;
    let app = test_app();
    let api = server.api(&app);
    let mut a = server.connect("test-key").await;
    let mut b = server.connect("test-key").await;
    a.subscribe("room").await;
    b.subscribe("room").await;
    a.join(&app, "presence-p", "ua", json!({})).await;
    b.join(&app, "presence-p", "ub", json!({})).await;
    let info = [("info", "subscription_count")];
    assert_eq!(
        api.get("/channels/room", &info).await,
        (200, json!({"occupied": true, "subscription_count": 2}))
    );
    a.unsubscribe("room").await;
    api.get_until("/channels/room", &info, |b| {
        *b == json!({"occupied": true, "subscription_count": 1})
    })
    .await;
    let presence = [("info", "user_count,subscription_count")];
    assert_eq!(
        api.get("/channels/presence-p", &presence).await,
        (
            200,
            json!({"occupied": true, "user_count": 2, "subscription_count": 2})
        )
    );
    drop(b);
    api.get_until("/channels/room", &info, |b| {
        *b == json!({"occupied": false, "subscription_count": 0})
    })
    .await;
    let want = json!({"occupied": true, "user_count": 1, "subscription_count": 1});
    api.get_until("/channels/presence-p", &presence, |b| *b == want)
        .await;
    let want = json!({"channels": {"presence-p": {"user_count": 1}}});
    let resp = api
        .get(
            "/channels",
            &[("filter_by_prefix", "presence-"), ("info", "user_count")],
        )
        .await;
    assert_eq!(resp, (200, want));
    drop(a);
    api.get_until("/channels", &[], |b| *b == json!({"channels": {}}))
        .await;
}

#[tokio::test]
async fn terminate_connections_closes_every_socket_of_that_user_only() {
    let server = TestServer::start().await;
    let app = test_app();
    let api = server.api(&app);
    let mut u1a = server.connect("test-key").await;
    let mut u1b = server.connect("test-key").await;
    let mut u2 = server.connect("test-key").await;
    for (c, id) in [(&mut u1a, "u1"), (&mut u1b, "u1"), (&mut u2, "u2")] {
        let reply = c.signin(&app, json!({"id": id})).await;
        assert_eq!(reply["event"], "pusher:signin_success", "{reply}");
        c.subscribe("room").await;
    }
    let resp = api.post("/users/u1/terminate_connections", json!({})).await;
    assert_eq!(resp, (200, json!({})));
    u1a.expect_error_and_close(4009).await;
    u1b.expect_error_and_close(4009).await;
    // u2 is untouched: still subscribed and receiving.
    api.publish("room", "after", "x").await;
    assert_eq!(
        u2.next_event().await,
        json!({"event": "after", "channel": "room", "data": "x"})
    );
    let info = [("info", "subscription_count")];
    api.get_until("/channels/room", &info, |b| {
        *b == json!({"occupied": true, "subscription_count": 1})
    })
    .await;
    // Unknown users are fine: nothing to close.
    assert_eq!(
        api.post("/users/nobody/terminate_connections", json!({}))
            .await,
        (200, json!({}))
    );
    api.publish("room", "again", "y").await;
    assert_eq!(
        u2.next_event().await,
        json!({"event": "again", "channel": "room", "data": "y"})
    );
}
