//! Failing a WebSocket connection (RFC 6455 7.1.7): the close code a read error earns
//! (7.4.1) and the Close frame sent before the socket is dropped. Shared by every WebSocket the
//! server holds, so Pusher clients and the Autobahn echo fail the same way.

#[cfg(feature = "autobahn-echo")]
use futures_util::SinkExt;
#[cfg(feature = "autobahn-echo")]
use std::time::Duration;
#[cfg(feature = "autobahn-echo")]
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::Error as WsError;
#[cfg(feature = "autobahn-echo")]
use tungstenite::{Message, Utf8Bytes};

#[cfg(feature = "autobahn-echo")]
use super::wire::Reader;

/// A malformed frame: reserved bits, bad opcode, unmasked, bad control frame, bad fragments.
pub(super) const PROTOCOL_ERROR: u16 = 1002;
/// A text message or close reason that is not UTF-8.
pub(super) const INVALID_PAYLOAD: u16 = 1007;
/// A frame or message over `max_message_kb`.
pub(super) const TOO_BIG: u16 = 1009;

#[cfg(feature = "autobahn-echo")]
/// How long the failing Close frame may take to write; the peer is misbehaving already.
const CLOSE_WRITE: Duration = Duration::from_secs(1);

/// The close code and reason for a read error, or `None` when the transport itself failed
/// (reset, EOF) and there is nobody to tell.
pub(super) fn failure(e: &WsError) -> Option<(u16, &'static str)> {
    match e {
        WsError::Utf8(_) => Some((INVALID_PAYLOAD, "Invalid UTF-8")),
        WsError::Capacity(_) => Some((TOO_BIG, "Message too big")),
        WsError::Protocol(p) if is_transport(p) => None,
        WsError::Protocol(_) => Some((PROTOCOL_ERROR, "Protocol error")),
        _ => None,
    }
}

/// Protocol errors that describe the TCP stream ending, not a frame the peer sent.
fn is_transport(p: &tungstenite::error::ProtocolError) -> bool {
    use tungstenite::error::ProtocolError as P;
    matches!(p, P::ResetWithoutClosingHandshake | P::SendAfterClosing)
}

// The echo holds the whole socket; Pusher sessions write their Close through the writer.
#[cfg(feature = "autobahn-echo")]
/// Sends the Close frame `e` calls for, if any. The caller drops the socket afterwards.
pub(super) async fn fail(ws: &mut Reader, e: &WsError) {
    if let Some((code, reason)) = failure(e) {
        send(ws, code, reason).await;
    }
}

// The echo holds the whole socket; Pusher sessions write their Close through the writer.
#[cfg(feature = "autobahn-echo")]
/// Sends a Close frame with `code`, giving up after a short wait.
pub(super) async fn send(ws: &mut Reader, code: u16, reason: &'static str) {
    let frame = Message::Close(Some(CloseFrame {
        code: code.into(),
        reason: Utf8Bytes::from_static(reason),
    }));
    let _ = tokio::time::timeout(CLOSE_WRITE, ws.send(frame)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::error::{CapacityError, ProtocolError};

    fn code(e: WsError) -> Option<u16> {
        failure(&e).map(|(code, _)| code)
    }

    #[test]
    fn read_errors_map_to_rfc_6455_close_codes() {
        assert_eq!(code(WsError::Utf8("bad".into())), Some(INVALID_PAYLOAD));
        let too_long = CapacityError::MessageTooLong {
            size: 2,
            max_size: 1,
        };
        assert_eq!(code(WsError::Capacity(too_long)), Some(TOO_BIG));
        let rsv = ProtocolError::NonZeroReservedBits;
        assert_eq!(code(WsError::Protocol(rsv)), Some(PROTOCOL_ERROR));
        let reset = ProtocolError::ResetWithoutClosingHandshake;
        assert_eq!(code(WsError::Protocol(reset)), None);
        assert_eq!(code(WsError::ConnectionClosed), None);
        let io = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert_eq!(code(WsError::Io(io)), None);
    }

    #[test]
    fn every_close_code_is_in_docs_errors_md() {
        let doc = include_str!("../../../../docs/errors.md");
        for code in [PROTOCOL_ERROR, INVALID_PAYLOAD, TOO_BIG] {
            assert!(
                doc.contains(&format!("| {code} |")),
                "docs/errors.md lacks {code}"
            );
        }
    }
}
