//! What a failed read from a client's WebSocket is answered with: the RFC 6455 close code for
//! input the server refuses (too big, not UTF-8, broken framing), or nothing when the socket is
//! already gone.

use tungstenite::error::{CapacityError, Error};

/// Message or frame over `max_message_kb`.
pub(super) const TOO_BIG: u16 = 1009;
/// A text message that is not UTF-8.
pub(super) const INVALID_PAYLOAD: u16 = 1007;
/// Framing the protocol forbids (unmasked client frame, reserved bits, bad opcode…).
pub(super) const PROTOCOL_ERROR: u16 = 1002;

/// The close code and reason to send before dropping the socket, if the peer can still hear.
pub(super) fn close_for(e: &axum::Error) -> Option<(u16, &'static str)> {
    let inner = std::error::Error::source(e)?.downcast_ref::<Error>()?;
    match inner {
        Error::Capacity(CapacityError::MessageTooLong { .. }) => Some((TOO_BIG, "Message too big")),
        Error::Capacity(_) => Some((PROTOCOL_ERROR, "Protocol error")),
        Error::Utf8(_) => Some((INVALID_PAYLOAD, "Invalid UTF-8 in a text message")),
        Error::Protocol(p)
            if !matches!(
                p,
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake
            ) =>
        {
            Some((PROTOCOL_ERROR, "Protocol error"))
        }
        _ => None,
    }
}
