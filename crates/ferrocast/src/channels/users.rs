//! Signed-in users of one app: which sockets each user has on this node (for terminating them),
//! which other nodes report the user signed in, and who on this node watches whom. Watchlist
//! `online`/`offline` events follow the cluster: a user is online while it has a socket on any
//! node, so `online` is sent when its first socket anywhere signs in and `offline` after its last
//! one anywhere leaves (or its node is forgotten).

use ferrocast_protocol::server_msg::WatchlistEvent;
use ferrocast_protocol::{ServerMessage, SocketId};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::frame::Frame;
use crate::outbox::SessionHandle;

#[derive(Debug, Default)]
struct Inner {
    sockets: HashMap<Arc<str>, HashMap<SocketId, SessionHandle>>,
    /// user id → the other nodes where it has a signed-in socket.
    remote: HashMap<Arc<str>, HashSet<u64>>,
    /// watched user id → the sockets watching it.
    watchers: HashMap<Arc<str>, HashMap<SocketId, SessionHandle>>,
}

impl Inner {
    fn online(&self, user_id: &str) -> bool {
        self.sockets.get(user_id).is_some_and(|s| !s.is_empty())
            || self.remote.get(user_id).is_some_and(|n| !n.is_empty())
    }

    /// Tells the watchers of `user_id` (but `except`) that it came online or went offline.
    fn tell_watchers(&self, name: &'static str, user_id: &str, except: Option<SocketId>) {
        if let Some(watchers) = self.watchers.get(user_id) {
            let frame = status_frame(name, user_id);
            for w in watchers.values().filter(|w| Some(w.socket_id) != except) {
                w.send(frame.clone());
            }
        }
    }

    /// Records or forgets `node`'s sign-in of `user_id`; tells watchers when that changes
    /// whether the user is online anywhere.
    fn set_remote(&mut self, user_id: &Arc<str>, node: u64, signed_in: bool) {
        let was = self.online(user_id);
        if signed_in {
            self.remote.entry(user_id.clone()).or_default().insert(node);
        } else if let Some(nodes) = self.remote.get_mut(user_id) {
            nodes.remove(&node);
            if nodes.is_empty() {
                self.remote.remove(user_id);
            }
        }
        match (was, self.online(user_id)) {
            (false, true) => self.tell_watchers("online", user_id, None),
            (true, false) => self.tell_watchers("offline", user_id, None),
            _ => {}
        }
    }
}

#[derive(Debug, Default)]
pub struct Users {
    inner: Mutex<Inner>,
}

fn status_frame(name: &'static str, user_id: &str) -> Frame {
    let events = [WatchlistEvent {
        name,
        user_ids: vec![user_id],
    }];
    Frame::encode(&ServerMessage::WatchlistEvents { events: &events })
}

