//! Connecting: the handshake frame, protocol versions, refusals at the door, keep-alives,
//! sign-in deadlines and draining.

use crate::harness::{config, test_app, Frame, TestServer, WsClient};
use ferrocast::config::AppConfig;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn handshake_gives_a_socket_id_and_the_activity_timeout() {
    let mut cfg = config(vec![test_app()]);
    cfg.activity_timeout = 42;
    let server = TestServer::with_config(cfg).await;
    let mut c = WsClient::open(&server.ws_url("test-key", "protocol=7")).await;
    let f = c.expect("pusher:connection_established").await;
    let d: serde_json::Value =
        serde_json::from_str(f["data"].as_str().expect("data is a string")).expect("json");
    assert_eq!(d["activity_timeout"], 42);
    let id = d["socket_id"].as_str().expect("socket_id");
    let (a, b) = id.split_once('.').expect("dot");
    assert!(
        a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit()),
        "{id}"
    );
    let other = server.connect("test-key").await;
    assert_ne!(other.socket_id, id, "socket ids are unique");
}

#[tokio::test]
async fn protocol_versions_5_to_7_are_accepted() {
    let server = TestServer::start().await;
    for v in ["5", "6", "7"] {
        WsClient::connect(&server.ws_url("test-key", &format!("protocol={v}&client=Pysher"))).await;
    }
}

#[tokio::test]
async fn refusals_at_the_door_use_pushers_codes() {
    let disabled = AppConfig {
        id: "off".into(),
        key: "off-key".into(),
        secret: "s".into(),
        enabled: false,
        ..Default::default()
    };
    let server = TestServer::with_config(config(vec![test_app(), disabled])).await;
    let cases = [
        (server.ws_url("nope", "protocol=7"), 4001),
        (server.ws_url("off-key", "protocol=7"), 4003),
        (server.ws_url("test-key", "client=js"), 4008),
        (server.ws_url("test-key", "protocol=abc"), 4006),
        (server.ws_url("test-key", "protocol=4"), 4007),
        (server.ws_url("test-key", "protocol=8"), 4007),
        (format!("ws://{}/not/the/path", server.addr), 4005),
    ];
    for (url, code) in cases {
        let mut c = WsClient::open(&url).await;
        c.expect_error_and_close(code).await;
    }
}

#[tokio::test]
async fn over_the_connection_quota_is_4004_until_a_slot_frees() {
    let server = TestServer::with_app(AppConfig {
        max_connections: 2,
        ..test_app()
    })
    .await;
    let a = server.connect("test-key").await;
    let _b = server.connect("test-key").await;
    let mut c = WsClient::open(&server.ws_url("test-key", "protocol=7")).await;
    c.expect_error_and_close(4004).await;
    drop(a);
    let app = server.shared.apps.by_key("test-key").expect("app");
    crate::harness::eventually("the slot is given back", || app.connections() == 1).await;
    server.connect("test-key").await;
}

#[tokio::test]
async fn client_ping_gets_a_pong() {
    let server = TestServer::start().await;
    let mut c = server.connect("test-key").await;
    c.send(json!({"event": "pusher:ping", "data": {}})).await;
    c.expect("pusher:pong").await;
    c.send(json!({"event": "pusher:ping", "data": ""})).await;
    c.expect("pusher:pong").await;
}

fn fast_keepalive(idle: u64) -> ferrocast::Config {
    let mut cfg = config(vec![test_app()]);
    cfg.activity_timeout = 1;
    cfg.pong_timeout = 1;
    cfg.idle_timeout = idle;
    cfg
}

#[tokio::test]
async fn a_silent_client_is_pinged_then_closed_with_4201() {
    let server = TestServer::with_config(fast_keepalive(3600)).await;
    let mut c = server.connect("test-key").await;
    c.expect("pusher:ping").await;
    c.expect_error_and_close(4201).await;
}

#[tokio::test]
async fn answering_pings_keeps_the_connection_until_the_idle_timeout() {
    let server = TestServer::with_config(fast_keepalive(4)).await;
    let mut c = server.connect("test-key").await;
    let mut pings = 0;
    loop {
        match c.next_frame().await {
            Frame::Event(v) if v["event"] == "pusher:ping" => {
                pings += 1;
                c.send(json!({"event": "pusher:pong", "data": {}})).await;
            }
            Frame::Event(v) if v["event"] == "pusher:error" => {
                assert_eq!(v["data"]["code"], 4202);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        pings >= 2,
        "the client answered {pings} pings and stayed connected meanwhile"
    );
    c.expect_close(4202).await;
}

#[tokio::test]
async fn sign_in_required_closes_unsigned_connections_with_4009() {
    let app = AppConfig {
        user_auth_required: true,
        user_auth_timeout: 1,
        ..test_app()
    };
    let server = TestServer::with_app(app.clone()).await;
    let mut late = server.connect("test-key").await;
    let mut signed = server.connect("test-key").await;
    assert_eq!(
        signed.signin(&app, json!({"id": "u1"})).await["event"],
        "pusher:signin_success"
    );
    late.expect_error_and_close(4009).await;
    assert!(
        signed
            .next_within(Duration::from_millis(500))
            .await
            .is_none(),
        "signed-in socket stays"
    );
}

#[tokio::test]
async fn draining_sends_4200_refuses_new_sockets_and_flips_readiness() {
    let mut cfg = config(vec![test_app()]);
    cfg.drain_grace = 3;
    let server = TestServer::with_config(cfg).await;
    let mut c = server.connect("test-key").await;
    c.subscribe("news").await;
    let http = reqwest::Client::new();
    for addr in [server.addr, server.ops_addr] {
        let r = http
            .get(format!("http://{addr}/ready"))
            .send()
            .await
            .expect("ready");
        assert_eq!(r.status(), 200);
    }
    server.shared.shutdown.begin();
    c.expect_error_and_close(4200).await;
    let mut late = WsClient::open(&server.ws_url("test-key", "protocol=7")).await;
    late.expect_error_and_close(4200).await;
    for addr in [server.addr, server.ops_addr] {
        let r = http
            .get(format!("http://{addr}/ready"))
            .send()
            .await
            .expect("still listening");
        assert_eq!(r.status(), 503, "not ready while draining");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_close_is_answered_with_a_close() {
    use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
    let server = TestServer::start().await;
    let mut c = server.connect("test-key").await;
    let close = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    c.send_message(tokio_tungstenite::tungstenite::Message::Close(Some(close)))
        .await;
    match c.next_frame().await {
        Frame::Close(code) => assert_eq!(code, Some(1000), "the server echoes the close code"),
        other => panic!("expected the server's close, got {other:?}"),
    }
}
