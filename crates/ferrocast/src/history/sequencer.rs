//! Publishing on history channels, in order. Appending to the store and fanning out must
//! happen in the same order for every event of a channel, or subscribers would see offsets out
//! of order; so each channel is served by one of a few lanes (a queue and a task), chosen by
//! hashing the app and channel, and a lane appends then fans out one event at a time.

use bytes::Bytes;
use ferrocast_protocol::stream::with_position;
use ferrocast_protocol::{ChannelName, ErrorCode, ServerMessage, SocketId};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{mpsc, oneshot};

use super::store::{random_id, Append, HistoryError, HistoryStore, Position, Retention, StreamKey};
use crate::apps::App;
use crate::channels::CachedEvent;
use crate::cluster::Cluster;
use crate::frame::Frame;
use crate::outbox::SessionHandle;

/// Lanes per node: enough that one busy channel does not hold up many others.
const LANES: usize = 16;
/// Events waiting per lane; a client event beyond it is refused, an API publish waits.
const LANE_QUEUE: usize = 1024;
/// Queued events appended together at most (one transaction, one sync to disk, in SQLite).
const MAX_GROUP: usize = 64;

/// One event for one channel: its frame encoded once, without the position.
#[derive(Debug)]
pub struct Publish {
    pub app: Arc<App>,
    pub channel: ChannelName,
    pub frame: Bytes,
    pub except: Option<SocketId>,
    /// On cache channels, the cached event; its frame is replaced by the positioned one.
    pub cache: Option<CachedEvent>,
}

/// Who hears how an append went.
#[derive(Debug)]
pub(super) enum Done {
    /// An API request awaiting the outcome.
    Wait(oneshot::Sender<Result<(), HistoryError>>),
    /// A client event: a failure is told to the sender as `pusher:error` 4301.
    Tell(SessionHandle),
}

#[derive(Debug)]
pub(super) struct Job {
    pub publish: Publish,
    pub retention: Retention,
    pub done: Done,
}

pub(super) struct Lanes {
    senders: Vec<mpsc::Sender<Job>>,
    receivers: Mutex<Vec<mpsc::Receiver<Job>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Lanes {
    pub(super) fn new() -> Self {
        let (senders, receivers) = (0..LANES).map(|_| mpsc::channel(LANE_QUEUE)).unzip();
        Self {
            senders,
            receivers: Mutex::new(receivers),
            hasher: Default::default(),
        }
    }

    pub(super) fn lane(&self, app: &str, channel: &str) -> &mpsc::Sender<Job> {
        let i = (self.hasher.hash_one((app, channel)) as usize) % self.senders.len();
        &self.senders[i]
    }

    /// Starts one task per lane; only the first call starts anything.
    pub(super) fn start(
        &self,
        store: &Arc<dyn HistoryStore>,
        cluster: &Arc<Cluster>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let receivers = std::mem::take(
            &mut *self
                .receivers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        receivers
            .into_iter()
            .map(|rx| tokio::spawn(run(store.clone(), cluster.clone(), rx)))
            .collect()
    }
}

async fn run(store: Arc<dyn HistoryStore>, cluster: Arc<Cluster>, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = rx.recv().await {
        // What queued up behind the first job is appended with it, in one write to the store.
        jobs.push(first);
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let ids: Vec<String> = jobs.iter().map(|_| random_id()).collect();
        let items: Vec<Append<'_>> = jobs
            .iter()
            .zip(&ids)
            .map(|(job, id)| Append {
                key: StreamKey {
                    app: &job.publish.app.id,
                    channel: job.publish.channel.as_str(),
                },
                retention: job.retention,
                id,
                body: job.publish.frame.clone(),
            })
            .collect();
        let positions = store.append_many(&items, crate::clock::unix_now_ms()).await;
        drop(items);
        for ((job, id), pos) in jobs.drain(..).zip(&ids).zip(positions) {
            let result = match pos {
                Ok(pos) => {
                    publish(&cluster, job.publish, id, &pos);
                    Ok(())
                }
                Err(e) => {
                    let p = &job.publish;
                    tracing::warn!(app = %p.app.id, channel = %p.channel, error = %e, "history append failed; event not delivered");
                    p.app.metrics.history_append_failures.increment(1);
                    Err(e)
                }
            };
            match job.done {
                Done::Wait(tx) => {
                    let _ = tx.send(result);
                }
                Done::Tell(handle) => {
                    if let Err(e) = result {
                        handle.send(Frame::encode(&ServerMessage::Error {
                            code: ErrorCode::ClientEventRejected,
                            message: &e.to_string(),
                        }));
                    }
                }
            }
        }
    }
}

/// Fans out a stored event with its position spliced in, in the order it was appended.
fn publish(cluster: &Cluster, p: Publish, id: &str, pos: &Position) {
    let frame = with_position(&p.frame, id, &pos.epoch, pos.offset);
    let cache = p.cache.map(|mut c| {
        c.frame = frame.clone();
        c
    });
    cluster.publish(&p.app, &p.channel, &frame, p.except, cache);
    p.app.metrics.history_appends.increment(1);
}
