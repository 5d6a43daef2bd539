//! The channels of one app on this node: who is subscribed, presence members, and the last
//! event of cache channels. Sharded by channel name; a shard's lock is held for the few
//! microseconds of a map update or a fan-out loop of `try_send`s, never across an `.await`.
//! Frames a new subscriber must see in order (subscription_succeeded, then the cached event)
//! are queued while the shard is locked, so no publish can slip between them.
//!
//! Lock order: a shard lock is never held while taking another shard's or the users' lock.

mod cache;
pub mod presence;
pub mod users;

pub use cache::CachedEvent;

use bytes::Bytes;
use ferrocast_protocol::{ChannelName, ServerMessage, SocketId};
use presence::{Change, Members};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

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
}

#[derive(Debug, Default)]
struct Channel {
    subscribers: HashMap<SocketId, Subscriber>,
    members: Members,
}

#[derive(Debug, Default)]
struct Shard {
    channels: HashMap<ChannelName, Channel>,
    cache: HashMap<ChannelName, CachedEvent>,
}

/// Why a subscription was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    PresenceFull { max: usize },
}

/// What a subscription changed, for the caller's bookkeeping (and later, webhooks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscribed {
    /// The socket was already subscribed; only subscription_succeeded was sent again.
    pub again: bool,
    /// The channel had no subscriber before.
    pub occupied: bool,
}

/// Subscriber and member counts of one channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub subscriptions: usize,
    pub users: usize,
}

/// Totals over an app's channels.
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
        let shard = &mut *shard;
        let ch = shard.channels.entry(channel.clone()).or_default();
        let occupied = ch.subscribers.is_empty();
        let again = ch.subscribers.contains_key(&handle.socket_id);
        if !again {
            if let Some(m) = &member {
                if !ch.members.contains(&m.user_id)
                    && max_members > 0
                    && ch.members.len() >= max_members
                {
                    if ch.subscribers.is_empty() {
                        shard.channels.remove(channel);
                    }
                    return Err(Refused::PresenceFull { max: max_members });
                }
                if ch.members.join(&m.user_id, m.user_info.clone()) == Change::Changed {
                    let added = ServerMessage::MemberAdded {
                        channel: channel.as_str(),
                        user_id: &m.user_id,
                        user_info: m.user_info.as_deref(),
                    }
                    .encode();
                    for s in ch.subscribers.values() {
                        s.handle.send(added.clone());
                    }
                }
            }
            let user_id = member.map(|m| m.user_id);
            ch.subscribers.insert(
                handle.socket_id,
                Subscriber {
                    handle: handle.clone(),
                    user_id,
                },
            );
        }
        let is_presence = ch
            .subscribers
            .get(&handle.socket_id)
            .is_some_and(|s| s.user_id.is_some());
        let snapshot = is_presence.then(|| ch.members.snapshot());
        handle.send(
            ServerMessage::SubscriptionSucceeded {
                channel: channel.as_str(),
                presence: snapshot.as_ref(),
            }
            .encode(),
        );
        if channel.is_cache() {
            match shard.cache.get(channel).filter(|c| c.is_fresh(now)) {
                Some(c) => handle.send(c.frame.clone()),
                None => handle.send(
                    ServerMessage::CacheMiss {
                        channel: channel.as_str(),
                    }
                    .encode(),
                ),
            };
        }
        Ok(Subscribed {
            again,
            occupied: occupied && !again,
        })
    }

    /// Removes one socket from a channel; tells the others when a presence member left.
    /// Returns whether the socket was subscribed.
    pub fn unsubscribe(&self, channel: &ChannelName, socket_id: SocketId) -> bool {
        let mut shard = self.shard(channel.as_str());
        let Some(ch) = shard.channels.get_mut(channel) else {
            return false;
        };
        let Some(sub) = ch.subscribers.remove(&socket_id) else {
            return false;
        };
        if let Some(user_id) = sub.user_id {
            if ch.members.leave(&user_id) == Change::Changed {
                let removed = ServerMessage::MemberRemoved {
                    channel: channel.as_str(),
                    user_id: &user_id,
                }
                .encode();
                for s in ch.subscribers.values() {
                    s.handle.send(removed.clone());
                }
            }
        }
        if ch.subscribers.is_empty() {
            shard.channels.remove(channel);
        }
        true
    }

    /// Hands the same encoded frame to every subscriber but `except`; on cache channels also
    /// keeps it as the last event. Returns how many subscribers it was queued for.
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
        let Some(ch) = shard.channels.get(channel) else {
            return 0;
        };
        let now = Instant::now();
        ch.subscribers
            .values()
            .filter(|s| Some(s.handle.socket_id) != except)
            .filter(|s| s.handle.send_published(frame.clone(), now))
            .count()
    }

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

    /// Occupied channels whose name starts with `prefix`, with their counts.
    pub fn list(&self, prefix: &str) -> Vec<(ChannelName, Counts)> {
        let mut out = Vec::new();
        for shard in self.all_shards() {
            for (name, ch) in &shard.channels {
                if name.as_str().starts_with(prefix) {
                    out.push((
                        name.clone(),
                        Counts {
                            subscriptions: ch.subscribers.len(),
                            users: ch.members.len(),
                        },
                    ));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The user ids of a presence channel's members.
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

    /// Occupied channels, subscriptions and presence members, for the metrics.
    pub fn stats(&self) -> Stats {
        let mut st = Stats::default();
        for shard in self.all_shards() {
            st.channels += shard.channels.len();
            for ch in shard.channels.values() {
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
