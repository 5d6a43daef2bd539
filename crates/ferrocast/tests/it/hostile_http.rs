//! Hostile HTTP clients against the real binary: slowloris on the API and on the WebSocket
//! handshake, huge headers and URLs. Each is refused or cut off in bounded time, the server
//! keeps serving everyone else, and its memory (`/proc/<pid>/status`) stays bounded.

use crate::harness::process::{self, ProcessNode};
use crate::harness::raw::{self, RawClient};
use crate::harness::{test_app, ApiClient, WsClient};
use std::time::{Duration, Instant};

const TOML: &str = r#"
header_read_timeout = 1
app_store = "config"

[[apps]]
id = "test-app"
key = "test-key"
secret = "test-secret"
"#;

fn start(name: &str) -> ProcessNode {
    process::spawn(name, TOML)
}

/// A subscribed client and an API client, to show the server still serves its users.
async fn bystander(server: &ProcessNode) -> (WsClient, ApiClient) {
    let url = format!(
        "ws://127.0.0.1:{}/app/test-key?protocol=7&client=js&version=8.4.0",
        server.port
    );
    let mut ws = WsClient::connect(&url).await;
    ws.subscribe("news").await;
    (
        ws,
        ApiClient::new(format!("http://127.0.0.1:{}", server.port), test_app()),
    )
}

async fn still_serves(ws: &mut WsClient, api: &ApiClient) {
    let started = Instant::now();
    api.publish("news", "still-here", "x").await;
    ws.expect("still-here").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a publish took {:?} under attack",
        started.elapsed()
    );
}

#[tokio::test]
async fn slowloris_on_the_api_and_the_websocket_handshake_is_cut_off() {
    let server = start("slowloris");
    let (mut ws, api) = bystander(&server).await;
    let before = server.memory();
    let api_head = format!(
        "GET /apps/test-app/channels?auth_key=test-key HTTP/1.1\r\nHost: {}\r\nX-Pad: {}\r\n\r\n",
        server.addr(),
        "p".repeat(64)
    );
    let ws_head = raw::handshake(server.addr(), "/app/test-key?protocol=7");
    let mut attackers = Vec::new();
    for i in 0..150 {
        let head = match i % 3 {
            0 => api_head.clone(),
            1 => ws_head.clone(),
            // Connects and sends nothing at all.
            _ => String::new(),
        };
        let addr = server.addr();
        attackers.push(tokio::spawn(async move {
            let started = Instant::now();
            let mut c = RawClient::connect(addr).await;
            let written = c.dribble(head.as_bytes(), Duration::from_millis(100)).await;
            let cut = written < head.len() || c.closed_within(Duration::from_secs(4)).await;
            (cut, written, head.len(), started.elapsed())
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    still_serves(&mut ws, &api).await;
    for a in attackers {
        let (cut, written, len, took) = a.await.expect("attacker");
        assert!(
            cut,
            "a slow client was never cut off ({written}/{len} bytes)"
        );
        assert!(
            len == 0 || written < len,
            "a slow client got its whole head in ({len} bytes)"
        );
        assert!(took < Duration::from_secs(4), "cut off only after {took:?}");
    }
    still_serves(&mut ws, &api).await;
    server.assert_memory_within(before, 16, "slowloris");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let server = start("keepalive");
    let mut c = RawClient::connect(server.addr()).await;
    c.write(format!("GET /health HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr()).as_bytes())
        .await
        .expect("request");
    let head = c.read_head().await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let started = Instant::now();
    assert!(
        c.closed_within(Duration::from_secs(4)).await,
        "an idle keep-alive connection is held open"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "closed too early"
    );
}

/// Sends `head` (writing stops quietly if the server hangs up mid-way) and returns the status
/// line the server answered, after checking that it closed the connection.
async fn refused_head(server: &ProcessNode, head: &[u8]) -> String {
    let mut c = RawClient::connect(server.addr()).await;
    let _ = c.write(head).await;
    let answer = c.read_head().await;
    assert!(
        c.closed_within(Duration::from_secs(2)).await,
        "connection left open after {answer:?}"
    );
    answer.lines().next().unwrap_or("").to_owned()
}

#[tokio::test]
async fn huge_headers_and_urls_are_refused_and_the_connection_closed() {
    let server = start("huge-heads");
    let (mut ws, api) = bystander(&server).await;
    let before = server.memory();
    let host = server.addr();
    let long_url = format!(
        "GET /apps/test-app/channels?x={} HTTP/1.1\r\nHost: {host}\r\n\r\n",
        "u".repeat(100 * 1024)
    );
    let status = refused_head(&server, long_url.as_bytes()).await;
    eprintln!("a 100 KiB URL: {status}");
    assert!(
        status.contains(" 414 ") || status.contains(" 431 "),
        "long URL: {status}"
    );
    let big_header = format!(
        "GET /health HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\n\r\n",
        "h".repeat(64 * 1024)
    );
    assert!(refused_head(&server, big_header.as_bytes())
        .await
        .contains(" 431 "));
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many_headers = format!("GET /health HTTP/1.1\r\nHost: {host}\r\n{many}\r\n");
    assert!(refused_head(&server, many_headers.as_bytes())
        .await
        .contains(" 431 "));
    let ws_big = raw::handshake(host, "/app/test-key?protocol=7").replace(
        "\r\n\r\n",
        &format!("\r\nCookie: {}\r\n\r\n", "c".repeat(64 * 1024)),
    );
    assert!(refused_head(&server, ws_big.as_bytes())
        .await
        .contains(" 431 "));
    // Many clients sending megabytes of header at once: the server reads no more than its
    // limit from each.
    let floods: Vec<_> = (0..20)
        .map(|_| {
            tokio::spawn(async move {
                let mut c = RawClient::connect(host).await;
                let endless = format!("GET / HTTP/1.1\r\nX-Flood: {}", "f".repeat(4 << 20));
                let _ = c.write(endless.as_bytes()).await;
                c.closed_within(Duration::from_secs(3)).await
            })
        })
        .collect();
    for f in floods {
        assert!(f.await.expect("flood"), "a header flood was not cut off");
    }
    still_serves(&mut ws, &api).await;
    server.assert_memory_within(before, 16, "huge headers");
}
