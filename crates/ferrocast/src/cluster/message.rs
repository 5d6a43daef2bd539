//! What nodes say to each other on the bus, as JSON. A published frame travels as raw JSON
//! inside the message (no escaping), and the receiver slices it out of the received buffer
//! without copying, so an event is encoded once and crosses the bus once per node.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::nodes::NodeStats;

/// One bus message. `from` is the sending node; nodes ignore their own echoes. Externally
/// tagged (`{"publish":{…}}`): an internally tagged enum would buffer its content, and a
/// borrowed `RawValue` cannot be read from a buffer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum BusMessage<'a> {
    /// An event to deliver to the channel's subscribers on every node.
    Publish {
        from: u64,
        app: String,
        channel: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        except: Option<String>,
        #[serde(borrow)]
        frame: &'a RawValue,
        /// Keep the frame as the channel's last event (cache channels).
        #[serde(default)]
        cache: bool,
    },
    /// The user's first socket on `from` joined a presence channel.
    Join {
        from: u64,
        app: String,
        channel: String,
        user: String,
        #[serde(borrow, default)]
        info: Option<&'a RawValue>,
    },
    /// The user's last socket on `from` left a presence channel.
    Leave {
        from: u64,
        app: String,
        channel: String,
        user: String,
    },
    /// The user's first socket on `from` signed in (watchlists).
    SignIn {
        from: u64,
        app: String,
        user: String,
    },
    /// The user's last signed-in socket on `from` is gone.
    SignOut {
        from: u64,
        app: String,
        user: String,
    },
    /// All of `from`'s presence members and signed-in users: authoritative, replaces what
    /// others knew of it.
    Sync {
        from: u64,
        #[serde(borrow)]
        members: Vec<SyncEntry<'a>>,
        /// (app, user) for each user signed in on `from`; older nodes send none.
        #[serde(default)]
        users: Vec<(String, String)>,
    },
    /// `from` (re)joined the bus: everyone answers with a `Sync`.
    Hello {
        from: u64,
    },
    /// `from` is alive, with its connections per app.
    Heartbeat {
        from: u64,
        connections: Vec<(String, usize)>,
        /// Load figures for the dashboard; older nodes send none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stats: Option<NodeStats>,
    },
    /// App records changed in the store: reload them.
    AppsChanged {
        from: u64,
    },
    /// `from` is leaving the cluster on purpose.
    Bye {
        from: u64,
    },
    /// Close every socket of `user` with 4009.
    Terminate {
        from: u64,
        app: String,
        user: String,
    },
    Request {
        from: u64,
        id: u64,
        query: Query,
    },
    Response {
        from: u64,
        id: u64,
        answer: Answer,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct SyncEntry<'a> {
    pub app: String,
    pub channel: String,
    pub user: String,
    #[serde(borrow, default)]
    pub info: Option<&'a RawValue>,
}

/// Questions a node asks every other node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "q", rename_all = "snake_case")]
pub(super) enum Query {
    /// Subscriptions on the node, per channel.
    Counts { app: String, channels: Vec<String> },
    /// Channels with a subscriber on the node whose name starts with `prefix`.
    Channels { app: String, prefix: String },
    /// The node's fresh copy of a cache channel's last event.
    Cache { app: String, channel: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "a", rename_all = "snake_case")]
pub(super) enum Answer {
    Counts { subscriptions: Vec<usize> },
    Channels { channels: Vec<(String, usize)> },
    Cache { copy: Option<CacheCopy> },
}

/// A cache channel's last event as one node holds it. The frame travels as a string: answers
/// are internally tagged, and a borrowed raw value cannot be read from their buffer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct CacheCopy {
    pub frame: String,
    pub ttl_left_ms: u64,
}

impl BusMessage<'_> {
    pub(super) fn from(&self) -> u64 {
        match self {
            Self::Publish { from, .. }
            | Self::Join { from, .. }
            | Self::Leave { from, .. }
            | Self::SignIn { from, .. }
            | Self::SignOut { from, .. }
            | Self::Sync { from, .. }
            | Self::Hello { from }
            | Self::Heartbeat { from, .. }
            | Self::Bye { from }
            | Self::AppsChanged { from }
            | Self::Terminate { from, .. }
            | Self::Request { from, .. }
            | Self::Response { from, .. } => *from,
        }
    }

    pub(super) fn encode(&self) -> Bytes {
        // Plain structs with string keys: serialising into a Vec cannot fail.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_frame_round_trips_without_escaping() {
        let frame = br#"{"event":"e","channel":"c","data":"{\"a\":1}"}"#;
        let raw: &RawValue = serde_json::from_slice(frame).expect("frame is JSON");
        let msg = BusMessage::Publish {
            from: 7,
            app: "app".into(),
            channel: "c".into(),
            except: Some("1.2".into()),
            frame: raw,
            cache: false,
        };
        let bytes = msg.encode();
        let text = std::str::from_utf8(&bytes).expect("utf8");
        assert!(
            text.contains(std::str::from_utf8(frame).expect("utf8")),
            "embedded verbatim: {text}"
        );
        let back: BusMessage<'_> = serde_json::from_slice(&bytes).expect("decodes");
        let BusMessage::Publish {
            frame: f, except, ..
        } = back
        else {
            panic!("publish")
        };
        assert_eq!(f.get().as_bytes(), frame);
        assert_eq!(except.as_deref(), Some("1.2"));
        // The receiver can slice the frame out of the buffer it received.
        assert_eq!(&bytes.slice_ref(f.get().as_bytes())[..], frame);
    }
}
