//! History settings: the server's store (`[history]`) and each app's rules (`history = [...]`
//! in `[[apps]]`), which name the channels whose events are kept, how many and for how long.

use serde::{Deserialize, Serialize};

/// Where channel history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HistoryStoreKind {
    /// `<data_dir>/history.db`: survives a restart; one node.
    #[default]
    Sqlite,
    /// Redis at `cluster.redis_url`, keys under `cluster.prefix`: shared by every node.
    Redis,
    /// This process only; lost on restart.
    Memory,
}

/// `[history]`: the store and the server-wide windows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    pub store: HistoryStoreKind,
    /// Seconds a channel's stream position (epoch and last offset) outlives its last publish;
    /// after that the stream starts again with a new epoch.
    pub meta_ttl: u64,
    /// Seconds an `idempotency_key` is remembered: a publish repeated within it is not
    /// delivered again.
    pub idempotency_window: u64,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            store: HistoryStoreKind::Sqlite,
            meta_ttl: 30 * 24 * 3600,
            idempotency_window: 300,
        }
    }
}

/// The most messages one channel may keep.
pub const MAX_HISTORY_SIZE: usize = 100_000;

/// One app's history rule: channels matching `pattern` keep their last `size` events for at
/// most `ttl` seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryRule {
    /// A channel name where `*` stands for any run of characters, e.g. `history-*`.
    pub pattern: String,
    pub size: usize,
    pub ttl: u64,
}

impl HistoryRule {
    pub fn matches(&self, channel: &str) -> bool {
        glob_matches(self.pattern.as_bytes(), channel.as_bytes())
    }

    pub(super) fn validate(&self) -> Result<(), &'static str> {
        if self.pattern.is_empty() {
            return Err("history pattern must not be empty");
        }
        if self.size == 0 || self.size > MAX_HISTORY_SIZE {
            return Err("history size must be between 1 and 100000");
        }
        if self.ttl == 0 {
            return Err("history ttl must be at least 1 second");
        }
        Ok(())
    }
}

/// `*`-only glob: the pieces between stars must appear in order, the first at the start and the
/// last at the end. Greedy matching of the middle pieces is exact for `*`-only patterns.
fn glob_matches(pattern: &[u8], name: &[u8]) -> bool {
    let mut pieces = pattern.split(|&b| b == b'*');
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&[u8]> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        return rest.is_empty();
    };
    for piece in middle {
        match rest.windows(piece.len()).position(|w| w == *piece) {
            Some(i) => rest = &rest[i + piece.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(p: &str) -> HistoryRule {
        HistoryRule {
            pattern: p.into(),
            size: 1,
            ttl: 1,
        }
    }

    #[test]
    fn patterns_match_with_stars() {
        assert!(rule("history-*").matches("history-a"));
        assert!(rule("history-*").matches("history-"));
        assert!(!rule("history-*").matches("private-history-a"));
        assert!(rule("private-chat-*").matches("private-chat-1"));
        assert!(rule("exact").matches("exact"));
        assert!(!rule("exact").matches("exact2"));
        assert!(rule("*-log").matches("a-log"));
        assert!(!rule("*-log").matches("a-log-b"));
        assert!(rule("a*b*c").matches("axxbyyc"));
        assert!(!rule("a*b*c").matches("axxcyyb"));
        assert!(rule("*").matches("anything"));
        assert!(rule("ab*ab").matches("abab"));
        assert!(!rule("ab*ab").matches("aba"));
    }
}
