//! Cluster semantics, written once over any `Adapter`: every node keeps its own sockets and
//! tells the others what they must know.
//! - Publishes are delivered locally at once and sent once on the bus; each other node hands
//!   the same bytes to its subscribers (socket_id exclusion travels with them).
//! - Presence is replicated: a node announces a user's first and last socket per channel; each
//!   node keeps the cluster's member list and tells its own subscribers of member changes, so
//!   every change is announced once per user and the member list of a new subscriber is
//!   complete. Local changes apply first, so a node without its broker keeps serving.
//! - Nodes heartbeat; one silent past `node_timeout_ms` is dead and its members are removed.
//!   A node that (re)connects says hello and every node resends its members.
//! - Sign-ins are replicated the same way (a user's first and last signed-in socket per node),
//!   so watchlist `online`/`offline` events see the whole cluster.
//! - Counts and channel lists are asked of every live node and summed; a node with no copy
//!   of a cache channel's last event asks the others for theirs (`queries.rs`).

mod message;
mod nodes;
mod queries;

use bytes::Bytes;
use ferrocast_protocol::{ChannelName, ErrorCode, SocketId};
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

use crate::adapter::{Adapter, BusEvent, Topic, QUEUE};
use crate::apps::{App, AppStore, Apps};
use crate::channels::{CachedEvent, Member};
use crate::config::ClusterConfig;
use message::{Answer, BusMessage, SyncEntry};
use nodes::Nodes;
pub use nodes::{NodeStats, PeerView};
use queries::cached_event;

/// Channel names from peers were validated where they were published; only the length cap
/// protects against a peer's bug.
const PEER_NAME_MAX: usize = 1024;

struct Pending {
    waiting: HashSet<u64>,
    answers: Vec<Answer>,
    done: Option<oneshot::Sender<Vec<Answer>>>,
}

