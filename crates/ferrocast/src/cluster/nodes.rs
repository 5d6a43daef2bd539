//! The other nodes this node has heard from: when each was last seen and its connections per
//! app. A node silent for longer than the timeout is dead; time is passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Peer {
    last_seen: Instant,
    connections: HashMap<String, usize>,
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
        assert_eq!(n.expire(t0 + 5 * s, 4 * s), vec![2]);
        assert_eq!(n.connections("a"), 3);
        assert_eq!(n.live(), vec![1]);
    }
}
