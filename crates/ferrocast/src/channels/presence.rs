//! Presence membership of one channel: members are users, not sockets. A user is added on
//! its first socket and removed after its last, so member_added/member_removed fire once per
//! user change. Pure data; the registry decides whom to tell.

use ferrocast_protocol::PresenceSnapshot;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug)]
struct Member {
    info: Option<Arc<RawValue>>,
    sockets: usize,
}

/// The members of one presence channel.
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

    /// One more socket of `user_id`. The first socket's `user_info` is the member's.
    pub fn join(&mut self, user_id: &Arc<str>, info: Option<Arc<RawValue>>) -> Change {
        match self.by_user.get_mut(user_id) {
            Some(m) => {
                m.sockets += 1;
                Change::Unchanged
            }
            None => {
                self.by_user
                    .insert(user_id.clone(), Member { info, sockets: 1 });
                Change::Changed
            }
        }
    }

    /// One socket of `user_id` fewer.
    pub fn leave(&mut self, user_id: &str) -> Change {
        let Some(m) = self.by_user.get_mut(user_id) else {
            return Change::Unchanged;
        };
        m.sockets -= 1;
        if m.sockets == 0 {
            self.by_user.remove(user_id);
            Change::Changed
        } else {
            Change::Unchanged
        }
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

    #[test]
    fn a_user_on_several_sockets_is_one_member() {
        let mut m = Members::default();
        let u: Arc<str> = Arc::from("u1");
        assert_eq!(m.join(&u, None), Change::Changed);
        assert_eq!(m.join(&u, None), Change::Unchanged);
        assert_eq!(m.len(), 1);
        assert_eq!(m.leave("u1"), Change::Unchanged);
        assert!(m.contains("u1"));
        assert_eq!(m.leave("u1"), Change::Changed);
        assert_eq!(m.len(), 0);
        assert_eq!(
            m.leave("u1"),
            Change::Unchanged,
            "leaving twice is harmless"
        );
    }
}

#[cfg(test)]
#[path = "presence_props.rs"]
mod presence_props;
