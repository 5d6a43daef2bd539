//! Subscribing to a history channel. The socket joins the channel deferred (what the channel
//! sends it is held, see `channels/deferred.rs`), then a task reads the store and sends, in
//! order: subscription_succeeded with the stream position (and `recovered` when the client
//! asked to recover), the messages it missed, then the held live frames without those the
//! replay carried. A client with no position, or one that cannot be served (another epoch,
//! messages expired or evicted), gets no replay and `recovered: false`.

use ferrocast_protocol::stream::StreamInfo;
use ferrocast_protocol::ChannelName;
use std::sync::Arc;
use std::time::Instant;

use super::store::{Page, Position, Query, Retention, Stored, StreamKey};
use super::History;
use crate::apps::App;
use crate::channels::{Member, Refused, Subscribed};
use crate::frame::Frame;
use crate::outbox::SessionHandle;

/// A history subscription being set up.
pub struct Subscription<'a> {
    pub app: &'a Arc<App>,
    pub channel: &'a ChannelName,
    pub handle: &'a SessionHandle,
    pub member: Option<Member>,
    pub max_members: usize,
    pub retention: Retention,
    /// The client's last position, when it asked to recover.
    pub recover: Option<Position>,
}

/// What the subscriber is told and sent, decided from one read of the store.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    recovered: Option<bool>,
    /// The position the client is at once the replay is sent.
    position: Option<Position>,
    replay: Vec<Stored>,
}

/// Whether `page` (read from just after `from`) continues `from` without a gap.
fn plan(recover: Option<Position>, page: Page) -> Plan {
    let current = page.position;
    let Some(from) = recover else {
        return Plan {
            recovered: None,
            position: Some(current),
            replay: Vec::new(),
        };
    };
    let continues = from.epoch == current.epoch
        && from.offset <= current.offset
        && (from.offset == current.offset
            || page.messages.first().map(|m| m.offset) == Some(from.offset + 1));
    if !continues {
        return Plan {
            recovered: Some(false),
            position: Some(current),
            replay: Vec::new(),
        };
    }
    let last = page.messages.last().map_or(0, |m| m.offset);
    Plan {
        recovered: Some(true),
        position: Some(Position {
            offset: current.offset.max(last),
            epoch: current.epoch,
        }),
        replay: page.messages,
    }
}

impl History {
    /// Subscribes to a history channel; the replay and the switch to live happen in a task.
    pub fn subscribe(
        self: &Arc<Self>,
        s: Subscription<'_>,
        now: Instant,
    ) -> Result<Subscribed, Refused> {
        let (sub, token) =
            s.app
                .channels
                .subscribe_deferred(s.channel, s.handle, s.member, s.max_members, now)?;
        if let Some(token) = token {
            let task = Setup {
                app: s.app.clone(),
                channel: s.channel.clone(),
                handle: s.handle.clone(),
                token,
                retention: s.retention,
                recover: s.recover,
            };
            tokio::spawn(self.clone().set_up(task));
        }
        Ok(sub)
    }

    async fn set_up(self: Arc<Self>, t: Setup) {
        let key = StreamKey {
            app: &t.app.id,
            channel: t.channel.as_str(),
        };
        let query = Query {
            from_offset: t.recover.as_ref().map(|p| p.offset.saturating_add(1)),
            limit: if t.recover.is_some() {
                t.retention.size
            } else {
                0
            },
            ..Default::default()
        };
        let asked = t.recover.is_some();
        let plan = match self
            .store
            .read(key, t.retention, query, crate::clock::unix_now_ms())
            .await
        {
            Ok(page) => plan(t.recover, page),
            Err(e) => {
                tracing::warn!(app = %t.app.id, channel = %t.channel, error = %e, "history read failed; subscribing without recovery");
                Plan {
                    recovered: asked.then_some(false),
                    position: None,
                    replay: Vec::new(),
                }
            }
        };
        match plan.recovered {
            Some(true) => t.app.metrics.history_recovered.increment(1),
            Some(false) => t.app.metrics.history_not_recovered.increment(1),
            None => {}
        }
        let info = StreamInfo {
            recovered: plan.recovered,
            epoch: plan.position.as_ref().map(|p| p.epoch.as_str()),
            offset: plan.position.as_ref().map(|p| p.offset),
        };
        let sid = t.handle.socket_id;
        let Some(welcome) =
            t.app
                .channels
                .deferred_welcome(&t.channel, sid, t.token, &info, Instant::now())
        else {
            return;
        };
        for frame in welcome {
            if !t.handle.send_paced(frame).await {
                return;
            }
        }
        if let Some(p) = &plan.position {
            for m in &plan.replay {
                if !t.handle.send_paced(Frame::text(&m.frame(&p.epoch))).await {
                    return;
                }
            }
        }
        t.app
            .channels
            .finish_deferred(&t.channel, sid, t.token, plan.position.as_ref());
    }
}

struct Setup {
    app: Arc<App>,
    channel: ChannelName,
    handle: SessionHandle,
    token: u64,
    retention: Retention,
    recover: Option<Position>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn pos(epoch: &str, offset: u64) -> Position {
        Position {
            epoch: epoch.into(),
            offset,
        }
    }

    fn page(epoch: &str, last: u64, offsets: &[u64]) -> Page {
        Page {
            position: pos(epoch, last),
            messages: offsets
                .iter()
                .map(|&o| Stored {
                    offset: o,
                    id: format!("m{o}"),
                    time_ms: 0,
                    body: Bytes::from_static(b"{}"),
                })
                .collect(),
        }
    }

    #[test]
    fn recovery_needs_the_same_epoch_and_no_gap() {
        let p = plan(Some(pos("a", 3)), page("a", 5, &[4, 5]));
        assert_eq!((p.recovered, p.replay.len()), (Some(true), 2));
        assert_eq!(p.position, Some(pos("a", 5)));
        let p = plan(Some(pos("a", 5)), page("a", 5, &[]));
        assert_eq!((p.recovered, p.replay.len()), (Some(true), 0), "up to date");
        let p = plan(Some(pos("a", 1)), page("a", 5, &[4, 5]));
        assert_eq!(p.recovered, Some(false), "2 and 3 were evicted");
        assert!(p.replay.is_empty());
        let p = plan(Some(pos("a", 3)), page("a", 5, &[]));
        assert_eq!(p.recovered, Some(false), "4 and 5 expired");
        let p = plan(Some(pos("b", 3)), page("a", 5, &[4, 5]));
        assert_eq!(p.recovered, Some(false), "another epoch");
        let p = plan(Some(pos("a", 9)), page("a", 5, &[]));
        assert_eq!(p.recovered, Some(false), "an offset from the future");
        assert_eq!(p.position, Some(pos("a", 5)));
        let p = plan(None, page("a", 5, &[]));
        assert_eq!((p.recovered, p.position), (None, Some(pos("a", 5))));
    }
}
