//! Hostile WebSocket clients against the real binary, with frames written by hand: fragmented
//! messages whose total passes `max_message_kb`, invalid UTF-8, and ping floods. Each gets the
//! RFC 6455 close code (or is simply absorbed), everyone else is served on time, and the
//! server's memory (`/proc/<pid>/status`) stays bounded.

use crate::harness::process::{self, ProcessNode};
use crate::harness::raw::{frame, RawClient, CONTINUATION, PING, TEXT};
use crate::harness::{test_app, ApiClient, WsClient};
use std::time::{Duration, Instant};

fn start(name: &str) -> ProcessNode {
    process::spawn(
        name,
        r#"
max_message_kb = 64
app_store = "config"

[[apps]]
id = "test-app"
key = "test-key"
secret = "test-secret"
"#,
    )
}

const PATH: &str = "/app/test-key?protocol=7&client=js&version=8.4.0";

async fn bystander(server: &ProcessNode) -> (WsClient, ApiClient) {
    let mut ws = WsClient::connect(&format!("ws://127.0.0.1:{}{PATH}", server.port)).await;
    ws.subscribe("news").await;
    let api = ApiClient::new(format!("http://127.0.0.1:{}", server.port), test_app());
    (ws, api)
}

/// A publish reaches the bystander within `within`.
async fn still_serves(ws: &mut WsClient, api: &ApiClient, within: Duration) {
    let started = Instant::now();
    api.publish("news", "still-here", "x").await;
    ws.expect("still-here").await;
    eprintln!("publish delivered in {:?}", started.elapsed());
    assert!(
        started.elapsed() < within,
        "a publish took {:?} under attack",
        started.elapsed()
    );
}

/// A raw WebSocket past `connection_established`.
async fn raw_socket(server: &ProcessNode) -> RawClient {
    let mut c = RawClient::websocket(server.addr(), PATH).await;
    let (opcode, first) = c.read_frame().await.expect("connection_established");
    assert_eq!(opcode, TEXT);
    assert!(String::from_utf8_lossy(&first).contains("pusher:connection_established"));
    c
}

#[tokio::test]
async fn fragments_adding_up_past_the_cap_close_1009_before_the_rest_is_read() {
    let server = start("fragments");
    let (mut ws, api) = bystander(&server).await;
    let before = server.memory();
    let mut c = raw_socket(&server).await;
    let fragment = vec![b'a'; 32 * 1024];
    // 256 MiB in 32 KiB fragments, each under the frame cap; a server that buffered the
    // message whole would grow by as much.
    const FRAGMENTS: usize = 8192;
    let mut sent = 0usize;
    let mut code = None;
    for i in 0..FRAGMENTS {
        let opcode = if i == 0 { TEXT } else { CONTINUATION };
        if c.send_frame(false, opcode, &fragment).await.is_err() {
            break;
        }
        sent += fragment.len();
        if let Some(c) = c.close_received() {
            code = c;
            break;
        }
    }
    if code.is_none() {
        code = c.close_code().await;
    }
    assert_eq!(code, Some(1009), "closed with 1009 after {sent} bytes");
    assert!(
        sent < 32 << 20,
        "the server kept reading {sent} bytes of a message capped at 64 KiB"
    );
    still_serves(&mut ws, &api, Duration::from_secs(1)).await;
    server.assert_memory_within(before, 16, "oversized fragmented message");
}

