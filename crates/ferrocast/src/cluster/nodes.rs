//! The other nodes this node has heard from: when each was last seen, its connections per app
//! and its load figures. A node silent for longer than the timeout is dead; time is passed in.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::metrics::TotalsSnapshot;

/// A node's load as its heartbeat reports it: resident memory and running message totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStats {
    pub rss_bytes: u64,
    #[serde(flatten)]
    pub totals: TotalsSnapshot,
}

/// What this node knows of another node.
#[derive(Debug, Clone, Serialize)]
pub struct PeerView {
    pub node: u64,
    pub connections: usize,
    pub stats: Option<NodeStats>,
}

#[derive(Debug)]
struct Peer {
    last_seen: Instant,
    connections: HashMap<String, usize>,
    stats: Option<NodeStats>,
}

#[derive(Debug, Default)]
pub(super) struct Nodes {
    peers: HashMap<u64, Peer>,
}

impl Nodes {
    /// Records a sign of life; returns true for a node not known before.
    pub(super) fn seen(&mut self, node: u64, now: Instant) -> bool {
        match self.peers.get_mut(&node) {
            Some(p) => {
                p.last_seen = now;
                false
            }
            None => {
                self.peers.insert(
                    node,
                    Peer {
                        last_seen: now,
                        connections: HashMap::new(),
                        stats: None,
                    },
                );
                true
            }
        }
    }

    pub(super) fn set_connections(&mut self, node: u64, connections: HashMap<String, usize>) {
        if let Some(p) = self.peers.get_mut(&node) {
            p.connections = connections;
        }
    }

    pub(super) fn set_stats(&mut self, node: u64, stats: Option<NodeStats>) {
        if let Some(p) = self.peers.get_mut(&node) {
            p.stats = stats;
        }
    }

    /// Every live peer with its total connections and last reported load, by node id.
    pub(super) fn view(&self) -> Vec<PeerView> {
        let mut out: Vec<PeerView> = self
            .peers
            .iter()
            .map(|(node, p)| PeerView {
                node: *node,
                connections: p.connections.values().sum(),
                stats: p.stats,
            })
            .collect();
        out.sort_by_key(|p| p.node);
        out
    }

    /// Removes and returns the nodes silent for longer than `timeout`.
    pub(super) fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<u64> {
        let dead: Vec<u64> = self
            .peers
            .iter()
            .filter(|(_, p)| now.duration_since(p.last_seen) > timeout)
            .map(|(n, _)| *n)
            .collect();
        for n in &dead {
            self.peers.remove(n);
        }
        dead
    }

    pub(super) fn remove(&mut self, node: u64) -> bool {
        self.peers.remove(&node).is_some()
    }

    pub(super) fn live(&self) -> Vec<u64> {
        self.peers.keys().copied().collect()
    }

    /// Connections to `app` on the other nodes.
    pub(super) fn connections(&self, app: &str) -> usize {
        self.peers
            .values()
            .filter_map(|p| p.connections.get(app))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_nodes_expire_and_counts_add_up() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut n = Nodes::default();
        assert!(n.seen(1, t0));
        assert!(!n.seen(1, t0 + s));
        assert!(n.seen(2, t0));
        n.set_connections(1, HashMap::from([("a".into(), 3)]));
        n.set_connections(2, HashMap::from([("a".into(), 4), ("b".into(), 1)]));
        assert_eq!(n.connections("a"), 7);
        let stats = NodeStats {
            rss_bytes: 10,
            ..Default::default()
        };
        n.set_stats(2, Some(stats));
        let view = n.view();
        assert_eq!((view[1].node, view[1].connections), (2, 5));
        assert_eq!(view[1].stats, Some(stats));
        assert_eq!(n.expire(t0 + 5 * s, 4 * s), vec![2]);
        assert_eq!(n.connections("a"), 3);
        assert_eq!(n.live(), vec![1]);
    }
}
