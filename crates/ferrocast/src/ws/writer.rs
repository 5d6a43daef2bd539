//! The writing half of a connection: a task that owns the socket's write half and drains the
//! outbox. Queued items are whole frames, framed once by whoever published them; the writer
//! gathers what is queued (up to `MAX_BATCH`) into one vectored write and copies nothing. It is a
//! task of its own so that an outgoing frame wakes only the writer: when reads and writes shared
//! one `select!`, every delivery also re-polled the read side, and tungstenite zero-filled its
//! read buffer before each read that found nothing (40 % of user-space instructions in the
//! fan-out profile, bench/profile.md).

use bytes::{Buf, Bytes};
use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

use super::wire::WriteSide;
use crate::frame::Frame;
use crate::metrics::AppMetrics;
use crate::outbox::Outgoing;

/// Frames gathered into one write at most (tokio hands at most 64 slices to `writev`), so one
/// busy socket cannot hold the writer for long.
const MAX_BATCH: usize = 64;

/// Writes queued frames until told to stop, the queue closes or a write fails or times out.
/// When stopped it first writes what is queued already (the last events, the echo of a Close),
/// then gives the write half back so the session can write its closing frames; `None` when the
/// socket is no longer writable.
pub(super) async fn run(
    mut out: WriteSide,
    mut rx: mpsc::Receiver<Outgoing>,
    mut stop: oneshot::Receiver<()>,
    limit: Duration,
    metrics: Option<AppMetrics>,
) -> Option<WriteSide> {
    loop {
        let first = tokio::select! {
            biased;
            _ = &mut stop => {
                while let Ok(first) = rx.try_recv() {
                    write_batch(&mut out, first, &mut rx, limit, metrics.as_ref()).await.ok()?;
                }
                return Some(out);
            }
            first = rx.recv() => first?,
        };
        write_batch(&mut out, first, &mut rx, limit, metrics.as_ref())
            .await
            .ok()?;
    }
}

/// Writes `first` and whatever else is already queued, and records how long the oldest frame
/// waited since it was published.
async fn write_batch(
    out: &mut WriteSide,
    first: Outgoing,
    rx: &mut mpsc::Receiver<Outgoing>,
    limit: Duration,
    metrics: Option<&AppMetrics>,
) -> Result<(), ()> {
    let oldest = first.published_at;
    let mut batch = Batch::default();
    batch.push(first.wire);
    while batch.frames < MAX_BATCH {
        match rx.try_recv() {
            Ok(o) => batch.push(o.wire),
            Err(_) => break,
        }
    }
    let (frames, bytes) = (batch.frames as u64, batch.remaining() as u64);
    if !write_out(out, batch, limit).await {
        return Err(());
    }
    if let Some(metrics) = metrics {
        metrics.ws_messages_sent.increment(frames);
        metrics.ws_bytes_sent.increment(bytes);
        metrics
            .delivery_latency
            .record(oldest.elapsed().as_secs_f64());
    }
    Ok(())
}

/// Sends the last frames of a connection, in one write: an optional `pusher:error`, then a
/// Close with `code` and `reason`.
pub(super) async fn close(
    out: &mut WriteSide,
    limit: Duration,
    error: Option<Frame>,
    code: u16,
    reason: &str,
) {
    let mut batch = Batch::default();
    if let Some(frame) = error {
        batch.push(frame.into_wire());
    }
    batch.push(Frame::close(code, reason).into_wire());
    write_out(out, batch, limit).await;
}

/// Writes all of `batch` within `limit`; false when the socket failed or stayed full.
async fn write_out(out: &mut WriteSide, mut batch: Batch, limit: Duration) -> bool {
    let write = async {
        out.write_all_buf(&mut batch).await?;
        out.flush().await
    };
    matches!(tokio::time::timeout(limit, write).await, Ok(Ok(())))
}

/// Frames to write, in order, as one buffer to the socket. The first one is held inline, so
/// a lone frame (the usual case below saturation) needs no allocation.
#[derive(Default)]
struct Batch {
    head: Bytes,
    rest: VecDeque<Bytes>,
    frames: usize,
    remaining: usize,
}

impl Batch {
    fn push(&mut self, wire: Bytes) {
        if wire.is_empty() {
            return;
        }
        self.frames += 1;
        self.remaining += wire.len();
        if self.head.is_empty() && self.rest.is_empty() {
            self.head = wire;
        } else {
            self.rest.push_back(wire);
        }
    }
}

impl Buf for Batch {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        &self.head
    }

    fn advance(&mut self, mut cnt: usize) {
        self.remaining -= cnt;
        while cnt > 0 {
            if cnt < self.head.len() {
                self.head.advance(cnt);
                return;
            }
            cnt -= self.head.len();
            self.head = self.rest.pop_front().unwrap_or_default();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let chunks = std::iter::once(&self.head).chain(&self.rest);
        let mut n = 0;
        for (slot, chunk) in dst.iter_mut().zip(chunks.filter(|c| !c.is_empty())) {
            *slot = IoSlice::new(chunk);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_its_frames_in_order_however_it_is_advanced() {
        let parts: [&[u8]; 4] = [b"abc", b"", b"defgh", b"ij"];
        for step in 1..=10 {
            let mut batch = Batch::default();
            for p in parts {
                batch.push(Bytes::from_static(p));
            }
            assert_eq!(batch.frames, 3);
            let mut seen = Vec::new();
            while batch.has_remaining() {
                let mut slices = [IoSlice::new(&[]); 4];
                let n = batch.chunks_vectored(&mut slices);
                assert!(n >= 1 && slices[..n].iter().all(|s| !s.is_empty()));
                let take = step.min(batch.remaining());
                let mut left = take;
                for s in &slices[..n] {
                    let k = left.min(s.len());
                    seen.extend_from_slice(&s[..k]);
                    left -= k;
                }
                batch.advance(take);
            }
            assert_eq!(seen, b"abcdefghij", "step {step}");
        }
    }
}
