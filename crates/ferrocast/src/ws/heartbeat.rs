//! Keep-alive decisions for one connection, with time passed in: ping a client after
//! `activity_timeout` of silence, close with 4201 if no pong follows within `pong_timeout`, and
//! close with 4202 a connection that exchanged nothing but keep-alives for `idle_timeout`.

use ferrocast_protocol::ErrorCode;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(super) struct Heartbeat {
    activity: Duration,
    pong: Duration,
    idle: Duration,
    last_seen: Instant,
    last_message: Instant,
    ping_sent: Option<Instant>,
}

/// What the connection must do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Due {
    Nothing,
    SendPing,
    Close(ErrorCode),
}

impl Heartbeat {
    pub(super) fn new(activity: Duration, pong: Duration, idle: Duration, now: Instant) -> Self {
        Self {
            activity,
            pong,
            idle,
            last_seen: now,
            last_message: now,
            ping_sent: None,
        }
    }

    /// Any frame from the client proves it is alive; only real messages count against idleness.
    pub(super) fn on_frame(&mut self, now: Instant, keepalive_only: bool) {
        self.last_seen = now;
        self.ping_sent = None;
        if !keepalive_only {
            self.last_message = now;
        }
    }

    /// When `poll` next has something to do.
    pub(super) fn next_deadline(&self) -> Instant {
        let liveness = match self.ping_sent {
            Some(at) => at + self.pong,
            None => self.last_seen + self.activity,
        };
        liveness.min(self.last_message + self.idle)
    }

    pub(super) fn poll(&mut self, now: Instant) -> Due {
        if now >= self.last_message + self.idle {
            return Due::Close(ErrorCode::ClosedAfterInactivity);
        }
        match self.ping_sent {
            Some(at) if now >= at + self.pong => Due::Close(ErrorCode::PongNotReceived),
            Some(_) => Due::Nothing,
            None if now >= self.last_seen + self.activity => {
                self.ping_sent = Some(now);
                Due::SendPing
            }
            None => Due::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn pings_after_silence_then_closes_without_pong() {
        let t0 = Instant::now();
        let mut h = Heartbeat::new(10 * S, 3 * S, 1000 * S, t0);
        assert_eq!(h.poll(t0 + 9 * S), Due::Nothing);
        assert_eq!(h.next_deadline(), t0 + 10 * S);
        assert_eq!(h.poll(t0 + 10 * S), Due::SendPing);
        assert_eq!(h.next_deadline(), t0 + 13 * S);
        assert_eq!(h.poll(t0 + 12 * S), Due::Nothing);
        assert_eq!(h.poll(t0 + 13 * S), Due::Close(ErrorCode::PongNotReceived));
    }

    #[test]
    fn a_pong_resets_the_clock() {
        let t0 = Instant::now();
        let mut h = Heartbeat::new(10 * S, 3 * S, 1000 * S, t0);
        assert_eq!(h.poll(t0 + 10 * S), Due::SendPing);
        h.on_frame(t0 + 11 * S, true);
        assert_eq!(h.poll(t0 + 14 * S), Due::Nothing);
        assert_eq!(h.poll(t0 + 21 * S), Due::SendPing);
    }

    #[test]
    fn keepalives_alone_do_not_prevent_the_idle_close() {
        let t0 = Instant::now();
        let mut h = Heartbeat::new(10 * S, 3 * S, 30 * S, t0);
        h.on_frame(t0 + 20 * S, true);
        assert_eq!(
            h.poll(t0 + 30 * S),
            Due::Close(ErrorCode::ClosedAfterInactivity)
        );
        let mut h = Heartbeat::new(10 * S, 3 * S, 30 * S, t0);
        h.on_frame(t0 + 20 * S, false);
        assert_eq!(h.poll(t0 + 30 * S), Due::SendPing);
    }
}
