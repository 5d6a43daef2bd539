//! Pusher's grace period for leaving: `channel_vacated` and `member_removed` wait `delay` before
//! they are settled and sent. If the same channel (or the same user in the same presence
//! channel) comes back on this node meanwhile, the leave and the return cancel out and neither
//! is sent, so a page reload or a quick reconnect does not tell the backend that the channel
//! emptied. Events of one key alternate (first, last, first, …) on a node, so a waiting leave
//! can only be cancelled by the next first of its key.

use ferrocast_protocol::webhook::WebhookEvent;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::occupancy::{channel_key, member_key};

/// Which side of a 0↔1 transition an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Edge {
    /// `channel_occupied`, `member_added`.
    First,
    /// `channel_vacated`, `member_removed`.
    Last,
}

/// The occupancy key of a transition event (see `occupancy::channel_key`), with its edge;
/// `None` for other events.
pub(super) fn transition(app_id: &str, event: &WebhookEvent) -> Option<(Edge, String)> {
    use WebhookEvent::*;
    match event {
        ChannelOccupied { channel } => Some((Edge::First, channel_key(app_id, channel))),
        ChannelVacated { channel } => Some((Edge::Last, channel_key(app_id, channel))),
        MemberAdded { channel, user_id } => {
            Some((Edge::First, member_key(app_id, channel, user_id)))
        }
        MemberRemoved { channel, user_id } => {
            Some((Edge::Last, member_key(app_id, channel, user_id)))
        }
        _ => None,
    }
}

/// Leaves waiting out the delay.
pub(super) struct Linger {
    delay: Duration,
    /// By occupancy key: the leave and its ticket (a key can leave, return and leave again, so
    /// the line may hold stale entries; only the ticket in `held` counts).
    held: HashMap<String, (u64, String, WebhookEvent)>,
    line: VecDeque<(Instant, String, u64)>,
    next_ticket: u64,
}

impl Linger {
    pub(super) fn new(delay: Duration) -> Self {
        Self {
            delay,
            held: HashMap::new(),
            line: VecDeque::new(),
            next_ticket: 0,
        }
    }

    /// Takes an event in. A leave is held (unless the delay is zero); a return that meets its
    /// held leave cancels both. Whatever is not held or cancelled comes back out at once.
    pub(super) fn admit(
        &mut self,
        app_id: String,
        event: WebhookEvent,
        now: Instant,
    ) -> Option<(String, WebhookEvent)> {
        let leave = matches!(
            event,
            WebhookEvent::ChannelVacated { .. } | WebhookEvent::MemberRemoved { .. }
        );
        // Nothing held means nothing for a return to cancel: skip building the key.
        if self.delay.is_zero() || (!leave && self.held.is_empty()) {
            return Some((app_id, event));
        }
        match transition(&app_id, &event) {
            Some((Edge::Last, key)) => {
                self.next_ticket += 1;
                self.line
                    .push_back((now + self.delay, key.clone(), self.next_ticket));
                self.held.insert(key, (self.next_ticket, app_id, event));
                None
            }
            Some((Edge::First, key)) if self.held.remove(&key).is_some() => None,
            _ => Some((app_id, event)),
        }
    }

    /// When the oldest held leave is due.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.line.front().map(|(at, _, _)| *at)
    }

    /// The leaves whose delay has passed, oldest first.
    pub(super) fn due(&mut self, now: Instant) -> Vec<(String, WebhookEvent)> {
        let mut out = Vec::new();
        while let Some((at, _, _)) = self.line.front() {
            if *at > now {
                break;
            }
            if let Some((_, key, ticket)) = self.line.pop_front() {
                if self.held.get(&key).is_some_and(|(t, _, _)| *t == ticket) {
                    if let Some((_, app_id, event)) = self.held.remove(&key) {
                        out.push((app_id, event));
                    }
                }
            }
        }
        out
    }

    /// Every held leave, oldest first, without waiting (shutdown: nobody will come back to
    /// this node).
    pub(super) fn drain(&mut self) -> Vec<(String, WebhookEvent)> {
        match self.line.back() {
            Some((last, _, _)) => self.due(*last),
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vacated(c: &str) -> WebhookEvent {
        WebhookEvent::ChannelVacated { channel: c.into() }
    }

    fn occupied(c: &str) -> WebhookEvent {
        WebhookEvent::ChannelOccupied { channel: c.into() }
    }

    fn removed(c: &str, u: &str) -> WebhookEvent {
        WebhookEvent::MemberRemoved {
            channel: c.into(),
            user_id: u.into(),
        }
    }

    #[test]
    fn a_leave_waits_and_a_quick_return_cancels_both() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut l = Linger::new(3 * s);
        assert_eq!(
            l.admit("a".into(), occupied("c"), t0),
            Some(("a".into(), occupied("c")))
        );
        assert_eq!(l.admit("a".into(), vacated("c"), t0), None, "held");
        assert_eq!(
            l.admit("b".into(), vacated("c"), t0 + s),
            None,
            "other app, held too"
        );
        assert_eq!(l.next_deadline(), Some(t0 + 3 * s));
        assert_eq!(
            l.admit("a".into(), occupied("c"), t0 + 2 * s),
            None,
            "cancelled"
        );
        assert_eq!(l.due(t0 + 3 * s), vec![], "app a's leave is gone");
        assert_eq!(l.due(t0 + 4 * s), vec![("b".into(), vacated("c"))]);
        // Leave, return, leave again: only the second leave is sent, on its own schedule.
        assert_eq!(l.admit("a".into(), removed("p", "u 1"), t0 + 5 * s), None);
        assert_eq!(
            l.admit(
                "a".into(),
                WebhookEvent::MemberAdded {
                    channel: "p".into(),
                    user_id: "u 1".into()
                },
                t0 + 6 * s
            ),
            None
        );
        assert_eq!(l.admit("a".into(), removed("p", "u 1"), t0 + 7 * s), None);
        assert_eq!(l.due(t0 + 8 * s), vec![]);
        assert_eq!(l.drain(), vec![("a".into(), removed("p", "u 1"))]);
        assert_eq!(l.next_deadline(), None);
    }

    #[test]
    fn zero_delay_passes_everything_through() {
        let mut l = Linger::new(Duration::ZERO);
        let now = Instant::now();
        assert_eq!(
            l.admit("a".into(), vacated("c"), now),
            Some(("a".into(), vacated("c")))
        );
        assert_eq!(l.next_deadline(), None);
    }
}
