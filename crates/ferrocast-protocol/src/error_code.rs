//! Every Pusher error code the server emits: the one table of numbers, messages and what the
//! client should do next (the meaning comes from the code's range).

use std::fmt;

/// What a client is expected to do after receiving a code, by Pusher's ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconnect {
    /// 4000–4099: the connection is refused; do not reconnect as it is.
    Never,
    /// 4100–4199: reconnect after backing off.
    Backoff,
    /// 4200–4299: reconnect at once.
    Immediately,
    /// 4300–4399: an error about one message; the connection stays open.
    StayConnected,
}

/// A Pusher protocol error code, sent in `pusher:error` and (below 4300) as the close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ErrorCode {
    /// The app only accepts TLS connections.
    SslOnly = 4000,
    /// No app has the key in the URL.
    AppNotFound = 4001,
    /// The app exists but is disabled.
    AppDisabled = 4003,
    /// The app has reached its connection limit.
    OverConnectionQuota = 4004,
    /// The WebSocket path is not `/app/{key}`.
    PathNotFound = 4005,
    /// `protocol` is not a number.
    InvalidVersion = 4006,
    /// `protocol` is a number outside the supported versions.
    UnsupportedProtocol = 4007,
    /// No `protocol` query parameter.
    NoProtocol = 4008,
    /// The connection is not authorised (bad sign-in, sign-in required, terminated by the app).
    Unauthorized = 4009,
    /// The server is over capacity for this connection (slow consumer); back off and retry.
    OverCapacity = 4100,
    /// Generic "reconnect now", sent when the server shuts down.
    ReconnectNow = 4200,
    /// The client did not answer a `pusher:ping` in time.
    PongNotReceived = 4201,
    /// The client sent nothing but keep-alives for the idle timeout.
    ClosedAfterInactivity = 4202,
    /// A message was rejected (malformed, unknown event, invalid name, too large).
    InvalidMessage = 4300,
    /// A client event was rejected (rate limit, not allowed, not subscribed).
    ClientEventRejected = 4301,
    /// The sign-in's watchlist has more ids than allowed; the first ones are kept.
    WatchlistLimitExceeded = 4302,
}

impl ErrorCode {
    /// Every code, for documentation checks and tests.
    pub const ALL: [ErrorCode; 16] = [
        Self::SslOnly,
        Self::AppNotFound,
        Self::AppDisabled,
        Self::OverConnectionQuota,
        Self::PathNotFound,
        Self::InvalidVersion,
        Self::UnsupportedProtocol,
        Self::NoProtocol,
        Self::Unauthorized,
        Self::OverCapacity,
        Self::ReconnectNow,
        Self::PongNotReceived,
        Self::ClosedAfterInactivity,
        Self::InvalidMessage,
        Self::ClientEventRejected,
        Self::WatchlistLimitExceeded,
    ];

    pub fn code(self) -> u16 {
        self as u16
    }

    /// The default human-readable message for the code.
    pub fn message(self) -> &'static str {
        match self {
            Self::SslOnly => "Application only accepts SSL connections, reconnect using wss://",
            Self::AppNotFound => "Application does not exist",
            Self::AppDisabled => "Application is disabled",
            Self::OverConnectionQuota => "Application is over connection quota",
            Self::PathNotFound => "Path not found",
            Self::InvalidVersion => "Invalid version string format",
            Self::UnsupportedProtocol => "Unsupported protocol version",
            Self::NoProtocol => "No protocol version supplied",
            Self::Unauthorized => "Connection is unauthorized",
            Self::OverCapacity => "Over capacity: the connection could not keep up",
            Self::ReconnectNow => "Server is shutting down, please reconnect",
            Self::PongNotReceived => "Pong reply not received",
            Self::ClosedAfterInactivity => "Closed after inactivity",
            Self::InvalidMessage => "Invalid message",
            Self::ClientEventRejected => "Client event rejected",
            Self::WatchlistLimitExceeded => "Watchlist limit exceeded",
        }
    }

    pub fn reconnect(self) -> Reconnect {
        match self.code() {
            4000..=4099 => Reconnect::Never,
            4100..=4199 => Reconnect::Backoff,
            4200..=4299 => Reconnect::Immediately,
            _ => Reconnect::StayConnected,
        }
    }

    /// Whether the connection is closed (with this code) after the `pusher:error`.
    /// Codes from 4300 up are never close codes: pusher-js treats a 43xx close as "refused".
    pub fn closes(self) -> bool {
        self.reconnect() != Reconnect::StayConnected
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_pinned() {
        let pinned: Vec<u16> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(
            pinned,
            [
                4000, 4001, 4003, 4004, 4005, 4006, 4007, 4008, 4009, 4100, 4200, 4201, 4202, 4300,
                4301, 4302
            ]
        );
    }

    #[test]
    fn ranges_decide_the_reconnect_class_and_closing() {
        assert_eq!(ErrorCode::AppNotFound.reconnect(), Reconnect::Never);
        assert_eq!(ErrorCode::OverCapacity.reconnect(), Reconnect::Backoff);
        assert_eq!(ErrorCode::ReconnectNow.reconnect(), Reconnect::Immediately);
        assert!(!ErrorCode::ClientEventRejected.closes());
        assert!(!ErrorCode::WatchlistLimitExceeded.closes());
        assert!(ErrorCode::PongNotReceived.closes());
    }
}

#[cfg(test)]
mod doc_tests {
    use super::ErrorCode;

    #[test]
    fn every_code_is_in_docs_errors_md() {
        let doc = include_str!("../../../docs/errors.md");
        for code in ErrorCode::ALL {
            assert!(
                doc.contains(&format!("| {} |", code.code())),
                "docs/errors.md lacks {}",
                code.code()
            );
        }
    }
}
