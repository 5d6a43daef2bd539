//! Per-app rate limits over HTTP (429 with Retry-After, other apps unaffected), the origin
//! allow-list, and the bound on concurrent handshakes.

use crate::harness::{assert_error, config, test_app, TestServer, WsClient};
use ferrocast::config::AppConfig;
use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn other_app() -> AppConfig {
    AppConfig {
        id: "other".into(),
        key: "other-key".into(),
        secret: "other-secret".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn backend_events_are_limited_per_target_channel() {
    let app = AppConfig {
        max_backend_events_per_sec: 5,
        ..test_app()
    };
    let server = TestServer::with_config(config(vec![app.clone(), other_app()])).await;
    let api = server.api(&app);
    let mut c = server.connect("test-key").await;
    c.subscribe("a").await;
    let five = json!({"name": "e", "channels": ["a", "b", "c", "d", "e"], "data": "d"});
    assert_eq!(api.post("/events", five.clone()).await.0, 200);
    c.expect("e").await;
    let resp = api
        .post(
            "/events",
            json!({"name": "e", "channel": "a", "data": "late"}),
        )
        .await;
    assert_error(&resp, 429, "rate_limited");
    let raw = reqwest::Client::new()
        .get(format!("http://{}/apps/test-app/channels", server.addr))
        .send()
        .await;
    assert!(raw.is_ok());
    // The other app has its own budget.
    let other = server.api(&other_app());
    assert_eq!(other.post("/events", five).await.0, 200);
    // A request bigger than a whole second's budget can never pass.
    let six = json!({"name": "e", "channels": ["1", "2", "3", "4", "5", "6"], "data": "d"});
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_error(&api.post("/events", six).await, 429, "rate_limited");
}

#[tokio::test]
async fn rate_limited_answers_say_when_to_retry() {
    let app = AppConfig {
        max_read_requests_per_sec: 2,
        ..test_app()
    };
    let server = TestServer::with_app(app.clone()).await;
    let api = server.api(&app);
    assert_eq!(api.get("/channels", &[]).await.0, 200);
    assert_eq!(api.get("/channels/x", &[]).await.0, 200);
    let resp = api.get("/channels", &[]).await;
    assert_error(&resp, 429, "rate_limited");
    // Publishing is a different budget.
    assert_eq!(
        api.post("/events", json!({"name": "e", "channel": "a", "data": "d"}))
            .await
            .0,
        200
    );
    let url = format!("http://{}/apps/test-app/channels", server.addr);
    let query = ferrocast_protocol::signature::signed_query(
        &app.key,
        &app.secret,
        "GET",
        "/apps/test-app/channels",
        b"",
        crate::harness::now(),
        &[],
    );
    let r = reqwest::get(format!("{url}?{query}"))
        .await
        .expect("request");
    assert_eq!(r.status(), 429);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
}

async fn connect_with_origin(server: &TestServer, origin: Option<&str>) -> WsClient {
    let mut req = server
        .ws_url("test-key", "protocol=7")
        .into_client_request()
        .expect("request");
    if let Some(o) = origin {
        req.headers_mut()
            .insert("origin", o.parse().expect("header"));
    }
    WsClient::open_request(req).await
}

#[tokio::test]
async fn origins_outside_the_allow_list_are_refused_with_4009() {
    let app = AppConfig {
        allowed_origins: vec![
            "https://app.example.com".into(),
            "https://*.example.org".into(),
        ],
        ..test_app()
    };
    let server = TestServer::with_app(app).await;
    for ok in ["https://app.example.com", "https://x.example.org"] {
        let mut c = connect_with_origin(&server, Some(ok)).await;
        c.expect("pusher:connection_established").await;
    }
    for bad in [Some("https://evil.com"), Some("https://example.org"), None] {
        let mut c = connect_with_origin(&server, bad).await;
        let msg = c.expect_error(4009).await;
        assert!(msg.contains("Origin"), "{msg}");
        c.expect_close(4009).await;
    }
}

#[tokio::test]
async fn handshakes_beyond_the_limit_get_503_while_open_sockets_carry_on() {
    let server = TestServer::start().await;
    let api = server.api(&test_app());
    let mut open = server.connect("test-key").await;
    open.subscribe("news").await;
    let all = server.shared.config.max_concurrent_handshakes as u32;
    let held = server
        .shared
        .handshakes
        .clone()
        .acquire_many_owned(all)
        .await
        .expect("permits");
    let refused = tokio_tungstenite::connect_async(server.ws_url("test-key", "protocol=7")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 503),
        other => panic!("expected 503, got {:?}", other.map(|(_, r)| r.status())),
    }
    api.publish("news", "e", "still served").await;
    open.expect("e").await;
    drop(held);
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url("test-key", "protocol=7"))
        .await
        .expect("after");
    assert!(ws.next().await.is_some());
}

#[tokio::test]
async fn the_http_api_answers_cors_preflights_for_allowed_origins_only() {
    let mut cfg = config(vec![test_app()]);
    cfg.cors_allowed_origins = vec!["https://dash.example.com".into()];
    let server = TestServer::with_config(cfg).await;
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(
            reqwest::Method::OPTIONS,
            format!("http://{}/apps/test-app/events", server.addr),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
    };
    let ok = preflight("https://dash.example.com")
        .await
        .expect("preflight");
    let allow = ok
        .headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok());
    assert_eq!(allow, Some("https://dash.example.com"));
    let other = preflight("https://evil.example.com")
        .await
        .expect("preflight");
    assert!(other.headers().get("access-control-allow-origin").is_none());
}
