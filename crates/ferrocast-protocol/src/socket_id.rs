//! Socket ids: two decimal integers joined by a dot (`1234.5678`), as the SDKs validate them.

use std::fmt;
use std::str::FromStr;

/// A connection's id. The first part names the node, the second counts connections on it, so
/// ids are unique per node without coordination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId {
    pub node: u64,
    pub seq: u64,
}

impl SocketId {
    pub fn new(node: u64, seq: u64) -> Self {
        Self { node, seq }
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.node, self.seq)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid socket_id {0:?}: expected two integers joined by a dot")]
pub struct InvalidSocketId(pub String);

impl FromStr for SocketId {
    type Err = InvalidSocketId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidSocketId(s.chars().take(64).collect());
        let (a, b) = s.split_once('.').ok_or_else(bad)?;
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
        if !digits(a) || !digits(b) {
            return Err(bad());
        }
        Ok(Self::new(
            a.parse().map_err(|_| bad())?,
            b.parse().map_err(|_| bad())?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let id: SocketId = "1234.5678".parse().expect("valid");
        assert_eq!(id, SocketId::new(1234, 5678));
        assert_eq!(id.to_string(), "1234.5678");
        for bad in ["", "1234", "a.b", "1.", ".1", "1.2.3", "-1.2", "1 .2"] {
            assert!(bad.parse::<SocketId>().is_err(), "{bad:?} accepted");
        }
    }
}
