//! Signed-in users of one app on this node: which sockets each user has (for terminating them)
//! and who watches whom (watchlist `online`/`offline` events, sent when a user's first socket
//! signs in and after its last one leaves).

use ferrocast_protocol::server_msg::WatchlistEvent;
use ferrocast_protocol::{ServerMessage, SocketId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::outbox::SessionHandle;

#[derive(Debug, Default)]
struct Inner {
    sockets: HashMap<Arc<str>, HashMap<SocketId, SessionHandle>>,
    /// watched user id → the sockets watching it.
    watchers: HashMap<Arc<str>, HashMap<SocketId, SessionHandle>>,
}

#[derive(Debug, Default)]
pub struct Users {
    inner: Mutex<Inner>,
}

fn status_frame(name: &'static str, user_id: &str) -> bytes::Bytes {
    let events = [WatchlistEvent {
        name,
        user_ids: vec![user_id],
    }];
    ServerMessage::WatchlistEvents { events: &events }.encode()
}

impl Users {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a sign-in. Tells watchers when this is the user's first socket, then queues to
    /// `handle` the current status of its own watchlist.
    pub fn signin(&self, user_id: &Arc<str>, handle: &SessionHandle, watchlist: &[Arc<str>]) {
        let mut inner = self.lock();
        let sockets = inner.sockets.entry(user_id.clone()).or_default();
        let first = sockets.is_empty();
        sockets.insert(handle.socket_id, handle.clone());
        if first {
            if let Some(watchers) = inner.watchers.get(user_id) {
                let frame = status_frame("online", user_id);
                for w in watchers
                    .values()
                    .filter(|w| w.socket_id != handle.socket_id)
                {
                    w.send(frame.clone());
                }
            }
        }
        for watched in watchlist {
            inner
                .watchers
                .entry(watched.clone())
                .or_default()
                .insert(handle.socket_id, handle.clone());
        }
        if watchlist.is_empty() {
            return;
        }
        let (online, offline): (Vec<&str>, Vec<&str>) = watchlist
            .iter()
            .map(|w| &**w)
            .partition(|w| inner.sockets.get(*w).is_some_and(|s| !s.is_empty()));
        let events: Vec<WatchlistEvent<'_>> = [("online", online), ("offline", offline)]
            .into_iter()
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(name, user_ids)| WatchlistEvent { name, user_ids })
            .collect();
        handle.send(ServerMessage::WatchlistEvents { events: &events }.encode());
    }

    /// Forgets a signed-in socket; tells watchers when it was the user's last.
    pub fn signout(&self, user_id: &str, socket_id: SocketId, watchlist: &[Arc<str>]) {
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
            return;
        };
        sockets.remove(&socket_id);
        if !sockets.is_empty() {
            return;
        }
        inner.sockets.remove(user_id);
        if let Some(watchers) = inner.watchers.get(user_id) {
            let frame = status_frame("offline", user_id);
            for w in watchers.values() {
                w.send(frame.clone());
            }
        }
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
            let f: serde_json::Value = serde_json::from_slice(&b.frame).expect("json");
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
}
