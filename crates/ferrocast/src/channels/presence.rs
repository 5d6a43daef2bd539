//! Presence membership of one channel: members are users, not sockets. A user is added on
//! its first socket and removed after its last, so member_added/member_removed fire once per
//! user change. Pure data; the registry decides whom to tell.

use ferrocast_protocol::PresenceSnapshot;
use serde_json::value::RawValue;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

#[derive(Debug)]
struct Member {
    info: Option<Arc<RawValue>>,
    /// Sockets of this user on this node.
    local: usize,
    /// Other nodes where the user has at least one socket.
    remote: BTreeSet<u64>,
}

impl Member {
    fn present(&self) -> bool {
        self.local > 0 || !self.remote.is_empty()
    }
}

/// The members of one presence channel, across the cluster.
#[derive(Debug, Default)]
pub struct Members {
    by_user: HashMap<Arc<str>, Member>,
}

/// Whether a join or leave changed the member list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The user was not a member before (join) or is no longer one (leave).
    Changed,
    /// Another socket of the same user keeps the membership as it was.
    Unchanged,
}

/// What a local socket joining or leaving changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The cluster-wide member list (tell this node's subscribers).
    pub member: Change,
    /// This node's sockets of the user went 0→1 or 1→0 (tell the other nodes).
    pub local: Change,
}

impl Members {
    pub fn len(&self) -> usize {
        self.by_user.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_user.is_empty()
    }

    pub fn contains(&self, user_id: &str) -> bool {
        self.by_user.contains_key(user_id)
    }

    /// One more local socket of `user_id`. The first `user_info` seen is the member's.
    pub fn join(&mut self, user_id: &Arc<str>, info: Option<Arc<RawValue>>) -> Transition {
        match self.by_user.get_mut(user_id) {
            Some(m) => {
                m.local += 1;
                let local = if m.local == 1 {
                    Change::Changed
                } else {
                    Change::Unchanged
                };
                Transition {
                    member: Change::Unchanged,
                    local,
                }
            }
            None => {
                let m = Member {
                    info,
                    local: 1,
                    remote: BTreeSet::new(),
                };
                self.by_user.insert(user_id.clone(), m);
                Transition {
                    member: Change::Changed,
                    local: Change::Changed,
                }
            }
        }
    }

    /// One local socket of `user_id` fewer.
    pub fn leave(&mut self, user_id: &str) -> Transition {
        let unchanged = Transition {
            member: Change::Unchanged,
            local: Change::Unchanged,
        };
        let Some(m) = self.by_user.get_mut(user_id) else {
            return unchanged;
        };
        if m.local == 0 {
            return unchanged;
        }
        m.local -= 1;
        let local = if m.local == 0 {
            Change::Changed
        } else {
            Change::Unchanged
        };
        let member = if m.present() {
            Change::Unchanged
        } else {
            self.by_user.remove(user_id);
            Change::Changed
        };
        Transition { member, local }
    }

    /// Node `node` reports `user_id` present there.
    pub fn join_remote(
        &mut self,
        user_id: &Arc<str>,
        node: u64,
        info: Option<Arc<RawValue>>,
    ) -> Change {
        match self.by_user.get_mut(user_id) {
            Some(m) => {
                m.remote.insert(node);
                Change::Unchanged
            }
            None => {
                let m = Member {
                    info,
                    local: 0,
                    remote: BTreeSet::from([node]),
                };
                self.by_user.insert(user_id.clone(), m);
                Change::Changed
            }
        }
    }

    /// Node `node` reports `user_id` gone from there.
    pub fn leave_remote(&mut self, user_id: &str, node: u64) -> Change {
        let Some(m) = self.by_user.get_mut(user_id) else {
            return Change::Unchanged;
        };
        if !m.remote.remove(&node) || m.present() {
            return Change::Unchanged;
        }
        self.by_user.remove(user_id);
        Change::Changed
    }

    /// Users that node `node` reports present.
    pub fn users_on(&self, node: u64) -> Vec<Arc<str>> {
        self.by_user
            .iter()
            .filter(|(_, m)| m.remote.contains(&node))
            .map(|(u, _)| u.clone())
            .collect()
    }

    /// Members with a socket on this node, with their info.
    pub fn local_members(&self) -> impl Iterator<Item = (&Arc<str>, Option<&Arc<RawValue>>)> {
        self.by_user
            .iter()
            .filter(|(_, m)| m.local > 0)
            .map(|(u, m)| (u, m.info.as_ref()))
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.by_user.keys().map(|k| &**k)
    }

    pub fn snapshot(&self) -> PresenceSnapshot<'_> {
        PresenceSnapshot::from_members(
            self.by_user
                .iter()
                .map(|(id, m)| (&**id, m.info.as_deref())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Change::*;

    #[test]
    fn a_user_on_several_sockets_is_one_member() {
        let mut m = Members::default();
        let u: Arc<str> = Arc::from("u1");
        assert_eq!(
            m.join(&u, None),
            Transition {
                member: Changed,
                local: Changed
            }
        );
        assert_eq!(
            m.join(&u, None),
            Transition {
                member: Unchanged,
                local: Unchanged
            }
        );
        assert_eq!(m.len(), 1);
        assert_eq!(
            m.leave("u1"),
            Transition {
                member: Unchanged,
                local: Unchanged
            }
        );
        assert!(m.contains("u1"));
        assert_eq!(
            m.leave("u1"),
            Transition {
                member: Changed,
                local: Changed
            }
        );
        assert_eq!(m.len(), 0);
        assert_eq!(m.leave("u1").member, Unchanged, "leaving twice is harmless");
    }

    #[test]
    fn a_user_on_two_nodes_is_one_member_until_both_leave() {
        let mut m = Members::default();
        let u: Arc<str> = Arc::from("u");
        assert_eq!(m.join_remote(&u, 7, None), Changed, "first seen on node 7");
        assert_eq!(
            m.join(&u, None),
            Transition {
                member: Unchanged,
                local: Changed
            }
        );
        assert_eq!(m.join_remote(&u, 8, None), Unchanged);
        assert_eq!(
            m.leave("u"),
            Transition {
                member: Unchanged,
                local: Changed
            }
        );
        assert_eq!(m.leave_remote("u", 7), Unchanged, "node 8 still has it");
        assert_eq!(m.users_on(8), vec![u.clone()]);
        assert_eq!(m.leave_remote("u", 8), Changed);
        assert!(m.is_empty());
        assert_eq!(
            m.leave_remote("u", 8),
            Unchanged,
            "a repeated leave is harmless"
        );
    }
}

#[cfg(test)]
#[path = "presence_props.rs"]
mod presence_props;
