//! The `HistoryStore` trait and its data: a channel's stream is a generation (`epoch`) and an
//! offset counter; each stored message has the next offset, a unique id, the time it was
//! stored and its encoded frame without the position fields (`body`). A store assigns offsets
//! atomically (so every node of a cluster sharing it agrees), trims by size and age, and
//! answers range reads. Stores know nothing of channels' subscribers.

use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;

pub use ferrocast_protocol::stream::Position;

#[derive(Debug, Clone, thiserror::Error)]
pub enum HistoryError {
    #[error("history store unavailable: {0}")]
    Unavailable(String),
}

impl From<sqlx::Error> for HistoryError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unavailable(format!("sqlite: {e}"))
    }
}

impl From<redis::RedisError> for HistoryError {
    fn from(e: redis::RedisError) -> Self {
        Self::Unavailable(format!("redis: {e}"))
    }
}

pub type HistoryFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, HistoryError>> + Send + 'a>>;

/// The outcome of each message of an `append_many`, in order.
pub type AppendsFuture<'a> =
    Pin<Box<dyn Future<Output = Vec<Result<Position, HistoryError>>> + Send + 'a>>;

/// Which stream: one per (app, channel).
#[derive(Debug, Clone, Copy)]
pub struct StreamKey<'a> {
    pub app: &'a str,
    pub channel: &'a str,
}

/// How much of a stream is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Messages kept; older ones are dropped on append.
    pub size: usize,
    /// Milliseconds a message is kept.
    pub ttl_ms: u64,
    /// Milliseconds the stream's epoch and counter outlive its last append.
    pub meta_ttl_ms: u64,
}

/// One message to append: which stream, how much of it to keep, and the message.
#[derive(Debug, Clone)]
pub struct Append<'a> {
    pub key: StreamKey<'a>,
    pub retention: Retention,
    pub id: &'a str,
    pub body: Bytes,
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub offset: u64,
    pub id: String,
    /// Unix milliseconds when it was stored.
    pub time_ms: u64,
    /// The encoded event frame, without `id`/`epoch`/`offset`.
    pub body: Bytes,
}

impl Stored {
    /// The frame as delivered: the body with its position fields.
    pub fn frame(&self, epoch: &str) -> Bytes {
        ferrocast_protocol::stream::with_position(&self.body, &self.id, epoch, self.offset)
    }
}

/// Which messages a read wants. Offsets and times are inclusive bounds; messages past their
/// TTL are never returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Query {
    pub from_offset: Option<u64>,
    pub to_offset: Option<u64>,
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    /// At most this many; 0 reads only the position.
    pub limit: usize,
    /// Newest first instead of oldest first.
    pub newest_first: bool,
}

impl Query {
    /// Whether a message is inside the bounds (the TTL is the store's business).
    pub fn admits(&self, m: &Stored) -> bool {
        self.from_offset.is_none_or(|o| m.offset >= o)
            && self.to_offset.is_none_or(|o| m.offset <= o)
            && self.from_ms.is_none_or(|t| m.time_ms >= t)
            && self.to_ms.is_none_or(|t| m.time_ms <= t)
    }
}

/// A read's answer: the stream's current position (a stream that did not exist is created, so
/// there always is one) and the messages asked for, in the order asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub position: Position,
    pub messages: Vec<Stored>,
}

/// Storage of channel streams.
pub trait HistoryStore: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// Stores `body` as the stream's next message and returns its position. Starts a new epoch
    /// when the stream does not exist (never written, or its metadata expired).
    fn append<'a>(
        &'a self,
        key: StreamKey<'a>,
        retention: Retention,
        id: &'a str,
        body: Bytes,
        now_ms: u64,
    ) -> HistoryFuture<'a, Position>;

    /// Appends several messages in order, each with its own outcome. Stores that can make them
    /// one write (one transaction, one sync to disk) do; by default it is one `append` after
    /// another.
    fn append_many<'a>(&'a self, items: &'a [Append<'a>], now_ms: u64) -> AppendsFuture<'a> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(items.len());
            for a in items {
                out.push(
                    self.append(a.key, a.retention, a.id, a.body.clone(), now_ms)
                        .await,
                );
            }
            out
        })
    }

    /// Drops what has expired everywhere (messages past their TTL, streams idle past
    /// `meta_ttl_ms`), for streams nobody writes to again. Stores whose data expires by itself
    /// need not.
    fn sweep(&self, _now_ms: u64, _meta_ttl_ms: u64) -> HistoryFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    /// The stream's position and the messages `query` asks for.
    fn read<'a>(
        &'a self,
        key: StreamKey<'a>,
        retention: Retention,
        query: Query,
        now_ms: u64,
    ) -> HistoryFuture<'a, Page>;
}

/// A fresh random epoch or message id: 16 hex digits.
pub fn random_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}
