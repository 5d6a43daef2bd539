//! The channels of one app on this node: who is subscribed here, the presence members of the
//! whole cluster (local sockets plus what other nodes report), and the last event of cache
//! channels. Sharded by channel name; a shard's lock is held for the few microseconds of a map
//! update or a fan-out loop of `try_send`s, never across an `.await`. Frames a new subscriber
//! must see in order (subscription_succeeded, then the cached event) are queued while the shard
//! is locked, so no publish can slip between them.
//!
//! Lock order: a shard lock is never held while taking another shard's or the users' lock.

mod cache;
mod deferred;
pub mod presence;
pub mod users;

pub use cache::CachedEvent;

use bytes::Bytes;
use ferrocast_protocol::stream::{Position, StreamInfo};
use ferrocast_protocol::{ChannelName, ServerMessage, SocketId};
use presence::{Change, Members};
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::frame::Frame;
use crate::outbox::SessionHandle;

const SHARDS: usize = 32;

/// A presence member joining with a subscription.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: Arc<str>,
    pub user_info: Option<Arc<RawValue>>,
}

#[derive(Debug)]
struct Subscriber {
    handle: SessionHandle,
    user_id: Option<Arc<str>>,
    /// While a history subscription is being set up, what it is sent waits here.
    pending: Option<deferred::Pending>,
    /// History channels: events at or before this position were replayed or precede the
    /// subscription, and are not sent again (late copies from other nodes).
    floor: Option<Position>,
}

#[derive(Debug, Default)]
struct Channel {
    subscribers: HashMap<SocketId, Subscriber>,
    members: Members,
}

impl Channel {
    fn is_unused(&self) -> bool {
        self.subscribers.is_empty() && self.members.is_empty()
    }

    /// Tells this node's subscribers that a member joined or left, except `except`.
    fn announce(
        &mut self,
        channel: &str,
        user_id: &str,
        joined: Option<Option<&RawValue>>,
        except: Option<SocketId>,
    ) {
        let frame = Frame::encode(&match joined {
            Some(user_info) => ServerMessage::MemberAdded {
                channel,
                user_id,
                user_info,
            },
            None => ServerMessage::MemberRemoved { channel, user_id },
        });
        for s in self
            .subscribers
            .values_mut()
            .filter(|s| Some(s.handle.socket_id) != except)
        {
            s.deliver(
                deferred::Kind::Member,
                frame.clone(),
                Instant::now(),
                &mut deferred::FramePos::default(),
            );
        }
    }
}

#[derive(Debug, Default)]
struct Shard {
    channels: HashMap<ChannelName, Channel>,
    cache: HashMap<ChannelName, CachedEvent>,
}

impl Shard {
    /// What a new subscriber is sent first: subscription_succeeded (with the member list on
    /// presence channels and the stream position on history channels), then on cache channels
    /// the last event or `pusher:cache_miss`.
    /// Whether a subscriber to `channel` now gets `pusher:cache_miss` (a cache channel with
    /// no fresh event).
    fn cache_missing(&self, channel: &ChannelName, now: Instant) -> bool {
        channel.is_cache() && !self.cache.get(channel).is_some_and(|c| c.is_fresh(now))
    }

    fn welcome(
        &self,
        channel: &ChannelName,
        socket_id: SocketId,
        stream: Option<&StreamInfo<'_>>,
        now: Instant,
    ) -> Vec<Frame> {
        let Some(ch) = self.channels.get(channel) else {
            return Vec::new();
        };
        let is_presence = ch
            .subscribers
            .get(&socket_id)
            .is_some_and(|s| s.user_id.is_some());
        let snapshot = is_presence.then(|| ch.members.snapshot());
        let mut frames = vec![Frame::encode(&ServerMessage::SubscriptionSucceeded {
            channel: channel.as_str(),
            presence: snapshot.as_ref(),
            stream,
        })];
        if channel.is_cache() {
            frames.push(match self.cache.get(channel).filter(|c| c.is_fresh(now)) {
                Some(c) => Frame::text(&c.frame),
                None => Frame::encode(&ServerMessage::CacheMiss {
                    channel: channel.as_str(),
                }),
            });
        }
        frames
    }
}