#[tokio::test]
async fn invalid_utf8_closes_1007_and_others_carry_on() {
    let server = start("utf8");
    let (mut ws, api) = bystander(&server).await;
    let mut whole = raw_socket(&server).await;
    whole
        .send_frame(true, TEXT, b"{\"event\":\"\xff\xfe\"}")
        .await
        .expect("send");
    assert_eq!(whole.close_code().await, Some(1007));
    // A sequence split across fragments, valid so far, broken in the continuation.
    let mut split = raw_socket(&server).await;
    split
        .send_frame(false, TEXT, b"{\"event\":\"\xc3")
        .await
        .expect("send");
    split
        .send_frame(true, CONTINUATION, b"(\"}")
        .await
        .expect("send");
    assert_eq!(split.close_code().await, Some(1007));
    // Valid UTF-8 across a fragment boundary is one message.
    let mut fine = raw_socket(&server).await;
    fine.send_frame(
        false,
        TEXT,
        b"{\"event\":\"pusher:ping\",\"data\":{},\"x\":\"\xc3",
    )
    .await
    .expect("send");
    fine.send_frame(true, CONTINUATION, b"\xa9\"}")
        .await
        .expect("send");
    let (_, pong) = fine.read_frame().await.expect("pong");
    assert!(
        String::from_utf8_lossy(&pong).contains("pusher:pong"),
        "{pong:?}"
    );
    still_serves(&mut ws, &api, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_ping_flood_is_absorbed_and_others_stay_responsive() {
    let server = start("pings");
    let (mut ws, api) = bystander(&server).await;
    let before = server.memory();
    let flooding = Duration::from_secs(2);
    let mut flooders = Vec::new();
    for _ in 0..4 {
        let addr = server.addr();
        flooders.push(tokio::spawn(async move {
            let c = RawClient::websocket(addr, PATH).await;
            let (mut read, mut write) = c.stream.into_split();
            // The flooder reads its answers (so it is never a slow consumer to be dropped)
            // and counts the pusher:pong replies.
            let reader = tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let (mut pongs, mut buf) = (0usize, vec![0u8; 65536]);
                loop {
                    match read.read(&mut buf).await {
                        Ok(0) | Err(_) => return (pongs, false),
                        Ok(n) => {
                            pongs += buf[..n].windows(11).filter(|w| w == b"pusher:pong").count();
                            if pongs > 100 {
                                return (pongs, true);
                            }
                        }
                    }
                }
            });
            let ping = frame(true, PING, b"0123456789abcdef");
            let pusher_ping = frame(true, TEXT, br#"{"event":"pusher:ping","data":{}}"#);
            let mut batch = Vec::new();
            for _ in 0..100 {
                batch.extend_from_slice(&ping);
                batch.extend_from_slice(&pusher_ping);
            }
            let started = Instant::now();
            let mut messages = 0usize;
            while started.elapsed() < flooding {
                use tokio::io::AsyncWriteExt;
                write
                    .write_all(&batch)
                    .await
                    .expect("the flooder was cut off");
                messages += 200;
            }
            let (pongs, open) = tokio::time::timeout(Duration::from_secs(5), reader)
                .await
                .expect("pongs keep coming")
                .expect("reader");
            (messages, pongs, open)
        }));
    }
    // While they flood, others are served on time.
    let started = Instant::now();
    while started.elapsed() < flooding {
        still_serves(&mut ws, &api, Duration::from_millis(1500)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for f in flooders {
        let (messages, pongs, open) = f.await.expect("flooder");
        eprintln!("a flooder sent {messages} pings in {flooding:?} and read {pongs} pusher:pong");
        assert!(open, "a flooder that reads its answers is not disconnected");
    }
    still_serves(&mut ws, &api, Duration::from_millis(1500)).await;
    server.assert_memory_within(before, 16, "ping flood");
}

#[tokio::test]
async fn framing_the_protocol_forbids_closes_1002() {
    let server = start("framing");
    let (mut ws, api) = bystander(&server).await;
    // An unmasked client frame, then a continuation with nothing to continue.
    for bad in [
        vec![0x81u8, 0x02, b'h', b'i'],
        frame(true, CONTINUATION, b"x"),
    ] {
        let mut c = raw_socket(&server).await;
        c.write(&bad).await.expect("send");
        assert_eq!(c.close_code().await, Some(1002), "{bad:?}");
    }
    still_serves(&mut ws, &api, Duration::from_secs(1)).await;
}
