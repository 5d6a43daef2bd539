//! Cluster-wide 0↔1 transitions for `channel_occupied`/`channel_vacated` and
//! `member_added`/`member_removed`: each node knows only its own sockets, so a node's first
//! subscriber of a channel (or a user's first socket in a presence channel) fires the event only
//! if no other node has one. With Redis, every key is a set of the nodes holding it, changed by
//! a Lua script so two nodes racing see one transition; without a shared store (one node, or
//! NATS) the node's own view is the cluster's.

use std::future::Future;
use std::pin::Pin;

use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

/// An occupancy check's future.
pub(super) type OccupancyFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who holds what, across the cluster.
pub trait Occupancy: Send + Sync + 'static {
    /// This node now holds `key`; whether no node held it before (the event fires).
    fn first<'a>(&'a self, key: &'a str) -> OccupancyFuture<'a, bool>;
    /// This node no longer holds `key`; whether no node holds it now (the event fires).
    fn last<'a>(&'a self, key: &'a str) -> OccupancyFuture<'a, bool>;
}

/// One node: its own view is the cluster's.
pub struct LocalOccupancy;

impl Occupancy for LocalOccupancy {
    fn first<'a>(&'a self, _: &'a str) -> OccupancyFuture<'a, bool> {
        Box::pin(async { true })
    }

    fn last<'a>(&'a self, _: &'a str) -> OccupancyFuture<'a, bool> {
        Box::pin(async { true })
    }
}

/// Adds this node to the key's set; 1 when the set was empty before.
const FIRST: &str = "if redis.call('SADD', KEYS[1], ARGV[1]) == 1 and \
    redis.call('SCARD', KEYS[1]) == 1 then return 1 else return 0 end";
/// Removes this node from the key's set; 1 when the set is empty now.
const LAST: &str = "if redis.call('SREM', KEYS[1], ARGV[1]) == 1 and \
    redis.call('SCARD', KEYS[1]) == 0 then return 1 else return 0 end";

/// Occupancy in Redis: key `{prefix}:occupancy:{key}` is the set of nodes holding `key`.
pub struct RedisOccupancy {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    prefix: String,
    node: u64,
}

impl RedisOccupancy {
    pub fn new(url: &str, prefix: &str, node: u64) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            conn: OnceCell::new(),
            prefix: prefix.to_owned(),
            node,
        })
    }

    /// Runs `script`; when Redis cannot answer, the event fires anyway (a duplicate is better
    /// than a lost event) and the failure is logged.
    async fn eval(&self, script: &str, key: &str) -> bool {
        let conn = self
            .conn
            .get_or_try_init(|| ConnectionManager::new(self.client.clone()))
            .await;
        let result: redis::RedisResult<i64> = match conn {
            Ok(c) => {
                redis::cmd("EVAL")
                    .arg(script)
                    .arg(1)
                    .arg(format!("{}:occupancy:{key}", self.prefix))
                    .arg(self.node)
                    .query_async(&mut c.clone())
                    .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(n) => n == 1,
            Err(e) => {
                tracing::warn!(error = %e, "webhooks: redis occupancy check failed; sending the event anyway");
                true
            }
        }
    }
}

impl Occupancy for RedisOccupancy {
    fn first<'a>(&'a self, key: &'a str) -> OccupancyFuture<'a, bool> {
        Box::pin(self.eval(FIRST, key))
    }

    fn last<'a>(&'a self, key: &'a str) -> OccupancyFuture<'a, bool> {
        Box::pin(self.eval(LAST, key))
    }
}
