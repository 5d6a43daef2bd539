//! A server message as it goes on the wire: an unmasked WebSocket frame (RFC 6455 5.2), header
//! and payload in one buffer. A published event is framed once and the same bytes are queued for
//! every subscriber; the writer hands them to the kernel as they are.

use bytes::{Buf, BufMut, Bytes};
use ferrocast_protocol::ServerMessage;

/// Longest header of a server frame: 2 bytes, then a 64-bit length (servers do not mask).
const MAX_HEADER: usize = 10;

const FIN: u8 = 0x80;
const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;

/// One complete frame; cloning shares the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    wire: Bytes,
    header: usize,
}

impl Frame {
    /// Encodes `msg` behind room for the header, then fills the header in: no copy.
    pub fn encode(msg: &ServerMessage<'_>) -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.resize(MAX_HEADER, 0);
        msg.encode_into(&mut buf);
        let len = buf.len() - MAX_HEADER;
        let header = header_len(len);
        let start = MAX_HEADER - header;
        put_header(&mut buf[start..MAX_HEADER], OP_TEXT, len);
        let mut wire = Bytes::from(buf);
        wire.advance(start);
        Self { wire, header }
    }

    /// Frames text that is already encoded (an event from another node or from history).
    pub fn text(json: &[u8]) -> Self {
        Self::with_payload(OP_TEXT, json)
    }

    /// A Close frame with `code` and `reason` (cut to the 123 bytes a control frame allows, at a
    /// character boundary).
    pub fn close(code: u16, reason: &str) -> Self {
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let mut payload = Vec::with_capacity(2 + end);
        payload.put_u16(code);
        payload.extend_from_slice(&reason.as_bytes()[..end]);
        Self::with_payload(OP_CLOSE, &payload)
    }

    fn with_payload(op: u8, payload: &[u8]) -> Self {
        let header = header_len(payload.len());
        let mut buf = vec![0; header];
        put_header(&mut buf, op, payload.len());
        buf.extend_from_slice(payload);
        Self {
            wire: Bytes::from(buf),
            header,
        }
    }

    /// The message without the header: the JSON of a text frame.
    pub fn payload(&self) -> &[u8] {
        &self.wire[self.header..]
    }

    /// The whole frame, as written to the socket.
    pub fn wire(&self) -> &Bytes {
        &self.wire
    }

    pub fn into_wire(self) -> Bytes {
        self.wire
    }
}

/// The payload of one whole frame as queued (for tests that read what a connection was sent).
#[cfg(test)]
pub(crate) fn payload_of(wire: &[u8]) -> &[u8] {
    let start = match wire[1] & 0x7F {
        126 => 4,
        127 => MAX_HEADER,
        _ => 2,
    };
    &wire[start..]
}

fn header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => MAX_HEADER,
    }
}

/// Writes a final frame's header for a `len`-byte payload into `out` (exactly
/// `header_len(len)` bytes).
fn put_header(mut out: &mut [u8], op: u8, len: usize) {
    out.put_u8(FIN | op);
    match len {
        0..=125 => out.put_u8(len as u8),
        126..=0xFFFF => {
            out.put_u8(126);
            out.put_u16(len as u16);
        }
        _ => {
            out.put_u8(127);
            out.put_u64(len as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocast_protocol::ErrorCode;
    use tungstenite::protocol::frame::{coding::OpCode, FrameHeader};

    /// Parses `wire` with tungstenite: the header it reads and the payload behind it.
    fn parse(wire: &[u8]) -> (FrameHeader, Vec<u8>) {
        let mut cursor = std::io::Cursor::new(wire);
        let (header, len) = FrameHeader::parse(&mut cursor)
            .expect("valid header")
            .expect("complete header");
        let start = cursor.position() as usize;
        assert_eq!(wire.len() - start, len as usize, "length field");
        (header, wire[start..].to_vec())
    }

    #[test]
    fn encoded_messages_are_final_unmasked_text_frames_of_their_json() {
        let msg = ServerMessage::Error {
            code: ErrorCode::AppNotFound,
            message: "nope",
        };
        let frame = Frame::encode(&msg);
        let (header, payload) = parse(frame.wire());
        assert!(header.is_final);
        assert_eq!(
            header.opcode,
            OpCode::Data(tungstenite::protocol::frame::coding::Data::Text)
        );
        assert!(header.mask.is_none());
        assert_eq!(payload, msg.encode().to_vec());
        assert_eq!(frame.payload(), &payload[..]);
    }

    #[test]
    fn every_length_class_gets_the_right_header() {
        for len in [0, 125, 126, 65_535, 65_536, 200_000] {
            let json = vec![b'x'; len];
            let frame = Frame::text(&json);
            let (header, payload) = parse(frame.wire());
            assert!(header.is_final, "len {len}");
            assert_eq!(payload.len(), len);
            assert_eq!(frame.payload().len(), len);
        }
        let big = "y".repeat(70_000);
        let msg = ServerMessage::Error {
            code: ErrorCode::AppNotFound,
            message: &big,
        };
        let (_, payload) = parse(Frame::encode(&msg).wire());
        assert_eq!(payload, msg.encode().to_vec());
    }

    #[test]
    fn close_frames_carry_the_code_and_a_reason_cut_at_a_character() {
        let reason = "é".repeat(100); // 200 bytes
        let frame = Frame::close(4100, &reason);
        let (header, payload) = parse(frame.wire());
        assert_eq!(
            header.opcode,
            OpCode::Control(tungstenite::protocol::frame::coding::Control::Close)
        );
        assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 4100);
        assert!(payload.len() <= 125);
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
    }
}
