//! RFC 6455 failures on a Pusher connection: each malformed frame gets the close code section
//! 7.4.1 gives it, and nobody else notices. The Autobahn suite (scripts/autobahn.sh) covers the
//! rest of the WebSocket layer through the echo endpoint of test builds.

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame as WireFrame, FrameHeader};
use tokio_tungstenite::tungstenite::Message;

use crate::harness::{TestServer, DEADLINE};

/// One frame exactly as given (the client library masks it), valid or not.
fn raw(opcode: OpCode, payload: &[u8], tweak: impl FnOnce(&mut FrameHeader)) -> Message {
    let mut header = FrameHeader {
        opcode,
        ..FrameHeader::default()
    };
    tweak(&mut header);
    Message::Frame(WireFrame::from_payload(header, payload.to_vec().into()))
}

/// Sends `msg` on a fresh connection, expects the close `code`, and checks that a bystander
/// still gets its events.
async fn closes_with(msg: Message, code: u16) {
    let server = TestServer::start().await;
    let api = server.api(&crate::harness::test_app());
    let mut bystander = server.connect("test-key").await;
    bystander.subscribe("news").await;
    let mut c = server.connect("test-key").await;
    c.send_message(msg).await;
    c.expect_close(code).await;
    api.publish("news", "e", "still here").await;
    bystander.expect("e").await;
}

#[tokio::test]
async fn invalid_utf8_text_closes_with_1007() {
    closes_with(
        raw(OpCode::Data(Data::Text), b"{\"a\":\"\xff\"}", |_| ()),
        1007,
    )
    .await;
}

#[tokio::test]
async fn reserved_bits_close_with_1002() {
    closes_with(
        raw(OpCode::Data(Data::Text), b"{}", |h| h.rsv2 = true),
        1002,
    )
    .await;
}

#[tokio::test]
async fn a_reserved_opcode_closes_with_1002() {
    closes_with(raw(OpCode::Data(Data::Reserved(3)), b"", |_| ()), 1002).await;
}

#[tokio::test]
async fn a_continuation_with_nothing_to_continue_closes_with_1002() {
    closes_with(raw(OpCode::Data(Data::Continue), b"x", |_| ()), 1002).await;
}

#[tokio::test]
async fn a_close_code_nobody_may_send_is_answered_with_1002() {
    // 1005 is reserved for "no code" and must never be on the wire (RFC 6455 7.4.1).
    closes_with(
        raw(
            OpCode::Control(Control::Close),
            &1005u16.to_be_bytes(),
            |_| (),
        ),
        1002,
    )
    .await;
}

#[tokio::test]
async fn a_ping_is_answered_with_its_payload() {
    let server = TestServer::start().await;
    let url = server.ws_url("test-key", "protocol=7");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    ws.send(Message::Ping(b"hello"[..].into()))
        .await
        .expect("ping");
    let pong = tokio::time::timeout(DEADLINE, async {
        use futures_util::StreamExt;
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Pong(p) = m {
                return Some(p);
            }
        }
        None
    })
    .await
    .expect("pong before the deadline");
    assert_eq!(pong.as_deref(), Some(&b"hello"[..]));
}

/// The Autobahn echo endpoint is in test builds only; elsewhere `/autobahn` is an unknown path.
#[cfg(not(feature = "autobahn-echo"))]
#[tokio::test]
async fn the_autobahn_echo_is_not_in_normal_builds() {
    let server = TestServer::start().await;
    let mut c = crate::harness::WsClient::open(&format!("ws://{}/autobahn", server.addr)).await;
    c.expect_error_and_close(4005).await;
}

#[cfg(feature = "autobahn-echo")]
#[tokio::test]
async fn the_autobahn_echo_returns_text_and_binary() {
    use futures_util::StreamExt;
    let server = TestServer::start().await;
    let url = format!("ws://{}/autobahn", server.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    for m in [Message::text("héllo"), Message::binary(vec![0u8, 255, 7])] {
        ws.send(m.clone()).await.expect("send");
        let back = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("echo");
        assert_eq!(back.expect("open").expect("frame"), m);
    }
}
