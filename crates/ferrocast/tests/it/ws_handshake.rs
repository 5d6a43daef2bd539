//! The WebSocket handshake the listener answers itself (`ws::handshake`): frames a client sends
//! right behind its upgrade request are read, requests that are not complete upgrades get HTTP
//! answers, and the API on the same port is untouched by the sniffing in front of it.

use crate::harness::raw::{self, RawClient, TEXT};
use crate::harness::TestServer;

fn event(payload: &[u8]) -> serde_json::Value {
    serde_json::from_slice(payload).expect("a JSON frame")
}

#[tokio::test]
async fn a_frame_sent_with_the_upgrade_request_is_read() {
    let server = TestServer::start().await;
    let mut c = RawClient::connect(server.addr).await;
    let mut bytes = raw::handshake(server.addr, "/app/test-key?protocol=7").into_bytes();
    let subscribe = br#"{"event":"pusher:subscribe","data":{"channel":"news"}}"#;
    bytes.extend_from_slice(&raw::frame(true, TEXT, subscribe));
    c.write(&bytes).await.expect("write");
    let head = c.read_head().await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "RFC 6455's example key gets its example answer: {head}"
    );
    let (_, first) = c.read_frame().await.expect("a frame");
    assert_eq!(event(&first)["event"], "pusher:connection_established");
    let (_, second) = c.read_frame().await.expect("a frame");
    let second = event(&second);
    assert_eq!(second["event"], "pusher_internal:subscription_succeeded");
    assert_eq!(second["channel"], "news");
}

#[tokio::test]
async fn the_websocket_path_without_an_upgrade_is_426() {
    let server = TestServer::start().await;
    let host = server.addr;
    for head in [
        format!("GET /app/test-key?protocol=7 HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        // An upgrade without its key is not one.
        format!(
            "GET /app/test-key?protocol=7 HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ),
    ] {
        let mut c = RawClient::connect(server.addr).await;
        c.write(head.as_bytes()).await.expect("write");
        let answer = c.read_head().await;
        assert!(answer.starts_with("HTTP/1.1 426"), "{answer}");
    }
    let resp = reqwest::get(format!("http://{host}/app/test-key"))
        .await
        .expect("request");
    assert_eq!(resp.status(), 426);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "upgrade_required");
}

#[tokio::test]
async fn http_requests_on_one_keep_alive_connection_still_work() {
    let server = TestServer::start().await;
    let host = server.addr;
    let mut c = RawClient::connect(server.addr).await;
    // Two requests in one write: the second is in the bytes read while looking at the first.
    let two = format!(
        "GET /health HTTP/1.1\r\nHost: {host}\r\n\r\nGET /app/test-key HTTP/1.1\r\nHost: {host}\r\n\r\n"
    );
    c.write(two.as_bytes()).await.expect("write");
    let first = c.read_head().await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    // The first answer's body, then the second answer's head.
    let rest = c.read_head().await;
    assert!(rest.contains("HTTP/1.1 426"), "{rest}");
}