/// Why a subscription was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    PresenceFull { max: usize },
}

/// One presence member of one channel, as nodes exchange them: (channel, user, user_info).
pub type PresenceEntry = (ChannelName, Arc<str>, Option<Arc<RawValue>>);

/// What a subscription changed, for the caller's bookkeeping.
#[derive(Debug, Clone)]
pub struct Subscribed {
    /// The socket was already subscribed; only subscription_succeeded was sent again.
    pub again: bool,
    /// The channel had no subscriber on this node before.
    pub occupied: bool,
    /// The member's first socket on this node: the other nodes must hear of it.
    pub local_join: Option<Member>,
    /// A cache channel had no event to give the new subscriber (`pusher:cache_miss` was sent).
    pub cache_miss: bool,
}

/// What leaving a channel changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsubscribed {
    NotSubscribed,
    /// Left; `local_leave` names a presence user whose last socket on this node this was;
    /// `vacated` says the channel has no subscriber left on this node.
    Left {
        local_leave: Option<Arc<str>>,
        vacated: bool,
    },
}

/// Subscriber and member counts of one channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub subscriptions: usize,
    pub users: usize,
}

/// Totals over an app's channels on this node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub channels: usize,
    pub subscriptions: usize,
    pub presence_members: usize,
}

/// The channels of one app.
#[derive(Debug)]
pub struct Registry {
    shards: Box<[Mutex<Shard>]>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: Default::default(),
        }
    }
}

