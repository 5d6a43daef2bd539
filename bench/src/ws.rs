//! Minimal WebSocket framing (RFC 6455) shared by the benchmark client and the null broadcaster:
//! encoding masked (client) and unmasked (server) frames, an incremental frame parser over a
//! byte buffer, and the handshake pieces (request, `Sec-WebSocket-Accept`). No extensions, no
//! compression; fragmented messages are reassembled by the callers that need them.

use sha1::{Digest, Sha1};

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// The GUID every server appends to the client's key (RFC 6455 §1.3).
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Largest frame payload either side accepts (protects against garbage lengths).
pub const MAX_PAYLOAD: usize = 16 << 20;

/// A parsed frame header: where its (already unmasked) payload lies in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    TooBig(u64),
}

/// Parses one frame at the start of `buf`, unmasking its payload in place. Returns the frame
/// and how many bytes it used, or `Ok(None)` when the buffer holds only part of a frame.
pub fn parse(buf: &mut [u8]) -> Result<Option<(Frame, usize)>, ParseError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let fin = buf[0] & 0x80 != 0;
    let opcode = buf[0] & 0x0F;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut pos) = match buf[1] & 0x7F {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4),
        127 if buf.len() >= 10 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        126 | 127 => return Ok(None),
        n => (n as u64, 2),
    };
    if len > MAX_PAYLOAD as u64 {
        return Err(ParseError::TooBig(len));
    }
    let mask = if masked {
        if buf.len() < pos + 4 {
            return Ok(None);
        }
        let m = [buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]];
        pos += 4;
        Some(m)
    } else {
        None
    };
    let end = pos + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    if let Some(m) = mask {
        for (i, b) in buf[pos..end].iter_mut().enumerate() {
            *b ^= m[i & 3];
        }
    }
    Ok(Some((Frame { fin, opcode, start: pos, end }, end)))
}

fn header(out: &mut Vec<u8>, opcode: u8, len: usize, masked: bool) {
    out.push(0x80 | opcode);
    let m = if masked { 0x80 } else { 0 };
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Appends an unmasked (server-to-client) frame to `out`.
pub fn encode_server(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    header(out, opcode, payload.len(), false);
    out.extend_from_slice(payload);
}

/// A server frame as a fresh buffer (what the null broadcaster writes to every subscriber).
pub fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(payload.len() + 10);
    encode_server(&mut v, opcode, payload);
    v
}

/// Appends a masked (client-to-server) frame to `out` with mask key `mask`.
pub fn encode_client(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    header(out, opcode, payload.len(), true);
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
}

/// Standard base64 (with padding), enough for handshake keys.
pub fn base64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(input.len().div_ceil(3) * 4);
    for c in input.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(client_key: &str) -> String {
    let mut h = Sha1::new();
    h.update(client_key.trim().as_bytes());
    h.update(ACCEPT_GUID.as_bytes());
    base64(&h.finalize())
}

/// The client's upgrade request for `path_and_query` on `host`.
pub fn client_request(host: &str, path_and_query: &str, key: &str) -> String {
    format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Where an HTTP head ends (index just past `\r\n\r\n`), if it is complete.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// The value of header `name` (case-insensitive) in an HTTP head.
pub fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// A small, fast, non-cryptographic generator for mask keys and jitter (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn mask(&mut self) -> [u8; 4] {
        (self.next_u64() as u32).to_le_bytes()
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi.saturating_sub(lo) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_example() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn masked_frames_round_trip_at_every_length_class() {
        for len in [0usize, 5, 125, 126, 300, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut buf = Vec::new();
            encode_client(&mut buf, OP_TEXT, &payload, [1, 2, 3, 4]);
            let short = buf.len() - 1;
            assert_eq!(parse(&mut buf[..short]).unwrap(), None, "partial frame, len {len}");
            let (f, used) = parse(&mut buf).unwrap().unwrap();
            assert_eq!((f.fin, f.opcode, used), (true, OP_TEXT, buf.len()));
            assert_eq!(&buf[f.start..f.end], &payload[..]);
        }
    }

    #[test]
    fn server_frames_parse_back() {
        let mut buf = server_frame(OP_TEXT, b"hello");
        encode_server(&mut buf, OP_PING, b"");
        let (f, used) = parse(&mut buf).unwrap().unwrap();
        assert_eq!(&buf[f.start..f.end], b"hello");
        let (g, _) = parse(&mut buf[used..]).unwrap().unwrap();
        assert_eq!(g.opcode, OP_PING);
    }

    #[test]
    fn head_helpers() {
        let head = "HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\ncontent-length: 7\r\n\r\n";
        assert_eq!(head_end(head.as_bytes()), Some(head.len()));
        assert_eq!(header_value(head, "Content-Length"), Some("7"));
        assert_eq!(header_value(head, "missing"), None);
    }
}
