//! Pusher-compatible webhooks. The socket path reports what happened (`emit`), which only checks
//! whether any endpoint of the app wants it and hands it to a bounded buffer, never waiting. The
//! pipeline task (`pipeline.rs`) settles cluster-wide transitions (`occupancy.rs`), batches per
//! endpoint (`batch.rs`) and writes each batch to the durable queue (`queue.rs`, `sqlite.rs`);
//! the delivery task (`delivery.rs`) sends, retries and dead-letters from there.
//!
//! The queue is opened on first use (or at start when an earlier run left one), so a server
//! whose apps have no webhooks creates no file.

mod batch;
pub(crate) mod delivery;
mod occupancy;
mod pipeline;
pub mod queue;
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
use crate::config::{Config, WebhookSettings};
use crate::metrics::WebhookMetrics;
pub use occupancy::{LocalOccupancy, Occupancy, RedisOccupancy};
use queue::{Queue, QueueError};

/// What the pipeline is asked to do.
enum Command {
    Event {
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
    pub fn new(config: &Config, metrics: WebhookMetrics) -> Self {
        let (tx, rx) = mpsc::channel(config.webhooks.buffer);
        Self {
            inner: Arc::new(Inner {
                tx,
                rx: Mutex::new(Some(rx)),
                settings: config.webhooks.clone(),
                data_dir: config.data_dir.clone(),
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
        if !cfg.webhooks.iter().any(|e| e.wants(kind, channel)) {
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

    /// Starts the pipeline (and the delivery, if a queue is left from an earlier run).
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
            occupancy,
        };
        let mut tasks = vec![tokio::spawn(pipeline.run(rx))];
        if sqlite::SqliteQueue::exists(&self.inner.data_dir) {
            tasks.push(tokio::spawn(async move {
                if let Err(e) = this.queue(&apps).await {
                    tracing::error!(error = %e, "webhooks: cannot open the queue left by the last run");
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
                let q: Arc<dyn Queue> =
                    Arc::new(sqlite::SqliteQueue::open(&self.inner.data_dir).await?);
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
