//! Occupancy in NATS JetStream KV, two buckets named after the cluster prefix (sanitised to
//! `[A-Za-z0-9_-]`):
//! - `{prefix}_occupancy`: per key (escaped to a valid KV key) the nodes holding it, as decimal
//!   ids separated by spaces; changed by compare-and-set on the entry's revision, retried on
//!   conflict, so two nodes racing see one transition. An empty set is deleted. The key
//!   `nodes` (no escaped key looks like it: they all hold `=20`) is the set of nodes that may
//!   hold something, kept the same way.
//! - `{prefix}_occupancy_live` (in memory, `max_age` = `node_timeout_ms`): a node's liveness,
//!   refreshed every heartbeat, and the reap locks (`reap.{node}`), which expire the same way.
//!
//! A listed node with no liveness entry is dead: one survivor takes its reap lock, reads the
//! last value of every key, removes the dead node where it appears, and reports the keys that
//! became empty. Without a per-node index this costs one pass over the bucket per dead node,
//! which keeps the hot path to one read and one conditional write, and a heartbeat's upkeep
//! to a write and a few direct reads (no consumer is made until a node dies).
//!
//! When JetStream cannot be set up as the node starts (not enabled, not reachable), the failure
//! is logged once and this node decides per node, as without a shared store, until restarted.

use async_nats::jetstream::kv::{self, Operation, Store};
use async_nats::jetstream::stream::{self, StorageType};
use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::OnceCell;

use super::SharedStore;
use crate::adapter::nats_connect_options;
use crate::config::ClusterConfig;
use std::future::Future;

/// Compare-and-set attempts before giving up on a contended key.
const MAX_ATTEMPTS: usize = 100;
/// How long setting up the buckets, or one step of a scan, may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// Keys reaped between two checks that the dead node has not come back.
const LIVENESS_CHECK_EVERY: usize = 100;

