//! A `HistoryStore` in this process's memory: for tests and single nodes that need no restart
//! survival. Same semantics as the durable stores; the reference the store tests compare with.

use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use super::store::{
    random_id, HistoryFuture, HistoryStore, Page, Position, Query, Retention, Stored, StreamKey,
};

#[derive(Debug)]
struct Stream {
    epoch: String,
    last: u64,
    touched_ms: u64,
    messages: VecDeque<Stored>,
}

impl Stream {
    fn new(now_ms: u64) -> Self {
        Self {
            epoch: random_id(),
            last: 0,
            touched_ms: now_ms,
            messages: VecDeque::new(),
        }
    }

    fn trim(&mut self, r: Retention, now_ms: u64) {
        while self.messages.len() > r.size {
            self.messages.pop_front();
        }
        let oldest = now_ms.saturating_sub(r.ttl_ms);
        while self.messages.front().is_some_and(|m| m.time_ms < oldest) {
            self.messages.pop_front();
        }
    }
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    streams: Mutex<HashMap<(String, String), Stream>>,
}

impl MemoryStore {
    /// The stream of `key`, created (or started again) when missing or expired.
    fn with_stream<T>(
        &self,
        key: StreamKey<'_>,
        r: Retention,
        now_ms: u64,
        f: impl FnOnce(&mut Stream) -> T,
    ) -> T {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        let k = (key.app.to_owned(), key.channel.to_owned());
        let stream = streams.entry(k).or_insert_with(|| Stream::new(now_ms));
        if stream.touched_ms.saturating_add(r.meta_ttl_ms) < now_ms {
            *stream = Stream::new(now_ms);
        }
        stream.trim(r, now_ms);
        f(stream)
    }
}

impl HistoryStore for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn sweep(&self, now_ms: u64, meta_ttl_ms: u64) -> HistoryFuture<'_, ()> {
        self.streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, s| s.touched_ms.saturating_add(meta_ttl_ms) >= now_ms);
        Box::pin(async { Ok(()) })
    }

    fn append<'a>(
        &'a self,
        key: StreamKey<'a>,
        retention: Retention,
        id: &'a str,
        body: Bytes,
        now_ms: u64,
    ) -> HistoryFuture<'a, Position> {
        let pos = self.with_stream(key, retention, now_ms, |s| {
            s.last += 1;
            s.touched_ms = now_ms;
            s.messages.push_back(Stored {
                offset: s.last,
                id: id.to_owned(),
                time_ms: now_ms,
                body,
            });
            s.trim(retention, now_ms);
            Position {
                epoch: s.epoch.clone(),
                offset: s.last,
            }
        });
        Box::pin(async move { Ok(pos) })
    }

    fn read<'a>(
        &'a self,
        key: StreamKey<'a>,
        retention: Retention,
        query: Query,
        now_ms: u64,
    ) -> HistoryFuture<'a, Page> {
        let page = self.with_stream(key, retention, now_ms, |s| {
            let admitted = s.messages.iter().filter(|m| query.admits(m));
            let messages: Vec<Stored> = if query.newest_first {
                admitted.rev().take(query.limit).cloned().collect()
            } else {
                admitted.take(query.limit).cloned().collect()
            };
            Page {
                position: Position {
                    epoch: s.epoch.clone(),
                    offset: s.last,
                },
                messages,
            }
        });
        Box::pin(async move { Ok(page) })
    }
}
