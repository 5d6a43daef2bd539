//! Channel history and gap-free recovery (docs/history.md). Channels matching one of an app's
//! history rules keep their events in a `HistoryStore` (`store.rs`: SQLite `sqlite.rs`, Redis
//! `redis_store.rs`, memory `memory.rs`); each stored event gets a position (epoch, offset) and an
//! id, delivered as extra fields of its frame. Publishing on such channels goes through
//! `sequencer.rs` (append, then fan out, in order); subscribing through `recovery.rs` (replay
//! what the client missed, then live, with nothing lost or repeated); `idempotency.rs` drops
//! retried publishes. Other channels pass straight through to the cluster.

mod idempotency;
mod memory;
mod recovery;
mod redis_store;
mod sequencer;
mod sqlite;
pub mod store;

pub use idempotency::MAX_KEY_LEN as MAX_IDEMPOTENCY_KEY_LEN;
pub use memory::MemoryStore;
pub use recovery::Subscription;
pub use redis_store::RedisStore;
pub use sequencer::Publish;
pub use sqlite::SqliteStore;
pub use store::{
    Append, HistoryError, HistoryStore, Page, Position, Query, Retention, Stored, StreamKey,
};

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

use crate::apps::App;
use crate::cluster::Cluster;
use crate::config::{Config, HistoryStoreKind};
use crate::outbox::SessionHandle;
use idempotency::Idempotency;
use sequencer::{Done, Job, Lanes};

/// How often expired history is dropped from stores that keep it otherwise.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

pub struct History {
    store: Arc<dyn HistoryStore>,
    cluster: Arc<Cluster>,
    meta_ttl_ms: u64,
    lanes: Lanes,
    idempotency: Idempotency,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("store", &self.store.name())
            .finish_non_exhaustive()
    }
}

/// The parts of the history the configuration asks for, opened before the server starts.
pub struct Opened {
    store: Arc<dyn HistoryStore>,
    idempotency: Idempotency,
    meta_ttl_ms: u64,
}

/// Opens the configured store (creating `<data_dir>/history.db` for SQLite).
pub async fn open(config: &Config) -> Result<Opened, HistoryError> {
    let h = &config.history;
    let c = &config.cluster;
    let (store, redis): (Arc<dyn HistoryStore>, _) = match h.store {
        HistoryStoreKind::Sqlite => (
            Arc::new(sqlite::SqliteStore::open(&config.data_dir).await?),
            None,
        ),
        HistoryStoreKind::Memory => (Arc::new(MemoryStore::default()), None),
        HistoryStoreKind::Redis => {
            let client = redis::Client::open(c.redis_url.as_str())?;
            let conn = client.get_connection_manager_lazy(Default::default())?;
            (
                Arc::new(redis_store::RedisStore::new(&c.redis_url, &c.prefix)?),
                Some((conn, c.prefix.clone())),
            )
        }
    };
    if h.store == HistoryStoreKind::Sqlite && c.adapter != crate::config::AdapterKind::Local {
        tracing::warn!(
            "history.store = sqlite with a cluster adapter: each node numbers its own streams; \
             use history.store = redis so every node agrees"
        );
    }
    Ok(Opened {
        store,
        idempotency: Idempotency::new(Duration::from_secs(h.idempotency_window), redis),
        meta_ttl_ms: h.meta_ttl.saturating_mul(1000),
    })
}

impl Opened {
    /// An in-memory history, for tests and embedders.
    pub fn memory() -> Self {
        Self {
            store: Arc::new(MemoryStore::default()),
            idempotency: Idempotency::new(Duration::from_secs(300), None),
            meta_ttl_ms: 30 * 24 * 3600 * 1000,
        }
    }
}

impl History {
    pub fn new(opened: Opened, cluster: Arc<Cluster>) -> Arc<Self> {
        Arc::new(Self {
            store: opened.store,
            cluster,
            meta_ttl_ms: opened.meta_ttl_ms,
            lanes: Lanes::new(),
            idempotency: opened.idempotency,
        })
    }

    /// Starts the publishing lanes and the sweep of expired history.
    pub fn start(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = self.lanes.start(&self.store, &self.cluster);
        let (store, meta_ttl) = (self.store.clone(), self.meta_ttl_ms);
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            loop {
                tick.tick().await;
                if let Err(e) = store.sweep(crate::clock::unix_now_ms(), meta_ttl).await {
                    tracing::warn!(error = %e, "history sweep failed");
                }
            }
        }));
        tasks
    }

    pub fn store_name(&self) -> &'static str {
        self.store.name()
    }

    /// How much of `channel` is kept, if the app keeps its history.
    pub fn retention(&self, app: &App, channel: &str) -> Option<Retention> {
        app.config().history_rule(channel).map(|r| Retention {
            size: r.size,
            ttl_ms: r.ttl.saturating_mul(1000),
            meta_ttl_ms: self.meta_ttl_ms,
        })
    }

    /// Publishes one event on one channel: through the store on history channels (resolving
    /// once it is stored and fanned out), straight to the cluster on others.
    pub async fn publish(&self, p: Publish) -> Result<(), HistoryError> {
        let Some(retention) = self.retention(&p.app, p.channel.as_str()) else {
            self.cluster
                .publish(&p.app, &p.channel, &p.frame, p.except, p.cache);
            return Ok(());
        };
        let (tx, rx) = oneshot::channel();
        let lane = self.lanes.lane(&p.app.id, p.channel.as_str());
        let job = Job {
            publish: p,
            retention,
            done: Done::Wait(tx),
        };
        lane.send(job).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Publishes a client event without waiting; a failure to store it is told to `sender`.
    /// Refused at once when the channel's lane is full.
    pub fn publish_client_event(
        &self,
        p: Publish,
        sender: &SessionHandle,
    ) -> Result<(), HistoryError> {
        let Some(retention) = self.retention(&p.app, p.channel.as_str()) else {
            self.cluster
                .publish(&p.app, &p.channel, &p.frame, p.except, p.cache);
            return Ok(());
        };
        let lane = self.lanes.lane(&p.app.id, p.channel.as_str());
        let job = Job {
            publish: p,
            retention,
            done: Done::Tell(sender.clone()),
        };
        lane.try_send(job)
            .map_err(|_| HistoryError::Unavailable("history is busy; try again".into()))
    }

    /// Reads a channel's history (the HTTP API). Channels without history have none.
    pub async fn read(
        &self,
        app: &App,
        channel: &str,
        query: Query,
    ) -> Result<Option<Page>, HistoryError> {
        let Some(retention) = self.retention(app, channel) else {
            return Ok(None);
        };
        let key = StreamKey {
            app: &app.id,
            channel,
        };
        let now = crate::clock::unix_now_ms();
        self.store.read(key, retention, query, now).await.map(Some)
    }

    /// Claims an idempotency key of `app`: false when it was used within the window.
    pub async fn claim(&self, app: &str, key: &str) -> Result<bool, HistoryError> {
        self.idempotency.claim(app, key).await
    }

    /// Gives back a claimed key whose publish failed.
    pub async fn release(&self, app: &str, key: &str) {
        self.idempotency.release(app, key).await
    }
}

fn stopped() -> HistoryError {
    HistoryError::Unavailable("the server is stopping".into())
}
