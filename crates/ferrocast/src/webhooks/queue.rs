//! The durable queue of webhook requests, behind a small trait: a request is kept from the moment
//! its batch is formed until its endpoint answers 2xx, or until it has used its attempts and is
//! moved to the dead-letter list (kept until replayed). Requests of one endpoint (app + URL) are
//! delivered in the order they were queued: only the oldest pending one is ever handed out, and
//! in a shared queue to one node at a time. Implementations: `sqlite.rs` (one node) and
//! `redis_queue.rs` (shared by a cluster); both pass the one contract test below.

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
/// requests, its oldest one, so a request never overtakes an older one of the same endpoint —
/// every head not yet due (so the caller knows how long to wait), and every due head this node
/// may send now. A queue shared by several nodes hands a due head to one node at a time: it is
/// held for that node (a lease) until `delivered`, `retry` or `bury` records its outcome, or
/// until the lease runs out (the node died), and it is left out of other nodes' `heads` while
/// held; a queue of one node holds nothing. `retry` and `bury` update or move only that
/// request; `replay` puts dead letters back at the end of their endpoint's line with their
/// attempts reset.
pub trait Queue: Send + Sync + 'static {
    fn push(&self, jobs: Vec<NewJob>) -> QueueFuture<'_, ()>;
    fn heads(&self) -> QueueFuture<'_, Vec<Job>>;
    fn delivered(&self, id: i64) -> QueueFuture<'_, ()>;
    /// Records a failed attempt: due again at `due_ms`, or (without one) a dead letter.
    fn failed<'a>(&'a self, id: i64, due_ms: Option<u64>, error: &'a str) -> QueueFuture<'a, ()>;
    fn retry<'a>(&'a self, id: i64, due_ms: u64, error: &'a str) -> QueueFuture<'a, ()> {
        self.failed(id, Some(due_ms), error)
    }
    fn bury<'a>(&'a self, id: i64, error: &'a str) -> QueueFuture<'a, ()> {
        self.failed(id, None, error)
    }
    fn dead_letters<'a>(&'a self, app_id: &'a str) -> QueueFuture<'a, Vec<DeadLetter>>;
    /// Replays the app's dead letters (`ids`, or all of them); returns how many.
    fn replay<'a>(&'a self, app_id: &'a str, ids: Option<&'a [i64]>) -> QueueFuture<'a, usize>;
}

/// The contract every queue passes, one body run against each store.
#[cfg(test)]
pub(super) mod contract {
    use super::{Job, NewJob, Queue};
    use std::future::Future;

    fn job(url: &str, events: &str) -> NewJob {
        NewJob {
            app_id: "a".into(),
            url: url.into(),
            events: events.into(),
        }
    }

    /// `open` opens the same queue each time it is called (the second time after the first
    /// one was dropped: what was queued must still be there).
    pub(in crate::webhooks) async fn lines_stay_in_order_and_dead_letters_replay_at_the_end<
        F,
        Fut,
    >(
        open: F,
    ) where
        F: Fn() -> Fut,
        Fut: Future<Output = Box<dyn Queue>>,
    {
        let q = open().await;
        q.push(vec![job("http://x/1", "[1]"), job("http://x/2", "[2]")])
            .await
            .expect("push");
        q.push(vec![job("http://x/1", "[3]")]).await.expect("push");
        let heads = q.heads().await.expect("heads");
        let events: Vec<&str> = heads.iter().map(|j| j.events.as_str()).collect();
        assert_eq!(
            events,
            ["[1]", "[2]"],
            "one head per endpoint, oldest first"
        );
        q.retry(heads[0].id, 99, "HTTP 500").await.expect("retry");
        let again = q.heads().await.expect("heads");
        assert_eq!((again[0].attempts, again[0].due_ms), (1, 99));
        assert_eq!(again[0].events, "[1]", "a retried request keeps its place");
        q.bury(heads[0].id, "HTTP 500").await.expect("bury");
        let line_of_1 = |heads: Vec<Job>| heads.into_iter().find(|j| j.url == "http://x/1");
        let after = line_of_1(q.heads().await.expect("heads")).expect("line 1");
        assert_eq!(after.events, "[3]", "the next request of the line moves up");
        let dead = q.dead_letters("a").await.expect("dead");
        assert_eq!(dead.len(), 1);
        assert_eq!((dead[0].attempts, dead[0].events.get()), (2, "[1]"));
        assert_eq!(dead[0].last_error, "HTTP 500");
        assert!(q.dead_letters("b").await.expect("dead").is_empty());
        assert_eq!(q.replay("a", Some(&[12345])).await.expect("replay"), 0);
        assert_eq!(q.replay("b", None).await.expect("replay"), 0, "per app");
        assert_eq!(q.replay("a", None).await.expect("replay"), 1);
        assert!(q.dead_letters("a").await.expect("dead").is_empty());
        q.delivered(after.id).await.expect("delivered");
        let replayed = line_of_1(q.heads().await.expect("heads")).expect("line 1");
        assert_eq!(
            (replayed.events.as_str(), replayed.attempts),
            ("[1]", 0),
            "the replayed request is back, attempts reset"
        );
        drop(q);
        let reopened = open().await;
        assert_eq!(reopened.heads().await.expect("heads").len(), 2, "durable");
    }
}
