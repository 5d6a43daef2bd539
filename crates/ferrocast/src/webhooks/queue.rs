//! The durable queue of webhook requests, behind a small trait: a request is kept from the moment
//! its batch is formed until its endpoint answers 2xx, or until it has used its attempts and is
//! moved to the dead-letter list (kept until replayed). Requests of one endpoint (app + URL) are
//! delivered in the order they were queued: only the oldest pending one is ever handed out.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

/// A queue operation's future.
pub type QueueFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, QueueError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue's storage failed; the message is for logs.
    #[error("webhook queue unavailable: {0}")]
    Unavailable(String),
}

/// A request to queue: the events (a JSON array) for one endpoint of one app. The body is
/// built and signed at each attempt, so `time_ms` is fresh and a rotated secret is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub app_id: String,
    pub url: String,
    pub events: String,
}

/// A queued request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub app_id: String,
    pub url: String,
    pub events: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// Unix milliseconds before which it is not tried again.
    pub due_ms: u64,
}

impl Job {
    /// The endpoint the request belongs to; requests of one endpoint go out in order.
    pub fn endpoint(&self) -> (String, String) {
        (self.app_id.clone(), self.url.clone())
    }
}

/// A request that failed every attempt, as the API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub id: i64,
    pub url: String,
    pub events: Box<serde_json::value::RawValue>,
    pub attempts: u32,
    pub last_error: String,
    /// Unix milliseconds of the last attempt.
    pub failed_at_ms: u64,
}

/// Where webhook requests wait. Contract: `heads` returns, for every endpoint with pending
/// requests, its oldest one (whatever its due time), so a request never overtakes an older one
/// of the same endpoint; `retry` and `bury` update or move only that request; `replay` puts dead
/// letters back at the end of their endpoint's line with their attempts reset.
pub trait Queue: Send + Sync + 'static {
    fn push(&self, jobs: Vec<NewJob>) -> QueueFuture<'_, ()>;
    fn heads(&self) -> QueueFuture<'_, Vec<Job>>;
    fn delivered(&self, id: i64) -> QueueFuture<'_, ()>;
    fn retry<'a>(&'a self, id: i64, due_ms: u64, error: &'a str) -> QueueFuture<'a, ()>;
    fn bury<'a>(&'a self, id: i64, error: &'a str) -> QueueFuture<'a, ()>;
    fn dead_letters<'a>(&'a self, app_id: &'a str) -> QueueFuture<'a, Vec<DeadLetter>>;
    /// Replays the app's dead letters (`ids`, or all of them); returns how many.
    fn replay<'a>(&'a self, app_id: &'a str, ids: Option<&'a [i64]>) -> QueueFuture<'a, usize>;
}