impl Users {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a sign-in. Tells watchers when the user was offline everywhere, then queues to
    /// `handle` the current status of its own watchlist. Returns whether this is the user's
    /// first socket on this node (the other nodes must hear of it).
    pub fn signin(
        &self,
        user_id: &Arc<str>,
        handle: &SessionHandle,
        watchlist: &[Arc<str>],
    ) -> bool {
        let mut inner = self.lock();
        let was_online = inner.online(user_id);
        let sockets = inner.sockets.entry(user_id.clone()).or_default();
        let first = sockets.is_empty();
        sockets.insert(handle.socket_id, handle.clone());
        if !was_online {
            inner.tell_watchers("online", user_id, Some(handle.socket_id));
        }
        for watched in watchlist {
            inner
                .watchers
                .entry(watched.clone())
                .or_default()
                .insert(handle.socket_id, handle.clone());
        }
        if watchlist.is_empty() {
            return first;
        }
        let (online, offline): (Vec<&str>, Vec<&str>) = watchlist
            .iter()
            .map(|w| &**w)
            .partition(|w| inner.online(w));
        let events: Vec<WatchlistEvent<'_>> = [("online", online), ("offline", offline)]
            .into_iter()
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(name, user_ids)| WatchlistEvent { name, user_ids })
            .collect();
        handle.send(Frame::encode(&ServerMessage::WatchlistEvents {
            events: &events,
        }));
        first
    }

    /// Forgets a signed-in socket; tells watchers when the user is now offline everywhere.
    /// Returns whether this was the user's last socket on this node.
    pub fn signout(&self, user_id: &str, socket_id: SocketId, watchlist: &[Arc<str>]) -> bool {
        let mut inner = self.lock();
        for watched in watchlist {
            if let Some(w) = inner.watchers.get_mut(&**watched) {
                w.remove(&socket_id);
                if w.is_empty() {
                    inner.watchers.remove(&**watched);
                }
            }
        }
        let Some(sockets) = inner.sockets.get_mut(user_id) else {
            return false;
        };
        if sockets.remove(&socket_id).is_none() || !sockets.is_empty() {
            return false;
        }
        inner.sockets.remove(user_id);
        if !inner.online(user_id) {
            inner.tell_watchers("offline", user_id, None);
        }
        true
    }

    /// Another node reports the user's first socket there signed in.
    pub fn remote_signin(&self, user_id: &Arc<str>, node: u64) {
        self.lock().set_remote(user_id, node, true);
    }

    /// Another node reports the user's last socket there gone.
    pub fn remote_signout(&self, user_id: &Arc<str>, node: u64) {
        self.lock().set_remote(user_id, node, false);
    }

    /// Makes `node`'s signed-in users exactly `present` (what it reports after (re)joining the
    /// bus); an empty list forgets the node (it left or died).
    pub fn sync_node(&self, node: u64, present: &[Arc<str>]) {
        let mut inner = self.lock();
        let keep: HashSet<&str> = present.iter().map(|u| &**u).collect();
        let gone: Vec<Arc<str>> = inner
            .remote
            .iter()
            .filter(|(u, nodes)| nodes.contains(&node) && !keep.contains(&***u))
            .map(|(u, _)| u.clone())
            .collect();
        for user in &gone {
            inner.set_remote(user, node, false);
        }
        for user in present {
            inner.set_remote(user, node, true);
        }
    }

    /// Users with a signed-in socket on this node, for the other nodes.
    pub fn local_users(&self) -> Vec<Arc<str>> {
        self.lock()
            .sockets
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(u, _)| u.clone())
            .collect()
    }

    /// The sockets of a user, to terminate them.
    pub fn sockets_of(&self, user_id: &str) -> Vec<SessionHandle> {
        self.lock()
            .sockets
            .get(user_id)
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::outbox;

    fn events(o: &mut crate::outbox::Outbox) -> Vec<serde_json::Value> {
        let mut v = Vec::new();
        while let Ok(b) = o.rx.try_recv() {
            let f: serde_json::Value =
                serde_json::from_slice(crate::frame::payload_of(&b.wire)).expect("json");
            v.push(f["data"]["events"].clone());
        }
        v
    }

    #[test]
    fn watchers_hear_first_signin_and_last_signout() {
        let users = Users::default();
        let (w, mut wo) = outbox(SocketId::new(1, 1), 16);
        let (u1, _u1o) = outbox(SocketId::new(1, 2), 16);
        let (u2, _u2o) = outbox(SocketId::new(1, 3), 16);
        let watcher: Arc<str> = Arc::from("w");
        let bob: Arc<str> = Arc::from("bob");
        users.signin(&watcher, &w, std::slice::from_ref(&bob));
        assert_eq!(
            events(&mut wo),
            [serde_json::json!([{"name":"offline","user_ids":["bob"]}])]
        );
        users.signin(&bob, &u1, &[]);
        users.signin(&bob, &u2, &[]);
        assert_eq!(
            events(&mut wo),
            [serde_json::json!([{"name":"online","user_ids":["bob"]}])]
        );
        users.signout("bob", u1.socket_id, &[]);
        assert!(events(&mut wo).is_empty(), "bob still has a socket");
        users.signout("bob", u2.socket_id, &[]);
        assert_eq!(
            events(&mut wo),
            [serde_json::json!([{"name":"offline","user_ids":["bob"]}])]
        );
        assert!(users.sockets_of("bob").is_empty());
    }

    #[test]
    fn a_user_is_online_while_any_node_has_a_socket() {
        let users = Users::default();
        let (w, mut wo) = outbox(SocketId::new(1, 1), 16);
        let (u, _uo) = outbox(SocketId::new(1, 2), 16);
        let bob: Arc<str> = Arc::from("bob");
        users.signin(&Arc::from("w"), &w, std::slice::from_ref(&bob));
        events(&mut wo);
        let online = [serde_json::json!([{"name":"online","user_ids":["bob"]}])];
        let offline = [serde_json::json!([{"name":"offline","user_ids":["bob"]}])];
        users.remote_signin(&bob, 7);
        assert_eq!(events(&mut wo), online);
        users.remote_signin(&bob, 8);
        assert!(users.signin(&bob, &u, &[]), "first socket on this node");
        assert!(events(&mut wo).is_empty(), "already online elsewhere");
        assert!(users.signout("bob", u.socket_id, &[]));
        users.remote_signout(&bob, 7);
        assert!(events(&mut wo).is_empty(), "still on node 8");
        users.sync_node(8, &[]);
        assert_eq!(events(&mut wo), offline);
        users.sync_node(9, std::slice::from_ref(&bob));
        assert_eq!(events(&mut wo), online);
        assert_eq!(users.local_users(), vec![Arc::<str>::from("w")]);
    }
}
