//! Pusher-compatible webhooks. The socket path reports what happened (`emit`), which only checks
//! whether any endpoint of the app wants it and hands it to a bounded buffer, never waiting. The
//! pipeline task (`pipeline.rs`) holds leaves for their grace period (`linger.rs`), settles
//! cluster-wide transitions (`occupancy/`, which also vacates what dead nodes held), batches per
//! endpoint (`batch.rs`) and writes each batch to the durable queue (`queue.rs`: `sqlite.rs` per
//! node, or `redis_queue.rs` shared by a cluster); the delivery task (`delivery.rs`) sends,
//! retries and dead-letters from there.
//!
//! The embedded queue is opened on first use (or at start when an earlier run left one), so a
//! server whose apps have no webhooks creates no file. The Redis queue is opened at start: other
//! nodes' requests (a dead node's among them) may be waiting in it.

mod batch;
pub(crate) mod delivery;
mod linger;
mod occupancy;
mod pipeline;
pub mod queue;
mod redis_queue;
mod report;
mod sqlite;

use ferrocast_protocol::webhook::{EventType, WebhookEvent};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::{mpsc, oneshot, Notify, OnceCell};

use crate::apps::{App, Apps};
use crate::clock::unix_now_ms;
use crate::cluster::Cluster;
use crate::config::{ClusterConfig, Config, WebhookQueueKind, WebhookSettings};
use crate::metrics::WebhookMetrics;
pub use occupancy::{
    open as open_occupancy, LocalOccupancy, NatsOccupancy, Occupancy, RedisOccupancy,
};
use queue::{Queue, QueueError};

/// What the pipeline is asked to do.
enum Command {
    Event {
        app_id: String,
        event: WebhookEvent,
    },
    /// An event already settled for the cluster (a dead node's last-events): routed as is.
    Settled {
        app_id: String,
        event: WebhookEvent,
    },
    /// Write every waiting batch to the queue, then answer.
    Flush(oneshot::Sender<()>),
}

/// The handle the socket path and the API hold (cheap to clone).
#[derive(Clone)]
pub struct Webhooks {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Command>,
    rx: Mutex<Option<mpsc::Receiver<Command>>>,
    settings: WebhookSettings,
    data_dir: PathBuf,
    /// `Sqlite` or `Redis` (`webhooks.queue` resolved against the adapter).
    queue_kind: WebhookQueueKind,
    cluster: ClusterConfig,
    /// This node's cluster id: who holds a lease in the shared queue.
    node: u64,
    queue: OnceCell<Arc<dyn Queue>>,
    kick: Arc<Notify>,
    delivery: Mutex<Option<tokio::task::JoinHandle<()>>>,
    metrics: WebhookMetrics,
    /// Unix ms of the last "buffer full" warning, so an overload logs once a second.
    last_refusal_log: AtomicU64,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Webhooks")
    }
}

impl Webhooks {
    pub fn new(config: &Config, node: u64, metrics: WebhookMetrics) -> Self {
        let (tx, rx) = mpsc::channel(config.webhooks.buffer);
        Self {
            inner: Arc::new(Inner {
                tx,
                rx: Mutex::new(Some(rx)),
                settings: config.webhooks.clone(),
                data_dir: config.data_dir.clone(),
                queue_kind: config.webhooks.queue.resolve(config.cluster.adapter),
                cluster: config.cluster.clone(),
                node,
                queue: OnceCell::new(),
                kick: Arc::default(),
                delivery: Mutex::default(),
                metrics,
                last_refusal_log: AtomicU64::new(0),
            }),
        }
    }

