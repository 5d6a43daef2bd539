//! The Pusher Channels protocol (v7) as pure data: the messages a client sends, the frames the
//! server sends, channel and event names, socket ids, presence data, the HTTP API's bodies, the
//! error-code table, the HMAC signatures and webhook bodies. No I/O and no async here, so the server, the CLI,
//! tests, benchmarks and fuzzers can all build on it.

pub mod api;
pub mod channel;
pub mod client_msg;
pub mod error_code;
pub mod names;
pub mod presence;
pub mod server_msg;
pub mod signature;
pub mod socket_id;
pub mod stream;
pub mod webhook;

pub use channel::{ChannelKind, ChannelName, NameError};
pub use client_msg::{ClientMessage, DecodeError};
pub use error_code::ErrorCode;
pub use presence::{ChannelData, PresenceSnapshot};
pub use server_msg::ServerMessage;
pub use socket_id::SocketId;

/// The protocol versions accepted in `?protocol=`: Pysher speaks 6, pusher-js 7.
pub const SUPPORTED_PROTOCOLS: std::ops::RangeInclusive<u32> = 5..=7;
