//! Channel names and what their prefixes mean: public, `private-`, `private-encrypted-`,
//! `presence-`, each optionally `cache-`, and the reserved `#server-to-user-{id}`.

use std::fmt;
use std::sync::Arc;

/// The reserved prefix of the channel pusher-js subscribes to after a sign-in.
pub const SERVER_TO_USER_PREFIX: &str = "#server-to-user-";

/// The kind of channel a name denotes, by its prefix (matched from the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Public,
    Private,
    /// `private-encrypted-`: private for the server; the payload is opaque to it.
    Encrypted,
    Presence,
    /// `#server-to-user-{id}`: only that signed-in user may subscribe.
    ServerToUser,
}

impl ChannelKind {
    /// Whether subscribing needs a signed `auth` token.
    pub fn needs_auth(self) -> bool {
        matches!(self, Self::Private | Self::Encrypted | Self::Presence)
    }

    /// Whether clients may send `client-` events on such a channel.
    pub fn allows_client_events(self) -> bool {
        matches!(self, Self::Private | Self::Presence)
    }
}

/// Why a channel name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("channel name is empty")]
    Empty,
    #[error("channel name is longer than {max} characters")]
    TooLong { max: usize },
    #[error("channel name contains a character outside A-Z a-z 0-9 _ - = @ , . ;")]
    BadCharacter,
    #[error("channel names starting with '#' are reserved")]
    Reserved,
}

/// A validated channel name; cheap to clone (shared).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelName(Arc<str>);

impl ChannelName {
    /// Validates a name sent by a client or the HTTP API. `max_len` counts the whole name.
    pub fn parse(name: &str, max_len: usize) -> Result<Self, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.len() > max_len {
            return Err(NameError::TooLong { max: max_len });
        }
        let body = match name.strip_prefix(SERVER_TO_USER_PREFIX) {
            Some(user) if !user.is_empty() => user,
            Some(_) => return Err(NameError::Empty),
            None if name.starts_with('#') => return Err(NameError::Reserved),
            None => name,
        };
        if !body.bytes().all(allowed_byte) {
            return Err(NameError::BadCharacter);
        }
        Ok(Self(Arc::from(name)))
    }

    /// The channel of a signed-in user's server-to-user messages.
    pub fn server_to_user(user_id: &str) -> Self {
        Self(Arc::from(format!("{SERVER_TO_USER_PREFIX}{user_id}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> ChannelKind {
        let n = self.as_str();
        if n.starts_with(SERVER_TO_USER_PREFIX) {
            ChannelKind::ServerToUser
        } else if n.starts_with("private-encrypted-") {
            ChannelKind::Encrypted
        } else if n.starts_with("private-") {
            ChannelKind::Private
        } else if n.starts_with("presence-") {
            ChannelKind::Presence
        } else {
            ChannelKind::Public
        }
    }

    /// Whether the channel keeps its last event for new subscribers.
    pub fn is_cache(&self) -> bool {
        let n = self.as_str();
        [
            "cache-",
            "private-cache-",
            "private-encrypted-cache-",
            "presence-cache-",
        ]
        .iter()
        .any(|p| n.starts_with(p))
    }

    /// The user id of a `#server-to-user-{id}` channel.
    pub fn server_to_user_id(&self) -> Option<&str> {
        self.as_str().strip_prefix(SERVER_TO_USER_PREFIX)
    }
}

/// Channel-name characters allowed by Pusher and the official SDKs.
fn allowed_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_-=@,.;".contains(&b)
}

impl fmt::Display for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for ChannelName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(n: &str) -> (ChannelKind, bool) {
        let c = ChannelName::parse(n, 200).expect("valid");
        (c.kind(), c.is_cache())
    }

    #[test]
    fn prefixes_are_matched_from_the_start() {
        use ChannelKind::*;
        assert_eq!(kind("news"), (Public, false));
        assert_eq!(kind("cache-news"), (Public, true));
        assert_eq!(kind("private-x"), (Private, false));
        assert_eq!(kind("private-cache-x"), (Private, true));
        assert_eq!(kind("private-encrypted-x"), (Encrypted, false));
        assert_eq!(kind("private-encrypted-cache-x"), (Encrypted, true));
        assert_eq!(kind("presence-x"), (Presence, false));
        assert_eq!(kind("presence-cache-x"), (Presence, true));
        assert_eq!(kind("foo-private-x"), (Public, false));
        assert_eq!(kind("#server-to-user-42"), (ServerToUser, false));
    }

    #[test]
    fn invalid_names_are_refused() {
        assert_eq!(ChannelName::parse("", 200), Err(NameError::Empty));
        assert_eq!(ChannelName::parse("a b", 200), Err(NameError::BadCharacter));
        assert_eq!(ChannelName::parse("é", 200), Err(NameError::BadCharacter));
        assert_eq!(ChannelName::parse("#other", 200), Err(NameError::Reserved));
        assert_eq!(
            ChannelName::parse("#server-to-user-", 200),
            Err(NameError::Empty)
        );
        assert_eq!(
            ChannelName::parse(&"a".repeat(201), 200),
            Err(NameError::TooLong { max: 200 })
        );
        assert!(ChannelName::parse("A-Za-z0-9_-=@,.;", 200).is_ok());
    }
}