#[derive(Debug, thiserror::Error)]
pub(crate) enum KvError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("cannot open bucket {bucket}: {message}")]
    Bucket { bucket: String, message: String },
    #[error("read failed: {0}")]
    Read(#[from] kv::EntryError),
    #[error("write failed: {0}")]
    Write(#[from] kv::UpdateError),
    #[error("write failed: {0}")]
    Put(#[from] kv::PutError),
    #[error("scan failed: {0}")]
    Scan(String),
    #[error("key still contended after {MAX_ATTEMPTS} attempts")]
    Contended,
}

/// The key of the node set in the keys bucket.
const NODES_KEY: &str = "nodes";

struct Buckets {
    keys: Store,
    live: Store,
}

pub struct NatsOccupancy {
    url: String,
    bucket: String,
    node: u64,
    heartbeat: Duration,
    ttl: Duration,
    /// Set up once, on first use; `None` when JetStream was unavailable then.
    buckets: OnceCell<Option<Buckets>>,
}

/// How a compare-and-set changed a key's node set.
struct Change {
    changed: bool,
    was_empty: bool,
    is_empty: bool,
}

impl NatsOccupancy {
    pub fn new(cfg: &ClusterConfig, node: u64) -> Self {
        Self {
            url: cfg.nats_url.clone(),
            bucket: bucket_name(&cfg.prefix),
            node,
            heartbeat: Duration::from_millis(cfg.heartbeat_ms.max(10)),
            ttl: Duration::from_millis(cfg.node_timeout_ms.max(1)),
            buckets: OnceCell::new(),
        }
    }

    async fn buckets(&self) -> Option<&Buckets> {
        self.buckets
            .get_or_init(|| async {
                match tokio::time::timeout(STEP_TIMEOUT, self.open()).await {
                    Ok(Ok(b)) => {
                        tracing::info!(bucket = %self.bucket, "webhooks: occupancy on NATS JetStream KV");
                        Some(b)
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "webhooks: JetStream KV unavailable; channel_occupied/vacated and member_added/removed are decided per node");
                        None
                    }
                    Err(_) => {
                        tracing::error!("webhooks: JetStream KV setup timed out; channel_occupied/vacated and member_added/removed are decided per node");
                        None
                    }
                }
            })
            .await
            .as_ref()
    }

    async fn open(&self) -> Result<Buckets, KvError> {
        let (address, options) = nats_connect_options(&self.url);
        let client = options
            .connect(address.as_str())
            .await
            .map_err(|e| KvError::Connect(e.to_string()))?;
        let js = async_nats::jetstream::new(client);
        // The bucket's stream is made here rather than by `create_key_value`, which first reads
        // the account info in a form NATS servers before 2.10 do not send.
        let bucket = |name: String, storage, max_age| {
            let js = js.clone();
            async move {
                let err = |e: &dyn std::fmt::Display| KvError::Bucket {
                    bucket: name.clone(),
                    message: e.to_string(),
                };
                js.create_or_update_stream(stream::Config {
                    name: format!("KV_{name}"),
                    subjects: vec![format!("$KV.{name}.>")],
                    max_messages_per_subject: 1,
                    max_age,
                    storage,
                    allow_rollup: true,
                    deny_delete: true,
                    allow_direct: true,
                    discard: stream::DiscardPolicy::New,
                    num_replicas: 1,
                    ..Default::default()
                })
                .await
                .map_err(|e| err(&e))?;
                js.get_key_value(name.as_str()).await.map_err(|e| err(&e))
            }
        };
        let b = Buckets {
            keys: bucket(self.bucket.clone(), StorageType::File, Duration::ZERO).await?,
            live: bucket(
                format!("{}_live", self.bucket),
                StorageType::Memory,
                self.ttl,
            )
            .await?,
        };
        // Alive and listed before holding anything, so no reaper takes this node for dead.
        self.mark_alive(&b).await?;
        Ok(b)
    }

    async fn mark_alive(&self, b: &Buckets) -> Result<(), KvError> {
        b.live.put(self.node.to_string(), Bytes::new()).await?;
        change(&b.keys, NODES_KEY, self.node, true).await?;
        Ok(())
    }

    /// A transition of this node on `key`; without JetStream, this node's view decides.
    async fn run_transition(&self, first: bool, key: &str) -> Result<bool, KvError> {
        let Some(b) = self.buckets().await else {
            return Ok(true);
        };
        let c = change(&b.keys, &escape(key), self.node, first).await?;
        Ok(c.changed && if first { c.was_empty } else { c.is_empty })
    }

    async fn reap(&self, emptied: &mut Vec<String>) -> Result<(), KvError> {
        let Some(b) = self.buckets().await else {
            return Ok(());
        };
        b.live.put(self.node.to_string(), Bytes::new()).await?;
        let listed = match b.keys.entry(NODES_KEY).await? {
            Some(e) if e.operation == Operation::Put => parse_set(&e.value),
            _ => BTreeSet::new(),
        };
        if !listed.contains(&self.node) {
            // Taken for dead during a pause and reaped: listed again for what it holds next.
            change(&b.keys, NODES_KEY, self.node, true).await?;
        }
        let mut dead = Vec::new();
        for &id in listed.iter().filter(|&&id| id != self.node) {
            if b.live.get(id.to_string()).await?.is_none() {
                dead.push(id);
            }
        }
        for id in dead {
            let node = id.to_string();
            let lock = format!("reap.{node}");
            if b.live
                .create(&lock, self.node.to_string().into())
                .await
                .is_err()
            {
                continue; // another node is reaping it (or the store is failing)
            }
            tracing::info!(node = %node, "webhooks: clearing the occupancy of a dead node");
            let held = held_by(&b.keys, id).await?;
            tracing::debug!(node = %node, held = held.len(), "webhooks: keys held by the dead node");
            for (i, key) in held.iter().enumerate() {
                if i % LIVENESS_CHECK_EVERY == 0 && b.live.get(&node).await?.is_some() {
                    break; // it came back
                }
                let c = change(&b.keys, key, id, false).await?;
                if c.changed && c.is_empty {
                    if let Some(k) = unescape(key) {
                        emptied.push(k);
                    }
                }
            }
            if b.live.get(&node).await?.is_none() {
                change(&b.keys, NODES_KEY, id, false).await?;
            }
            b.live.delete(&lock).await?;
        }
        Ok(())
    }
}

impl SharedStore for NatsOccupancy {
    const NAME: &'static str = "nats";
    type Error = KvError;

    fn transition(
        &self,
        first: bool,
        key: &str,
    ) -> impl Future<Output = Result<bool, KvError>> + Send {
        self.run_transition(first, key)
    }

    fn upkeep_into(
        &self,
        emptied: &mut Vec<String>,
    ) -> impl Future<Output = Result<(), KvError>> + Send {
        self.reap(emptied)
    }

    fn heartbeat(&self) -> Duration {
        self.heartbeat
    }
}

fn scan_err(e: impl std::fmt::Display) -> KvError {
    KvError::Scan(e.to_string())
}

/// The next item of a listing, within `STEP_TIMEOUT`.
async fn next<S, T, E>(stream: &mut S) -> Result<Option<T>, KvError>
where
    S: futures_util::Stream<Item = Result<T, E>> + Unpin,
    E: std::fmt::Display,
{
    match tokio::time::timeout(STEP_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(item))) => Ok(Some(item)),
        Ok(Some(Err(e))) => Err(scan_err(e)),
        Ok(None) => Ok(None),
        Err(_) => Err(KvError::Scan("timed out".into())),
    }
}