    /// Reports an event of `kind` on `channel`; `make` builds it only if an endpoint of the app
    /// wants it. Never waits: when the buffer is full the event is refused, counted and logged.
    pub fn emit(
        &self,
        app: &App,
        kind: EventType,
        channel: &str,
        make: impl FnOnce() -> WebhookEvent,
    ) {
        let cfg = app.config();
        // The two sides of a transition go in together even when an endpoint wants only one:
        // the cluster-wide settling and the leave grace period need to see both.
        let partner = partner(kind);
        if !cfg
            .webhooks
            .iter()
            .any(|e| e.wants(kind, channel) || partner.is_some_and(|p| e.wants(p, channel)))
        {
            return;
        }
        let cmd = Command::Event {
            app_id: app.id.clone(),
            event: make(),
        };
        match self.inner.tx.try_send(cmd) {
            Ok(()) => self.inner.metrics.queued.increment(1),
            Err(_) => {
                self.inner.metrics.refused.increment(1);
                let now = unix_now_ms();
                let last = self.inner.last_refusal_log.load(Ordering::Relaxed);
                if now >= last + 1000
                    && self
                        .inner
                        .last_refusal_log
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    tracing::error!(
                        app = %app.id,
                        buffer = self.inner.settings.buffer,
                        "webhook buffer full: events are being refused (see ferrocast_webhook_events_total)"
                    );
                }
            }
        }
    }

    /// Hands the pipeline an event that stands for the cluster already; waits for room.
    async fn settled(&self, app_id: String, event: WebhookEvent) {
        let _ = self.inner.tx.send(Command::Settled { app_id, event }).await;
    }

    /// Starts the pipeline, the occupancy upkeep, and the delivery (with the shared queue, or
    /// when an earlier run left an embedded one).
    pub fn start(
        &self,
        apps: Arc<Apps>,
        cluster: Arc<Cluster>,
        occupancy: Arc<dyn Occupancy>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let Some(rx) = self
            .inner
            .rx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return Vec::new();
        };
        let this = self.clone();
        let pipeline = pipeline::Pipeline {
            webhooks: this.clone(),
            apps: apps.clone(),
            cluster,
            occupancy: occupancy.clone(),
        };
        let mut tasks = vec![
            tokio::spawn(pipeline.run(rx)),
            tokio::spawn(occupancy::run_upkeep(occupancy, this.clone(), apps.clone())),
        ];
        let left = sqlite::SqliteQueue::exists(&self.inner.data_dir);
        let waiting = match self.inner.queue_kind {
            WebhookQueueKind::Redis => {
                if left {
                    tracing::warn!(
                        data_dir = %self.inner.data_dir.display(),
                        "webhooks: the queue is in Redis; requests still in webhooks.db (an \
                         earlier run's embedded queue) are not sent: run once with \
                         webhooks.queue = \"sqlite\" until they are, then remove the file"
                    );
                }
                true
            }
            _ => left,
        };
        if waiting {
            tasks.push(tokio::spawn(async move {
                if let Err(e) = this.queue(&apps).await {
                    tracing::error!(error = %e, "webhooks: cannot open the queue");
                }
            }));
        }
        tasks
    }

    /// Writes every batch still waiting to the queue and stops delivering (shutdown); what is
    /// queued is sent by the next run.
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.tx.send(Command::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
        if let Some(task) = lock(&self.inner.delivery).take() {
            task.abort();
        }
    }

    /// The queue, opened (and its delivery started) on first use.
    async fn queue(&self, apps: &Arc<Apps>) -> Result<&Arc<dyn Queue>, QueueError> {
        self.inner
            .queue
            .get_or_try_init(|| async {
                let inner = &self.inner;
                let q: Arc<dyn Queue> = match inner.queue_kind {
                    WebhookQueueKind::Redis => Arc::new(redis_queue::RedisQueue::new(
                        &inner.cluster,
                        inner.node,
                        redis_queue::lease_for(inner.settings.timeout_ms),
                    )?),
                    _ => Arc::new(sqlite::SqliteQueue::open(&inner.data_dir).await?),
                };
                let delivery = delivery::Delivery {
                    queue: q.clone(),
                    apps: apps.clone(),
                    settings: self.inner.settings.clone(),
                    metrics: self.inner.metrics.clone(),
                    kick: self.inner.kick.clone(),
                    http: reqwest::Client::new(),
                };
                let task = tokio::spawn(Arc::new(delivery).run());
                *lock(&self.inner.delivery) = Some(task);
                Ok(q)
            })
            .await
    }

    /// The queue if it is open (the dead-letter API has nothing to show otherwise).
    pub fn open_queue(&self) -> Option<Arc<dyn Queue>> {
        self.inner.queue.get().cloned()
    }

    /// Wakes the delivery (new requests, replayed dead letters).
    pub fn kick(&self) {
        self.inner.kick.notify_one();
    }
}

/// The other side of a 0↔1 transition event type.
fn partner(kind: EventType) -> Option<EventType> {
    match kind {
        EventType::ChannelOccupied => Some(EventType::ChannelVacated),
        EventType::ChannelVacated => Some(EventType::ChannelOccupied),
        EventType::MemberAdded => Some(EventType::MemberRemoved),
        EventType::MemberRemoved => Some(EventType::MemberAdded),
        _ => None,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
