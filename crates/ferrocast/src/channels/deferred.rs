//! Deferred subscriptions, so history recovery has no gap and no duplicate. A history
//! subscription joins the channel at once, but what the channel sends it is held instead of
//! queued; the history task then reads the store, sends subscription_succeeded and the replay,
//! and finally `finish_deferred` releases the held frames under the shard lock, dropping events
//! the replay already carried. Any event stored after the read was published after the join,
//! so it is among the held frames (or, from another node, still on its way over the bus: the
//! floor left on the subscriber drops it); any event stored before is in the read.

use ferrocast_protocol::stream::{position_of, Position, StreamInfo};
use ferrocast_protocol::{ChannelName, ErrorCode, SocketId};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::{Member, Refused, Registry, Subscribed, Subscriber};
use crate::frame::Frame;
use crate::outbox::SessionHandle;

/// Frames held for one deferred subscription at most; beyond, the client is a slow consumer.
const MAX_HELD: usize = 4096;

/// Names deferred subscriptions, so a task never finishes a later subscription of the same
/// socket to the same channel.
static TOKENS: AtomicU64 = AtomicU64::new(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A channel event (carries its stream position on history channels).
    Event,
    /// member_added / member_removed: the member list sent later already includes these.
    Member,
}

#[derive(Debug)]
pub(super) struct Pending {
    token: u64,
    held: Vec<(Kind, Frame)>,
}

/// The stream position of one frame, parsed at most once per fan-out, and only when a
/// subscriber has a floor to compare it with.
#[derive(Debug, Default)]
pub(super) struct FramePos(Option<Option<(String, u64)>>);

impl FramePos {
    fn get(&mut self, frame: &[u8]) -> Option<&(String, u64)> {
        self.0.get_or_insert_with(|| position_of(frame)).as_ref()
    }
}

impl Subscriber {
    /// Queues `frame` for the socket, or holds it while the subscription is deferred; drops an
    /// event at or below the subscriber's floor. Returns whether it was queued or held.
    pub(super) fn deliver(
        &mut self,
        kind: Kind,
        frame: Frame,
        now: Instant,
        pos: &mut FramePos,
    ) -> bool {
        if let (Kind::Event, Some(floor)) = (kind, &self.floor) {
            let seen = pos
                .get(frame.payload())
                .is_some_and(|(epoch, offset)| *epoch == floor.epoch && *offset <= floor.offset);
            if seen {
                return false;
            }
        }
        let Some(p) = &mut self.pending else {
            return self.handle.send_published(frame, now);
        };
        if p.held.len() >= MAX_HELD {
            self.handle.close(
                ErrorCode::OverCapacity,
                "Connection too slow: too many events during history recovery",
            );
            return false;
        }
        p.held.push((kind, frame));
        true
    }
}

impl Registry {
    /// Subscribes `handle` without sending anything yet. Returns the token of the deferred
    /// subscription, or `None` when the socket was already subscribed (a live subscription is
    /// sent subscription_succeeded again, as `subscribe` does; a deferred one will be).
    pub fn subscribe_deferred(
        &self,
        channel: &ChannelName,
        handle: &SessionHandle,
        member: Option<Member>,
        max_members: usize,
        now: Instant,
    ) -> Result<(Subscribed, Option<u64>), Refused> {
        let token = TOKENS.fetch_add(1, Ordering::Relaxed);
        let pending = Pending {
            token,
            held: Vec::new(),
        };
        let mut shard = self.shard(channel.as_str());
        let mut sub = Self::join(
            &mut shard,
            channel,
            handle,
            member,
            max_members,
            Some(pending),
        )?;
        sub.cache_miss = shard.cache_missing(channel, now);
        if !sub.again {
            return Ok((sub, Some(token)));
        }
        let live = shard
            .channels
            .get(channel)
            .and_then(|c| c.subscribers.get(&handle.socket_id))
            .is_some_and(|s| s.pending.is_none());
        if live {
            for frame in shard.welcome(channel, handle.socket_id, None, now) {
                handle.send(frame);
            }
        }
        Ok((sub, None))
    }

    /// The first frames of a deferred subscription (subscription_succeeded with `stream`, and
    /// the cached event on cache channels), built now so the member list is current; member
    /// changes held so far are dropped, as the list includes them. `None` when the subscription
    /// `token` is gone (unsubscribed, disconnected).
    pub fn deferred_welcome(
        &self,
        channel: &ChannelName,
        socket_id: SocketId,
        token: u64,
        stream: &StreamInfo<'_>,
        now: Instant,
    ) -> Option<Vec<Frame>> {
        let mut shard = self.shard(channel.as_str());
        let pending = shard
            .channels
            .get_mut(channel)?
            .subscribers
            .get_mut(&socket_id)?
            .pending
            .as_mut()
            .filter(|p| p.token == token)?;
        pending.held.retain(|(kind, _)| *kind == Kind::Event);
        Some(shard.welcome(channel, socket_id, Some(stream), now))
    }

    /// Makes `replayed` the subscription's floor, sends the held frames above it, and makes the
    /// subscription live. The floor stays: in a cluster, another node's event stored before the
    /// read may still be on its way over the bus. Returns false when the subscription is gone.
    pub fn finish_deferred(
        &self,
        channel: &ChannelName,
        socket_id: SocketId,
        token: u64,
        replayed: Option<&Position>,
    ) -> bool {
        let mut shard = self.shard(channel.as_str());
        let Some(sub) = shard
            .channels
            .get_mut(channel)
            .and_then(|c| c.subscribers.get_mut(&socket_id))
        else {
            return false;
        };
        if sub.pending.as_ref().is_none_or(|p| p.token != token) {
            return false;
        }
        let Some(pending) = sub.pending.take() else {
            return false;
        };
        sub.floor = replayed.cloned();
        let now = Instant::now();
        for (kind, frame) in pending.held {
            sub.deliver(kind, frame, now, &mut FramePos::default());
        }
        true
    }
}
