//! The null broadcaster: the least a Pusher-protocol server can do, to show how close Ferrocast
//! gets to what this machine can do at all. It accepts WebSockets and HTTP publishes on one
//! port, answers the handshake, subscribe (no auth check), presence membership, client events
//! and pings minimally, and writes each event as one pre-framed buffer straight to every
//! subscriber's queue; a per-socket flusher writes all that is queued in one syscall (or, with
//! `--direct`, the publisher writes to the socket itself). No signatures, limits, or metrics.

mod conn;

use std::collections::HashMap;
use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// A socket whose queue grows beyond this is dropped as a slow consumer.
const MAX_PENDING: usize = 8 << 20;

/// Direct mode: publishers write to sockets themselves instead of queueing for the flushers.
pub static DIRECT: AtomicBool = AtomicBool::new(false);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One client socket, shared by its reading task, its flusher and every publisher.
pub struct Peer {
    pub id: u64,
    stream: Arc<TcpStream>,
    pending: Mutex<Vec<u8>>,
    wake: Notify,
    dead: AtomicBool,
}

impl Peer {
    fn new(id: u64, stream: Arc<TcpStream>) -> Arc<Self> {
        let p = Arc::new(Self { id, stream, pending: Mutex::new(Vec::new()), wake: Notify::new(), dead: AtomicBool::new(false) });
        tokio::spawn(flusher(p.clone()));
        p
    }

    /// Queues `frame` for the socket's flusher, which writes everything queued in one go; in
    /// direct mode, writes it at once when nothing is queued (one syscall per delivery).
    pub fn deliver(&self, frame: &[u8]) {
        if self.dead.load(Relaxed) {
            return;
        }
        let mut q = lock(&self.pending);
        if q.len() + frame.len() > MAX_PENDING {
            return self.kill();
        }
        if q.is_empty() && DIRECT.load(Relaxed) {
            match self.stream.try_write(frame) {
                Ok(n) if n == frame.len() => return,
                Ok(n) => q.extend_from_slice(&frame[n..]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => q.extend_from_slice(frame),
                Err(_) => return self.kill(),
            }
            self.wake.notify_one();
            return;
        }
        let was_empty = q.is_empty();
        q.extend_from_slice(frame);
        if was_empty {
            self.wake.notify_one();
        }
    }

    fn kill(&self) {
        self.dead.store(true, Relaxed);
        self.wake.notify_one();
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Relaxed)
    }
}

/// Writes out a peer's queue, all of it per write, whenever there is something queued.
async fn flusher(p: Arc<Peer>) {
    let mut out: Vec<u8> = Vec::new();
    loop {
        p.wake.notified().await;
        loop {
            if p.is_dead() {
                return;
            }
            {
                let mut q = lock(&p.pending);
                if q.is_empty() {
                    break;
                }
                std::mem::swap(&mut *q, &mut out);
            }
            let mut done = 0;
            while done < out.len() {
                match p.stream.try_write(&out[done..]) {
                    Ok(n) => done += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        if p.stream.writable().await.is_err() {
                            return p.kill();
                        }
                    }
                    Err(_) => return p.kill(),
                }
            }
            out.clear();
            if out.capacity() > 64 * 1024 {
                out = Vec::new();
            }
        }
    }
}

#[derive(Default)]
struct Channel {
    /// Subscribed peers and their presence user id.
    subs: HashMap<u64, (Arc<Peer>, Option<String>)>,
    /// Presence members: user id → sockets.
    members: HashMap<String, usize>,
}

/// Every channel of the one app served.
#[derive(Default)]
pub struct Registry {
    channels: Mutex<HashMap<String, Channel>>,
    next_id: AtomicU64,
}

impl Registry {
    /// Subscribes `peer`; returns the presence member list to answer with (None for other channels),
    /// after announcing a new member to the others.
    pub fn subscribe(&self, channel: &str, peer: &Arc<Peer>, user: Option<String>) -> Option<Vec<String>> {
        let mut all = lock(&self.channels);
        let ch = all.entry(channel.to_owned()).or_default();
        if let Some(u) = &user {
            let sockets = ch.members.entry(u.clone()).or_insert(0);
            *sockets += 1;
            if *sockets == 1 && !ch.subs.contains_key(&peer.id) {
                let f = conn::member_frame(channel, u, true);
                ch.subs.values().for_each(|(p, _)| p.deliver(&f));
            }
        }
        ch.subs.insert(peer.id, (peer.clone(), user.clone()));
        user.map(|_| ch.members.keys().cloned().collect())
    }

    pub fn unsubscribe(&self, channel: &str, peer_id: u64) {
        let mut all = lock(&self.channels);
        let Some(ch) = all.get_mut(channel) else { return };
        if let Some((_, Some(u))) = ch.subs.remove(&peer_id) {
            let gone = ch.members.get_mut(&u).map(|n| {
                *n -= 1;
                *n == 0
            });
            if gone == Some(true) {
                ch.members.remove(&u);
                let f = conn::member_frame(channel, &u, false);
                ch.subs.values().for_each(|(p, _)| p.deliver(&f));
            }
        }
        if ch.subs.is_empty() {
            all.remove(channel);
        }
    }

    /// Writes `frame` to every subscriber of `channel` but `except`; returns how many.
    pub fn publish(&self, channel: &str, frame: &[u8], except: Option<u64>) -> usize {
        let peers: Vec<Arc<Peer>> = match lock(&self.channels).get(channel) {
            Some(ch) => ch.subs.values().filter(|(p, _)| Some(p.id) != except).map(|(p, _)| p.clone()).collect(),
            None => return 0,
        };
        peers.iter().for_each(|p| p.deliver(frame));
        peers.len()
    }

    /// The presence user id of `peer` on `channel`, if it is a member there.
    pub fn user_of(&self, channel: &str, peer_id: u64) -> Option<Option<String>> {
        lock(&self.channels).get(channel)?.subs.get(&peer_id).map(|(_, u)| u.clone())
    }
}

/// Serves on `listener` until the process is stopped.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let reg = Arc::new(Registry::default());
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                eprintln!("null-broadcaster: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let id = reg.next_id.fetch_add(1, Relaxed) + 1;
        let reg = reg.clone();
        tokio::spawn(async move {
            let stream = Arc::new(stream);
            let peer = Peer::new(id, stream.clone());
            conn::handle(reg, peer, stream).await;
        });
    }
}