impl Registry {
    fn shard(&self, channel: &str) -> MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(channel) as usize) % self.shards.len();
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn all_shards(&self) -> impl Iterator<Item = MutexGuard<'_, Shard>> {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Subscribes `handle` and queues, in order: subscription_succeeded (with the member list
    /// on presence channels), then on cache channels the last event or `pusher:cache_miss`.
    /// A new presence member is announced to the other subscribers first.
    pub fn subscribe(
        &self,
        channel: &ChannelName,
        handle: &SessionHandle,
        member: Option<Member>,
        max_members: usize,
        now: Instant,
    ) -> Result<Subscribed, Refused> {
        let mut shard = self.shard(channel.as_str());
        let mut sub = Self::join(&mut shard, channel, handle, member, max_members, None)?;
        sub.cache_miss = shard.cache_missing(channel, now);
        for frame in shard.welcome(channel, handle.socket_id, None, now) {
            handle.send(frame);
        }
        Ok(sub)
    }

    /// Adds the socket to the channel (announcing a new presence member); `pending` makes it
    /// a deferred subscription that receives nothing yet.
    fn join(
        shard: &mut Shard,
        channel: &ChannelName,
        handle: &SessionHandle,
        member: Option<Member>,
        max_members: usize,
        pending: Option<deferred::Pending>,
    ) -> Result<Subscribed, Refused> {
        let ch = shard.channels.entry(channel.clone()).or_default();
        let occupied = ch.subscribers.is_empty();
        let again = ch.subscribers.contains_key(&handle.socket_id);
        let mut local_join = None;
        if !again {
            if let Some(m) = &member {
                let full = max_members > 0 && ch.members.len() >= max_members;
                if full && !ch.members.contains(&m.user_id) {
                    if ch.is_unused() {
                        shard.channels.remove(channel);
                    }
                    return Err(Refused::PresenceFull { max: max_members });
                }
                let t = ch.members.join(&m.user_id, m.user_info.clone());
                if t.member == Change::Changed {
                    ch.announce(
                        channel.as_str(),
                        &m.user_id,
                        Some(m.user_info.as_deref()),
                        None,
                    );
                }
                if t.local == Change::Changed {
                    local_join = Some(m.clone());
                }
            }
            let user_id = member.map(|m| m.user_id);
            ch.subscribers.insert(
                handle.socket_id,
                Subscriber {
                    handle: handle.clone(),
                    user_id,
                    pending,
                    floor: None,
                },
            );
        }
        Ok(Subscribed {
            again,
            occupied: occupied && !again,
            local_join,
            // Set by the caller, which knows the time.
            cache_miss: false,
        })
    }

    /// Removes one socket from a channel; tells the others when a presence member left.
    pub fn unsubscribe(&self, channel: &ChannelName, socket_id: SocketId) -> Unsubscribed {
        let mut shard = self.shard(channel.as_str());
        let Some(ch) = shard.channels.get_mut(channel) else {
            return Unsubscribed::NotSubscribed;
        };
        let Some(sub) = ch.subscribers.remove(&socket_id) else {
            return Unsubscribed::NotSubscribed;
        };
        let mut local_leave = None;
        if let Some(user_id) = sub.user_id {
            let t = ch.members.leave(&user_id);
            if t.member == Change::Changed {
                ch.announce(channel.as_str(), &user_id, None, None);
            }
            if t.local == Change::Changed {
                local_leave = Some(user_id);
            }
        }
        let vacated = ch.subscribers.is_empty();
        if ch.is_unused() {
            shard.channels.remove(channel);
        }
        Unsubscribed::Left {
            local_leave,
            vacated,
        }
    }

    /// Another node reports `user_id` present in `channel`.
    pub fn remote_join(
        &self,
        channel: &ChannelName,
        user_id: &Arc<str>,
        node: u64,
        info: Option<Arc<RawValue>>,
    ) {
        let mut shard = self.shard(channel.as_str());
        let ch = shard.channels.entry(channel.clone()).or_default();
        let shown = info.clone();
        if ch.members.join_remote(user_id, node, info) == Change::Changed {
            ch.announce(channel.as_str(), user_id, Some(shown.as_deref()), None);
        }
    }

    /// Another node reports `user_id` gone from `channel`.
    pub fn remote_leave(&self, channel: &ChannelName, user_id: &str, node: u64) {
        let mut shard = self.shard(channel.as_str());
        let Some(ch) = shard.channels.get_mut(channel) else {
            return;
        };
        if ch.members.leave_remote(user_id, node) == Change::Changed {
            ch.announce(channel.as_str(), user_id, None, None);
        }
        if ch.is_unused() {
            shard.channels.remove(channel);
        }
    }

    /// Makes node `node`'s members exactly `present` (channel, user, info): what a node reports
    /// after (re)joining the bus. Members it no longer has leave, new ones join.
    pub fn sync_node(&self, node: u64, present: &[PresenceEntry]) {
        let keep: HashSet<(&str, &str)> =
            present.iter().map(|(c, u, _)| (c.as_str(), &**u)).collect();
        for mut shard in self.all_shards() {
            let mut emptied = Vec::new();
            for (name, ch) in shard.channels.iter_mut() {
                for user in ch.members.users_on(node) {
                    if !keep.contains(&(name.as_str(), &*user))
                        && ch.members.leave_remote(&user, node) == Change::Changed
                    {
                        ch.announce(name.as_str(), &user, None, None);
                    }
                }
                if ch.is_unused() {
                    emptied.push(name.clone());
                }
            }
            for name in emptied {
                shard.channels.remove(&name);
            }
        }
        for (channel, user, info) in present {
            self.remote_join(channel, user, node, info.clone());
        }
    }

    /// Forgets every member node `node` reported (the node left or died).
    pub fn forget_node(&self, node: u64) {
        self.sync_node(node, &[]);
    }

    /// Presence members with a socket on this node: (channel, user, info), for other nodes.
    pub fn local_members(&self) -> Vec<PresenceEntry> {
        let mut out = Vec::new();
        for shard in self.all_shards() {
            for (name, ch) in &shard.channels {
                out.extend(
                    ch.members
                        .local_members()
                        .map(|(u, i)| (name.clone(), u.clone(), i.cloned())),
                );
            }
        }
        out
    }

    /// Frames the encoded event once and hands the same bytes to every subscriber but
    /// `except`; on cache channels also keeps it as the last event. Returns how many
    /// subscribers it was queued for.
    pub fn publish(
        &self,
        channel: &ChannelName,
        frame: &Bytes,
        except: Option<SocketId>,
        cache: Option<CachedEvent>,
    ) -> usize {
        let mut shard = self.shard(channel.as_str());
        if let Some(c) = cache {
            shard.cache.insert(channel.clone(), c);
        }
        let now = Instant::now();
        let mut pos = deferred::FramePos::default();
        let Some(ch) = shard.channels.get_mut(channel) else {
            return 0;
        };
        let frame = Frame::text(frame);
        ch.subscribers
            .values_mut()
            .filter(|s| Some(s.handle.socket_id) != except)
            .map(|s| s.deliver(deferred::Kind::Event, frame.clone(), now, &mut pos))
            .filter(|&queued| queued)
            .count()
    }

    /// This node's subscriptions of a channel, and the cluster's presence members.
    pub fn counts(&self, channel: &str) -> Counts {
        let shard = self.shard(channel);
        shard
            .channels
            .get(channel)
            .map(|ch| Counts {
                subscriptions: ch.subscribers.len(),
                users: ch.members.len(),
            })
            .unwrap_or_default()
    }

    /// Channels with a subscriber on this node whose name starts with `prefix`.
    pub fn list(&self, prefix: &str) -> Vec<(ChannelName, Counts)> {
        let mut out = Vec::new();
        for shard in self.all_shards() {
            for (name, ch) in &shard.channels {
                if !ch.subscribers.is_empty() && name.as_str().starts_with(prefix) {
                    let counts = Counts {
                        subscriptions: ch.subscribers.len(),
                        users: ch.members.len(),
                    };
                    out.push((name.clone(), counts));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The user ids of a presence channel's members (cluster-wide).
    pub fn member_ids(&self, channel: &str) -> Vec<String> {
        let shard = self.shard(channel);
        let mut ids: Vec<String> = shard
            .channels
            .get(channel)
            .map(|ch| ch.members.ids().map(str::to_owned).collect())
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// The cached event of a cache channel, if still fresh.
    pub fn cached(&self, channel: &str, now: Instant) -> Option<CachedEvent> {
        self.shard(channel)
            .cache
            .get(channel)
            .filter(|c| c.is_fresh(now))
            .cloned()
    }

    /// Keeps `event` (another node's copy) as the channel's last event unless this node has a
    /// fresh one, which is as new or newer (it came from a publish since).
    pub fn fill_cache(&self, channel: &ChannelName, event: CachedEvent, now: Instant) {
        let mut shard = self.shard(channel.as_str());
        if !shard.cache.get(channel).is_some_and(|c| c.is_fresh(now)) {
            shard.cache.insert(channel.clone(), event);
        }
    }

    /// Occupied channels, subscriptions and presence members, for the metrics.
    pub fn stats(&self) -> Stats {
        let mut st = Stats::default();
        for shard in self.all_shards() {
            for ch in shard
                .channels
                .values()
                .filter(|ch| !ch.subscribers.is_empty())
            {
                st.channels += 1;
                st.subscriptions += ch.subscribers.len();
                st.presence_members += ch.members.len();
            }
        }
        st
    }

    /// Drops expired cached events, so channels nobody publishes to again do not keep memory.
    pub fn sweep_cache(&self, now: Instant) {
        for mut shard in self.all_shards() {
            shard.cache.retain(|_, c| c.is_fresh(now));
        }
    }
}

#[cfg(test)]
mod tests;