pub struct Cluster {
    node: u64,
    adapter: Arc<dyn Adapter>,
    apps: Arc<Apps>,
    store: Arc<dyn AppStore>,
    config: ClusterConfig,
    nodes: Mutex<Nodes>,
    pending: Mutex<HashMap<u64, Pending>>,
    next_request: AtomicU64,
    connected: AtomicBool,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .field("adapter", &self.adapter.name())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Cluster {
    pub fn new(
        node: u64,
        adapter: Arc<dyn Adapter>,
        apps: Arc<Apps>,
        store: Arc<dyn AppStore>,
        config: ClusterConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            node,
            adapter,
            apps,
            store,
            config,
            nodes: Mutex::default(),
            pending: Mutex::default(),
            next_request: AtomicU64::new(1),
            connected: AtomicBool::new(false),
        })
    }

    pub fn node(&self) -> u64 {
        self.node
    }

    pub fn adapter_name(&self) -> &'static str {
        self.adapter.name()
    }

    /// Whether this node is the whole cluster (the local adapter).
    pub fn is_local(&self) -> bool {
        self.adapter.name() == "local"
    }

    /// Whether the bus is connected (always, for the local adapter).
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    pub fn peers(&self) -> Vec<u64> {
        lock(&self.nodes).live()
    }

    /// The other live nodes with their connections and last reported load.
    pub fn peer_view(&self) -> Vec<PeerView> {
        lock(&self.nodes).view()
    }

    /// This node's load, as its heartbeat reports it.
    pub fn load(&self) -> NodeStats {
        NodeStats {
            rss_bytes: crate::api::ops::rss_bytes(),
            totals: self.apps.metrics().totals.snapshot(),
        }
    }

    /// Starts the transport, the receiver and the heartbeat; returns their tasks.
    pub fn start(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let (tx, rx) = mpsc::channel(QUEUE);
        self.adapter.start(self.node, tx);
        vec![
            tokio::spawn(self.clone().receive(rx)),
            tokio::spawn(self.clone().heartbeat()),
        ]
    }

    fn send(&self, topic: Topic, msg: &BusMessage<'_>) {
        if self.adapter.name() != "local" {
            self.adapter.send(topic, msg.encode());
        }
    }

    /// Delivers an event on this node and sends it to the others.
    pub fn publish(
        &self,
        app: &App,
        channel: &ChannelName,
        frame: &Bytes,
        except: Option<SocketId>,
        cache: Option<CachedEvent>,
    ) -> usize {
        let is_cache = cache.is_some();
        let delivered = app.channels.publish(channel, frame, except, cache);
        if self.adapter.name() != "local" {
            if let Ok(raw) = serde_json::from_slice::<&RawValue>(frame) {
                self.send(
                    Topic::All,
                    &BusMessage::Publish {
                        from: self.node,
                        app: app.id.clone(),
                        channel: channel.to_string(),
                        except: except.map(|s| s.to_string()),
                        frame: raw,
                        cache: is_cache,
                    },
                );
            }
        }
        delivered
    }

    /// A user's first socket on this node joined a presence channel.
    pub fn joined(&self, app: &App, channel: &ChannelName, member: &Member) {
        let msg = BusMessage::Join {
            from: self.node,
            app: app.id.clone(),
            channel: channel.to_string(),
            user: member.user_id.to_string(),
            info: member.user_info.as_deref(),
        };
        self.send(Topic::All, &msg);
    }

    /// A user's last socket on this node left a presence channel.
    pub fn left(&self, app: &App, channel: &ChannelName, user: &str) {
        let msg = BusMessage::Leave {
            from: self.node,
            app: app.id.clone(),
            channel: channel.to_string(),
            user: user.to_owned(),
        };
        self.send(Topic::All, &msg);
    }

    /// A user's first socket on this node signed in.
    pub fn signed_in(&self, app: &App, user: &str) {
        let msg = BusMessage::SignIn {
            from: self.node,
            app: app.id.clone(),
            user: user.to_owned(),
        };
        self.send(Topic::All, &msg);
    }

    /// A user's last signed-in socket on this node is gone.
    pub fn signed_out(&self, app: &App, user: &str) {
        let msg = BusMessage::SignOut {
            from: self.node,
            app: app.id.clone(),
            user: user.to_owned(),
        };
        self.send(Topic::All, &msg);
    }

    /// Closes every socket of `user` on every node with 4009.
    pub fn terminate(&self, app: &App, user: &str) {
        terminate_local(app, user);
        let msg = BusMessage::Terminate {
            from: self.node,
            app: app.id.clone(),
            user: user.to_owned(),
        };
        self.send(Topic::All, &msg);
    }

    /// Tells the other nodes to reload their apps from the store.
    pub fn apps_changed(&self) {
        self.send(Topic::All, &BusMessage::AppsChanged { from: self.node });
    }

    /// Says goodbye so the others drop this node's members at once.
    pub fn leave(&self) {
        self.send(Topic::All, &BusMessage::Bye { from: self.node });
    }

    async fn receive(self: Arc<Self>, mut rx: mpsc::Receiver<BusEvent>) {
        while let Some(event) = rx.recv().await {
            match event {
                BusEvent::Connected => {
                    self.connected.store(true, Ordering::Release);
                    self.send(Topic::All, &BusMessage::Hello { from: self.node });
                    self.send_sync();
                }
                BusEvent::Disconnected => self.connected.store(false, Ordering::Release),
                BusEvent::Message(bytes) => self.handle(&bytes),
            }
        }
    }

    fn send_sync(&self) {
        let mut members = Vec::new();
        let apps = self.apps.all();
        let locals: Vec<_> = apps
            .iter()
            .map(|a| (a, a.channels.local_members()))
            .collect();
        for (app, list) in &locals {
            for (channel, user, info) in list {
                members.push(SyncEntry {
                    app: app.id.clone(),
                    channel: channel.to_string(),
                    user: user.to_string(),
                    info: info.as_deref(),
                });
            }
        }
        let users = apps
            .iter()
            .flat_map(|a| {
                let users = a.users.local_users();
                users.into_iter().map(|u| (a.id.clone(), u.to_string()))
            })
            .collect();
        self.send(
            Topic::All,
            &BusMessage::Sync {
                from: self.node,
                members,
                users,
            },
        );
    }

    fn handle(&self, bytes: &Bytes) {
        let msg: BusMessage<'_> = match serde_json::from_slice(bytes) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "cluster: undecodable bus message ignored");
                return;
            }
        };
        let from = msg.from();
        if from == self.node {
            return;
        }
        let is_new = lock(&self.nodes).seen(from, Instant::now());
        if is_new && !matches!(msg, BusMessage::Hello { .. } | BusMessage::Bye { .. }) {
            // A node we had given up on (or never met): ask everyone for their members again.
            self.send(Topic::All, &BusMessage::Hello { from: self.node });
        }
        match msg {
            BusMessage::Publish {
                app,
                channel,
                except,
                frame,
                cache,
                ..
            } => {
                let (Some(app), Some(channel)) = (self.apps.by_id(&app), peer_channel(&channel))
                else {
                    return;
                };
                let frame = bytes.slice_ref(frame.get().as_bytes());
                let cache = cache.then(|| cached_event(&frame, &app)).flatten();
                let except = except.and_then(|s| s.parse::<SocketId>().ok());
                app.channels.publish(&channel, &frame, except, cache);
            }
            BusMessage::Join {
                app,
                channel,
                user,
                info,
                ..
            } => {
                if let (Some(app), Some(channel)) = (self.apps.by_id(&app), peer_channel(&channel))
                {
                    app.channels
                        .remote_join(&channel, &Arc::from(user), from, info.map(raw_arc));
                }
            }
            BusMessage::Leave {
                app, channel, user, ..
            } => {
                if let (Some(app), Some(channel)) = (self.apps.by_id(&app), peer_channel(&channel))
                {
                    app.channels.remote_leave(&channel, &user, from);
                }
            }
            BusMessage::SignIn { app, user, .. } => {
                if let Some(app) = self.apps.by_id(&app) {
                    app.users.remote_signin(&Arc::from(user), from);
                }
            }
            BusMessage::SignOut { app, user, .. } => {
                if let Some(app) = self.apps.by_id(&app) {
                    app.users.remote_signout(&Arc::from(user), from);
                }
            }
            BusMessage::Sync { members, users, .. } => {
                let mut signed_in: HashMap<String, Vec<Arc<str>>> = HashMap::new();
                for (app, user) in users {
                    signed_in.entry(app).or_default().push(Arc::from(user));
                }
                let mut by_app: HashMap<String, Vec<_>> = HashMap::new();
                for m in members {
                    if let Some(channel) = peer_channel(&m.channel) {
                        by_app.entry(m.app).or_default().push((
                            channel,
                            Arc::from(m.user),
                            m.info.map(raw_arc),
                        ));
                    }
                }
                for app in self.apps.all() {
                    let entries = by_app.remove(&app.id).unwrap_or_default();
                    app.channels.sync_node(from, &entries);
                    let users = signed_in.remove(&app.id).unwrap_or_default();
                    app.users.sync_node(from, &users);
                }
            }
            BusMessage::Hello { .. } => self.send_sync(),
            BusMessage::Heartbeat {
                connections, stats, ..
            } => {
                let mut nodes = lock(&self.nodes);
                nodes.set_connections(from, connections.into_iter().collect());
                nodes.set_stats(from, stats);
                drop(nodes);
                self.update_remote_connections();
            }
            BusMessage::Bye { .. } => self.forget(from),
            BusMessage::AppsChanged { .. } => self.reload_soon(),
            BusMessage::Terminate { app, user, .. } => {
                if let Some(app) = self.apps.by_id(&app) {
                    terminate_local(&app, &user);
                }
            }
            BusMessage::Request { id, query, .. } => {
                let answer = self.answer(query);
                self.send(
                    Topic::Node(from),
                    &BusMessage::Response {
                        from: self.node,
                        id,
                        answer,
                    },
                );
            }
            BusMessage::Response { id, answer, .. } => {
                let mut pending = lock(&self.pending);
                let Some(p) = pending.get_mut(&id) else {
                    return;
                };
                if p.waiting.remove(&from) {
                    p.answers.push(answer);
                }
                if p.waiting.is_empty() {
                    if let Some(p) = pending.remove(&id) {
                        if let Some(done) = p.done {
                            let _ = done.send(p.answers);
                        }
                    }
                }
            }
        }
    }

    /// Reloads the apps in the background, so the bus receiver never waits for the store.
    fn reload_soon(&self) {
        let (apps, store) = (self.apps.clone(), self.store.clone());
        tokio::spawn(async move {
            match store.list().await {
                Ok(records) => {
                    apps.apply(records);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "apps reload failed; keeping the current apps")
                }
            }
        });
    }

    /// Drops a node that left or died: its members leave, its connections stop counting, and
    /// requests stop waiting for it.
    fn forget(&self, node: u64) {
        lock(&self.nodes).remove(node);
        tracing::info!(node, "cluster: node gone; removing its members");
        for app in self.apps.all() {
            app.channels.forget_node(node);
            app.users.sync_node(node, &[]);
        }
        self.update_remote_connections();
        let mut pending = lock(&self.pending);
        let finished: Vec<u64> = pending
            .iter_mut()
            .filter_map(|(id, p)| (p.waiting.remove(&node) && p.waiting.is_empty()).then_some(*id))
            .collect();
        for id in finished {
            if let Some(p) = pending.remove(&id) {
                if let Some(done) = p.done {
                    let _ = done.send(p.answers);
                }
            }
        }
    }

    fn update_remote_connections(&self) {
        let nodes = lock(&self.nodes);
        for app in self.apps.all() {
            app.set_remote_connections(nodes.connections(&app.id));
        }
    }

    async fn heartbeat(self: Arc<Self>) {
        let every = Duration::from_millis(self.config.heartbeat_ms.max(10));
        let timeout = Duration::from_millis(self.config.node_timeout_ms);
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let connections = self
                .apps
                .all()
                .iter()
                .map(|a| (a.id.clone(), a.local_connections()))
                .collect();
            self.send(
                Topic::All,
                &BusMessage::Heartbeat {
                    from: self.node,
                    connections,
                    // Only read when it goes on a bus (`send` drops it on a single node).
                    stats: (self.adapter.name() != "local").then(|| self.load()),
                },
            );
            let dead = lock(&self.nodes).expire(Instant::now(), timeout);
            for node in dead {
                tracing::warn!(node, "cluster: node silent for too long; declared dead");
                self.forget(node);
            }
        }
    }
}

fn terminate_local(app: &App, user: &str) {
    for socket in app.users.sockets_of(user) {
        socket.close(ErrorCode::Unauthorized, "Connection terminated by the app");
    }
}

fn peer_channel(name: &str) -> Option<ChannelName> {
    ChannelName::parse(name, PEER_NAME_MAX).ok()
}

fn raw_arc(raw: &RawValue) -> Arc<RawValue> {
    Arc::from(raw.to_owned())
}
