//! Publishing over HTTP: `POST /events` and `/batch_events` delivered to real WebSocket
//! subscribers, the `info` answers, and every refusal with its status and code.
//!
//! "Nothing was delivered" is proven without timing: after the refused request a marker event is
//! published to the same channel, and the subscriber's very next frame must be that marker.

use crate::harness::{assert_error, config, test_app, ApiClient, TestServer, WsClient};
use ferrocast::config::AppConfig;
use serde_json::{json, Value};

fn ev(event: &str, channel: &str, data: &str) -> Value {
    json!({"event": event, "channel": channel, "data": data})
}

/// Publishes a marker to `channel` and asserts it is the next thing `c` receives.
async fn next_is_marker(api: &ApiClient, c: &mut WsClient, channel: &str) {
    api.publish(channel, "marker", "m").await;
    assert_eq!(
        c.next_event().await,
        ev("marker", channel, "m"),
        "something else arrived first"
    );
}

#[tokio::test]
async fn publish_to_one_channel_relays_data_verbatim() {
    let server = TestServer::start().await;
    let api = server.api(&test_app());
    let mut c = server.connect("test-key").await;
    c.subscribe("news").await;
    // Odd spacing and a float: relayed byte for byte, never re-serialised.
    let data = r#"{ "price" : 1.50, "tags":["a"] }"#;
    let resp = api
        .post(
            "/events",
            json!({"name": "update", "channels": ["news"], "data": data}),
        )
        .await;
    assert_eq!(resp, (200, json!({})));
    let f = c.next_event().await;
    assert_eq!(f, ev("update", "news", data));
    assert!(f["data"].is_string());
    // An object `data` (tolerated extension) is relayed as its JSON text.
    let resp = api
        .post(
            "/events",
            json!({"name": "obj", "channels": ["news"], "data": {"a": 1}}),
        )
        .await;
    assert_eq!(resp, (200, json!({})));
    assert_eq!(c.next_event().await, ev("obj", "news", r#"{"a":1}"#));
}

#[tokio::test]
async fn publish_to_several_channels_reaches_each_subscriber() {
    let server = TestServer::start().await;
    let app = test_app();
    let api = server.api(&app);
    let mut x = server.connect("test-key").await;
    x.subscribe("a").await;
    x.subscribe_private(&app, "private-b").await;
    let mut y = server.connect("test-key").await;
    y.subscribe("c").await;
    let body =
        json!({"name": "multi", "channels": ["a", "private-b", "c", "unwatched"], "data": "hi"});
    assert_eq!(api.post("/events", body).await, (200, json!({})));
    let got = [x.next_event().await, x.next_event().await];
    assert!(got.contains(&ev("multi", "a", "hi")), "{got:?}");
    assert!(got.contains(&ev("multi", "private-b", "hi")), "{got:?}");
    assert_eq!(y.next_event().await, ev("multi", "c", "hi"));
    next_is_marker(&api, &mut x, "a").await;
    next_is_marker(&api, &mut y, "c").await;
}

#[tokio::test]
async fn singular_channel_form_is_accepted() {
    let server = TestServer::start().await;
    let api = server.api(&test_app());
    let mut c = server.connect("test-key").await;
    c.subscribe("solo").await;
    let resp = api
        .post(
            "/events",
            json!({"name": "one", "channel": "solo", "data": "d"}),
        )
        .await;
    assert_eq!(resp, (200, json!({})));
    assert_eq!(c.next_event().await, ev("one", "solo", "d"));
}

#[tokio::test]
async fn socket_id_excludes_only_that_connection() {
    let server = TestServer::start().await;
    let api = server.api(&test_app());
    let mut a = server.connect("test-key").await;
    let mut b = server.connect("test-key").await;
    a.subscribe("room").await;
    b.subscribe("room").await;
    let body = json!({"name": "said", "channels": ["room"], "data": "x", "socket_id": a.socket_id});
    assert_eq!(api.post("/events", body).await, (200, json!({})));
    assert_eq!(b.next_event().await, ev("said", "room", "x"));
    // a's next frame is the marker: the excluded event never reached it.
    next_is_marker(&api, &mut a, "room").await;
    assert_eq!(b.next_event().await, ev("marker", "room", "m"));
}

#[tokio::test]
async fn info_reports_real_counts() {
    let server = TestServer::start().await;
    let app = test_app();
    let api = server.api(&app);
    let (mut s1, mut s2, mut s3) = (
        server.connect("test-key").await,
        server.connect("test-key").await,
        server.connect("test-key").await,
    );
    s1.subscribe("pub").await;
    s1.join(&app, "presence-x", "u1", json!({})).await;
    s2.join(&app, "presence-x", "u1", json!({})).await;
    s3.join(&app, "presence-x", "u2", json!({})).await;
    let publish = |channels: Value, info: &str| {
        let body = json!({"name": "e", "channels": channels, "data": "d", "info": info});
        api.post("/events", body)
    };
    let resp = publish(json!(["presence-x"]), "user_count,subscription_count").await;
    assert_eq!(
        resp,
        (
            200,
            json!({"channels": {"presence-x": {"user_count": 2, "subscription_count": 3}}})
        )
    );
    let resp = publish(json!(["presence-x"]), "user_count").await;
    assert_eq!(
        resp,
        (200, json!({"channels": {"presence-x": {"user_count": 2}}}))
    );
    // Mixed channel kinds: user_count is left out where it does not apply, as Pusher does.
    let resp = publish(
        json!(["presence-x", "pub"]),
        "user_count,subscription_count",
    )
    .await;
    let want = json!({"channels": {
        "presence-x": {"user_count": 2, "subscription_count": 3},
        "pub": {"subscription_count": 1}}});
    assert_eq!(resp, (200, want));
    let resp = publish(json!(["pub", "nobody"]), "subscription_count").await;
    let want = json!({"channels": {"pub": {"subscription_count": 1}, "nobody": {"subscription_count": 0}}});
    assert_eq!(resp, (200, want));
    // The counted events were delivered too.
    assert_eq!(s3.wait_for("e").await, ev("e", "presence-x", "d"));
}

#[tokio::test]
async fn batch_delivers_each_event_to_its_channel() {
    let server = TestServer::start().await;
    let api = server.api(&test_app());
    let mut x = server.connect("test-key").await;
    x.subscribe("a").await;
    let mut y = server.connect("test-key").await;
    y.subscribe("b").await;
    let batch = json!({"batch": [
        {"name": "e1", "channel": "a", "data": "d1"},
        {"name": "e2", "channel": "b", "data": "{\"k\": 2}"},
        {"name": "e3", "channel": "a", "data": "d3", "socket_id": y.socket_id},
    ]});
    assert_eq!(api.post("/batch_events", batch).await, (200, json!({})));
    assert_eq!(x.next_event().await, ev("e1", "a", "d1"));
    assert_eq!(x.next_event().await, ev("e3", "a", "d3"));
    assert_eq!(y.next_event().await, ev("e2", "b", "{\"k\": 2}"));
    next_is_marker(&api, &mut y, "b").await;
}

#[tokio::test]
async fn batch_info_is_index_aligned() {
    let server = TestServer::start().await;
    let app = test_app();
    let api = server.api(&app);
    let mut c = server.connect("test-key").await;
    c.join(&app, "presence-x", "u1", json!({})).await;
    c.subscribe("b").await;
    let batch = json!({"batch": [
        {"name": "e", "channel": "presence-x", "data": "1", "info": "user_count,subscription_count"},
        {"name": "e", "channel": "b", "data": "2"},
        {"name": "e", "channel": "b", "data": "3", "info": "subscription_count"},
    ]});
    let want = json!({"batch": [
        {"user_count": 1, "subscription_count": 1},
        {},
        {"subscription_count": 1},
    ]});
    assert_eq!(api.post("/batch_events", batch).await, (200, want));
}

#[tokio::test]
async fn over_limit_publishes_are_refused_and_deliver_nothing() {
    let server = TestServer::start().await;
    let api = server.api(&test_app());
    let mut c = server.connect("test-key").await;
    c.subscribe("ch-0").await;
    let names = |n: usize| (0..n).map(|i| format!("ch-{i}")).collect::<Vec<_>>();
    let resp = api
        .post(
            "/events",
            json!({"name": "e", "channels": names(101), "data": "d"}),
        )
        .await;
    assert_error(&resp, 400, "too_many_channels");
    let event = |i: usize| json!({"name": format!("e{i}"), "channel": "ch-0", "data": "d"});
    let resp = api
        .post(
            "/batch_events",
            json!({"batch": (0..11).map(event).collect::<Vec<_>>()}),
        )
        .await;
    assert_error(&resp, 400, "batch_too_large");
    // One bad event refuses the whole batch, including the valid events before it.
    let batch = json!({"batch": [event(0), {"name": "e", "channel": "bad channel!", "data": "d"}]});
    assert_error(
        &api.post("/batch_events", batch).await,
        400,
        "invalid_channel",
    );
    next_is_marker(&api, &mut c, "ch-0").await;
    // At the limits, both pass.
    assert_eq!(
        api.post(
            "/events",
            json!({"name": "e", "channels": names(100), "data": "d"})
        )
        .await
        .0,
        200
    );
    assert_eq!(c.next_event().await, ev("e", "ch-0", "d"));
    let resp = api
        .post(
            "/batch_events",
            json!({"batch": (0..10).map(event).collect::<Vec<_>>()}),
        )
        .await;
    assert_eq!(resp, (200, json!({})));
    for i in 0..10 {
        assert_eq!(c.next_event().await, ev(&format!("e{i}"), "ch-0", "d"));
    }
}

#[tokio::test]
async fn invalid_publishes_get_their_status_and_code() {
    let server = TestServer::start().await;
    let api = server.api(&test_app());
    let mut c = server.connect("test-key").await;
    c.subscribe("watched").await;
    let pb = |name: &str, data: &str| json!({"name": name, "channels": ["watched"], "data": data});
    let with = |k: &str, v: Value| {
        let mut b = pb("e", "d");
        b[k] = v;
        b
    };
    let cases = [
        (
            with("channels", json!(["watched", "bad channel!"])),
            400,
            "invalid_channel",
        ),
        (
            with("channels", json!(["c".repeat(201)])),
            400,
            "invalid_channel",
        ),
        (pb(&"e".repeat(201), "d"), 400, "invalid_event_name"),
        (pb("", "d"), 400, "invalid_event_name"),
        (
            pb("e", &"x".repeat(10 * 1024 + 1)),
            413,
            "payload_too_large",
        ),
        (with("socket_id", json!("abc")), 400, "invalid_socket_id"),
        (with("socket_id", json!("1.2.3")), 400, "invalid_socket_id"),
        (pb("pusher:fake", "d"), 400, "invalid_event_name"),
        (
            pb("pusher_internal:member_added", "d"),
            400,
            "invalid_event_name",
        ),
        (with("info", json!("bogus")), 400, "invalid_info"),
        (with("channels", json!([])), 400, "missing_channels"),
        (json!({"name": "e", "data": "d"}), 400, "missing_channels"),
        (
            json!({"channels": ["watched"], "data": "d"}),
            400,
            "invalid_json",
        ),
    ];
    for (body, status, code) in cases {
        let resp = api.post("/events", body.clone()).await;
        assert_error(&resp, status, code);
    }
    assert_error(
        &api.post_bytes("/events", b"{\"name\": \"e\", ").await,
        400,
        "invalid_json",
    );
    assert_error(
        &api.post_bytes("/batch_events", b"not json").await,
        400,
        "invalid_json",
    );
    next_is_marker(&api, &mut c, "watched").await;
}

#[tokio::test]
async fn values_exactly_at_the_limits_pass() {
    let server = TestServer::start().await;
    let api = server.api(&test_app());
    let mut c = server.connect("test-key").await;
    let long_channel = "c".repeat(200);
    c.subscribe(&long_channel).await;
    let name = "n".repeat(200);
    let data = "x".repeat(10 * 1024);
    let resp = api
        .post(
            "/events",
            json!({"name": name, "channels": [long_channel], "data": data}),
        )
        .await;
    assert_eq!(resp, (200, json!({})));
    let f = c.next_event().await;
    assert_eq!(f, ev(&name, &long_channel, &data));
}

#[tokio::test]
async fn per_app_limits_come_from_the_app_config() {
    let app = AppConfig {
        max_channels_per_event: 2,
        max_batch_size: 2,
        max_payload_kb: 1,
        max_event_name_length: 10,
        ..test_app()
    };
    let server = TestServer::with_app(app.clone()).await;
    let api = server.api(&app);
    let pb = |channels: Value, name: &str, size: usize| json!({"name": name, "channels": channels, "data": "x".repeat(size)});
    assert_error(
        &api.post("/events", pb(json!(["a", "b", "c"]), "e", 1))
            .await,
        400,
        "too_many_channels",
    );
    assert_eq!(
        api.post("/events", pb(json!(["a", "b"]), "e", 1)).await,
        (200, json!({}))
    );
    assert_error(
        &api.post("/events", pb(json!(["a"]), "e", 1025)).await,
        413,
        "payload_too_large",
    );
    assert_eq!(
        api.post("/events", pb(json!(["a"]), "e", 1024)).await,
        (200, json!({}))
    );
    assert_error(
        &api.post("/events", pb(json!(["a"]), "elevenchars", 1))
            .await,
        400,
        "invalid_event_name",
    );
    assert_eq!(
        api.post("/events", pb(json!(["a"]), "tenchars..", 1)).await,
        (200, json!({}))
    );
    let event = json!({"name": "e", "channel": "a", "data": "d"});
    let resp = api
        .post("/batch_events", json!({"batch": [event, event, event]}))
        .await;
    assert_error(&resp, 400, "batch_too_large");
    assert_eq!(
        api.post("/batch_events", json!({"batch": [event, event]}))
            .await,
        (200, json!({}))
    );
}

#[tokio::test]
async fn request_bodies_over_max_request_kb_are_413() {
    let mut cfg = config(vec![test_app()]);
    cfg.max_request_kb = 2;
    let server = TestServer::with_config(cfg).await;
    let api = server.api(&test_app());
    let body = |size: usize| json!({"name": "e", "channels": ["c"], "data": "x".repeat(size)});
    assert_error(
        &api.post("/events", body(2048)).await,
        413,
        "request_too_large",
    );
    assert_eq!(api.post("/events", body(1900)).await, (200, json!({})));
}

#[tokio::test]
async fn cache_channels_replay_the_last_event_to_new_subscribers() {
    let server = TestServer::start().await;
    let api = server.api(&test_app());
    api.publish("cache-x", "price", "1").await;
    api.publish("cache-x", "price", "{\"v\":2}").await;
    let mut c = server.connect("test-key").await;
    c.subscribe("cache-x").await;
    assert_eq!(c.next_event().await, ev("price", "cache-x", "{\"v\":2}"));
    // Live events still flow; the next subscriber gets the newest one.
    api.publish("cache-x", "price", "3").await;
    assert_eq!(c.next_event().await, ev("price", "cache-x", "3"));
    let mut d = server.connect("test-key").await;
    d.subscribe("cache-x").await;
    assert_eq!(d.next_event().await, ev("price", "cache-x", "3"));
    // Nothing published yet: a cache miss right after subscription_succeeded.
    d.subscribe("cache-empty").await;
    assert_eq!(
        d.next_event().await,
        json!({"event": "pusher:cache_miss", "channel": "cache-empty"})
    );
    // Private cache channels cache too.
    api.publish("private-cache-p", "secret", "s").await;
    d.subscribe_private(&test_app(), "private-cache-p").await;
    assert_eq!(d.next_event().await, ev("secret", "private-cache-p", "s"));
}

#[tokio::test]
async fn a_channel_named_twice_is_delivered_once() {
    let server = TestServer::start().await;
    let api = server.api(&test_app());
    let mut c = server.connect("test-key").await;
    c.subscribe("a").await;
    let body =
        json!({"name": "e", "channels": ["a", "a"], "data": "d", "info": "subscription_count"});
    let resp = api.post("/events", body).await;
    assert_eq!(
        resp,
        (200, json!({"channels": {"a": {"subscription_count": 1}}}))
    );
    assert_eq!(c.next_event().await, ev("e", "a", "d"));
    next_is_marker(&api, &mut c, "a").await;
}