/// Adds (`add`) or removes `node` in the set of `key`, by compare-and-set on the revision.
async fn change(store: &Store, key: &str, node: u64, add: bool) -> Result<Change, KvError> {
    for _ in 0..MAX_ATTEMPTS {
        let (mut set, revision) = match store.entry(key).await? {
            Some(e) if e.operation == Operation::Put => (parse_set(&e.value), e.revision),
            Some(e) => (BTreeSet::new(), e.revision),
            None => (BTreeSet::new(), 0),
        };
        let was_empty = set.is_empty();
        let changed = if add {
            set.insert(node)
        } else {
            set.remove(&node)
        };
        let is_empty = set.is_empty();
        let outcome = Change {
            changed,
            was_empty,
            is_empty,
        };
        if !changed {
            return Ok(outcome);
        }
        let written = if is_empty {
            store.delete_expect_revision(key, Some(revision)).await
        } else {
            store
                .update(key, format_set(&set), revision)
                .await
                .map(drop)
        };
        match written {
            Ok(()) => return Ok(outcome),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(KvError::Contended)
}

/// The keys whose last value lists `node`.
async fn held_by(store: &Store, node: u64) -> Result<Vec<String>, KvError> {
    // A watch over an empty bucket would wait forever for its first entry.
    let info = store.stream.get_info().await.map_err(scan_err)?;
    if info.state.messages == 0 {
        return Ok(Vec::new());
    }
    let mut watch = store.watch_with_history(">").await.map_err(scan_err)?;
    let mut held = Vec::new();
    while let Some(entry) = next(&mut watch).await? {
        if entry.operation == Operation::Put
            && entry.key != NODES_KEY
            && parse_set(&entry.value).contains(&node)
        {
            held.push(entry.key);
        }
        if entry.delta == 0 {
            break;
        }
    }
    Ok(held)
}

fn parse_set(value: &[u8]) -> BTreeSet<u64> {
    String::from_utf8_lossy(value)
        .split(' ')
        .filter_map(|n| n.parse().ok())
        .collect()
}

fn format_set(set: &BTreeSet<u64>) -> Bytes {
    let ids: Vec<String> = set.iter().map(u64::to_string).collect();
    Bytes::from(ids.join(" "))
}

/// The bucket name for `prefix`: KV bucket names allow `[A-Za-z0-9_-]` only.
fn bucket_name(prefix: &str) -> String {
    let safe: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}_occupancy")
}

/// An occupancy key as a KV key: bytes outside `[A-Za-z0-9_-]` become `=XX` (hex).
fn escape(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    out
}

fn unescape(key: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(key.len());
    let mut rest = key.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'=' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_escape_and_come_back() {
        for key in [
            "app private-a.b;c=d@e,f",
            "app presence-room user with spaces é",
            "plain",
        ] {
            let escaped = escape(key);
            assert!(escaped
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b)));
            assert_eq!(unescape(&escaped).as_deref(), Some(key));
        }
        assert_eq!(unescape("bad=Z"), None);
    }

    #[test]
    fn bucket_names_are_sanitised() {
        assert_eq!(bucket_name("ferrocast"), "ferrocast_occupancy");
        assert_eq!(bucket_name("prod.eu:1"), "prod_eu_1_occupancy");
    }

    #[test]
    fn node_sets_round_trip() {
        let set: BTreeSet<u64> = [3, 1, 2].into();
        assert_eq!(parse_set(&format_set(&set)), set);
        assert!(parse_set(b"").is_empty());
    }
}
