//! Property test of presence membership: for any sequence of subscribes and unsubscribes over a
//! few users and sockets, driven the way the registry drives `Members` (one join per new
//! subscribed socket, one leave per subscribed socket that goes), the members are exactly the
//! users with at least one socket, `Change::Changed` fires exactly on a user's 0→1 and 1→0
//! transitions, and each member keeps the `user_info` of its first socket.

use super::{Change, Members};
use proptest::prelude::*;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

const USERS: [&str; 4] = ["u0", "u1", "u2", "u3"];

#[derive(Debug, Clone)]
enum Op {
    /// Socket `socket` subscribes as `user` with info number `info` (None = no user_info).
    Join {
        socket: u8,
        user: usize,
        info: Option<u8>,
    },
    /// Socket `socket` unsubscribes (or disconnects).
    Leave { socket: u8 },
    /// A leave for a user that has no socket: must be harmless.
    StrayLeave { user: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..8, 0..USERS.len(), prop::option::of(0u8..4))
            .prop_map(|(socket, user, info)| Op::Join { socket, user, info }),
        3 => (0u8..8).prop_map(|socket| Op::Leave { socket }),
        1 => (0..USERS.len()).prop_map(|user| Op::StrayLeave { user }),
    ]
}

fn info(n: Option<u8>) -> Option<Arc<RawValue>> {
    n.map(|n| Arc::from(RawValue::from_string(format!(r#"{{"n":{n}}}"#)).expect("raw")))
}

/// What the registry knows: which user each subscribed socket is, and the model's view of
/// each member's sockets and first user_info.
#[derive(Default)]
struct Model {
    socket_user: HashMap<u8, usize>,
    sockets: BTreeMap<usize, usize>,
    first_info: BTreeMap<usize, Option<u8>>,
}

impl Model {
    fn members(&self) -> BTreeSet<&'static str> {
        self.sockets
            .iter()
            .filter(|(_, &n)| n > 0)
            .map(|(&u, _)| USERS[u])
            .collect()
    }
}

fn check(m: &Members, model: &Model) -> Result<(), TestCaseError> {
    let expected = model.members();
    prop_assert_eq!(m.len(), expected.len());
    prop_assert_eq!(m.is_empty(), expected.is_empty());
    for u in USERS {
        prop_assert_eq!(m.contains(u), expected.contains(u), "contains({})", u);
    }
    let ids: BTreeSet<&str> = m.ids().collect();
    prop_assert_eq!(ids.len(), m.len(), "duplicate ids");
    prop_assert_eq!(&ids, &expected);
    let snap = m.snapshot();
    prop_assert_eq!(snap.count, expected.len());
    prop_assert_eq!(snap.ids.iter().copied().collect::<BTreeSet<_>>(), expected);
    for (&u, &first) in &model.first_info {
        let got = snap
            .hash
            .get(USERS[u])
            .expect("member in hash")
            .map(|r| r.get());
        let want = info(first);
        prop_assert_eq!(
            got,
            want.as_deref().map(|r| r.get()),
            "user_info of {}",
            USERS[u]
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn members_are_users_with_a_socket_and_changes_fire_on_transitions(
        ops in prop::collection::vec(op(), 0..64)
    ) {
        let mut m = Members::default();
        let mut model = Model::default();
        let ids: Vec<Arc<str>> = USERS.iter().map(|&u| Arc::from(u)).collect();
        for op in ops {
            match op {
                Op::Join { socket, user, info: n } => {
                    // The registry never joins a socket that is already subscribed.
                    if model.socket_user.contains_key(&socket) {
                        continue;
                    }
                    model.socket_user.insert(socket, user);
                    let before = model.sockets.get(&user).copied().unwrap_or(0);
                    model.sockets.insert(user, before + 1);
                    if before == 0 {
                        model.first_info.insert(user, n);
                    }
                    let change = m.join(&ids[user], info(n)).member;
                    prop_assert_eq!(
                        change == Change::Changed, before == 0,
                        "join of {} with {} sockets before", USERS[user], before
                    );
                }
                Op::Leave { socket } => {
                    // The registry only calls leave for a socket it had subscribed.
                    let Some(user) = model.socket_user.remove(&socket) else {
                        continue;
                    };
                    let before = model.sockets[&user];
                    model.sockets.insert(user, before - 1);
                    if before == 1 {
                        model.first_info.remove(&user);
                    }
                    let change = m.leave(USERS[user]).member;
                    prop_assert_eq!(
                        change == Change::Changed, before == 1,
                        "leave of {} with {} sockets before", USERS[user], before
                    );
                }
                Op::StrayLeave { user } => {
                    if model.sockets.get(&user).copied().unwrap_or(0) > 0 {
                        continue;
                    }
                    prop_assert_eq!(m.leave(USERS[user]).member, Change::Unchanged);
                }
            }
            check(&m, &model)?;
        }
    }
}
