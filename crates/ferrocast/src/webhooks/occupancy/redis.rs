//! Occupancy in Redis. Key `{prefix}:occupancy:{key}` is the set of nodes holding `key`;
//! `{prefix}:occupancy-node:{node}` the keys a node holds, `{prefix}:occupancy-nodes` the nodes
//! holding anything, and `{prefix}:occupancy-live:{node}` a node's liveness (expires after
//! `node_timeout_ms` unless refreshed each heartbeat). Lua scripts change the sets together, so
//! two nodes racing see one transition. A node without a liveness key is dead: one survivor
//! (whoever takes `{prefix}:occupancy-reap:{node}`) pops its keys in batches, and the keys that
//! become empty are returned for their last-events.
//!
//! Liveness lives in Redis rather than in the bus's view of the cluster so that the nodes of a
//! cluster restarted as a whole (none of which heard the old ones) still clean up after them.

use redis::aio::ConnectionManager;
use std::time::Duration;
use tokio::sync::Mutex;

use super::SharedStore;
use crate::adapter::RedisTarget;
use crate::config::ClusterConfig;
use std::future::Future;

/// Marks this node alive and holding `key`; 1 when no node held it before.
const FIRST: &str = "redis.call('SET', KEYS[4], '1', 'PX', ARGV[3]) \
    redis.call('SADD', KEYS[3], ARGV[1]) \
    redis.call('SADD', KEYS[2], ARGV[2]) \
    if redis.call('SADD', KEYS[1], ARGV[1]) == 1 and redis.call('SCARD', KEYS[1]) == 1 \
    then return 1 end return 0";

/// This node no longer holds `key`; 1 when no node holds it now.
const LAST: &str = "redis.call('SREM', KEYS[2], ARGV[2]) \
    if redis.call('SREM', KEYS[1], ARGV[1]) == 1 and redis.call('SCARD', KEYS[1]) == 0 \
    then return 1 end return 0";

/// The nodes holding something whose liveness key is gone.
const DEAD: &str = "local dead = {} \
    for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do \
    if redis.call('EXISTS', ARGV[1] .. n) == 0 then table.insert(dead, n) end end \
    return dead";

/// Removes dead node ARGV[1] from up to ARGV[3] of its keys. Answers a status ("alive": it came
/// back, stop; "more"; "done": nothing left, it no longer counts as a holder), then the keys that
/// are empty now. SPOP hands each key to one caller only, so each empty key is reported once
/// even if two reapers ran.
const REAP: &str = "if redis.call('EXISTS', KEYS[3]) == 1 then return {'alive'} end \
    local out = {'more'} \
    for _, k in ipairs(redis.call('SPOP', KEYS[1], ARGV[3])) do \
    local set = ARGV[2] .. k \
    if redis.call('SREM', set, ARGV[1]) == 1 and redis.call('SCARD', set) == 0 \
    then table.insert(out, k) end end \
    if redis.call('SCARD', KEYS[1]) == 0 then \
    redis.call('SREM', KEYS[2], ARGV[1]) out[1] = 'done' end \
    return out";

/// Keys one reap step handles.
const REAP_BATCH: usize = 100;

pub struct RedisOccupancy {
    target: RedisTarget,
    conn: Mutex<Option<ConnectionManager>>,
    prefix: String,
    node: u64,
    heartbeat: Duration,
    ttl_ms: u64,
}

impl RedisOccupancy {
    /// Occupancy on `cfg`'s Redis (URL, TLS, Sentinel, as the adapter connects).
    pub fn new(cfg: &ClusterConfig, node: u64) -> Result<Self, String> {
        Ok(Self {
            target: RedisTarget::new(cfg)?,
            conn: Mutex::new(None),
            prefix: cfg.prefix.clone(),
            node,
            heartbeat: Duration::from_millis(cfg.heartbeat_ms.max(10)),
            ttl_ms: cfg.node_timeout_ms.max(1),
        })
    }

    fn set_key(&self, key: &str) -> String {
        format!("{}:occupancy:{key}", self.prefix)
    }

    fn index_key(&self, node: &str) -> String {
        format!("{}:occupancy-node:{node}", self.prefix)
    }

    fn holders_key(&self) -> String {
        format!("{}:occupancy-nodes", self.prefix)
    }

    fn live_key(&self, node: &str) -> String {
        format!("{}:occupancy-live:{node}", self.prefix)
    }

    /// The connection, made on first use and again after a failure (so a Sentinel failover is
    /// followed).
    async fn conn(&self) -> redis::RedisResult<ConnectionManager> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = ConnectionManager::new(self.target.client().await?).await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Runs `cmd`; on failure forgets the connection so the next call looks the server up again.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        let result = match self.conn().await {
            Ok(mut c) => cmd.query_async(&mut c).await,
            Err(e) => Err(e),
        };
        if result.is_err() {
            *self.conn.lock().await = None;
        }
        result
    }

    async fn run_transition(&self, first: bool, key: &str) -> redis::RedisResult<bool> {
        let node = self.node.to_string();
        let mut cmd = redis::cmd("EVAL");
        if first {
            cmd.arg(FIRST)
                .arg(4)
                .arg(self.set_key(key))
                .arg(self.index_key(&node))
                .arg(self.holders_key())
                .arg(self.live_key(&node))
                .arg(&node)
                .arg(key)
                .arg(self.ttl_ms);
        } else {
            cmd.arg(LAST)
                .arg(2)
                .arg(self.set_key(key))
                .arg(self.index_key(&node))
                .arg(&node)
                .arg(key);
        }
        Ok(self.query::<i64>(&cmd).await? == 1)
    }

    async fn reap(&self, emptied: &mut Vec<String>) -> redis::RedisResult<()> {
        let me = self.node.to_string();
        self.query::<()>(
            redis::cmd("SET")
                .arg(self.live_key(&me))
                .arg(1)
                .arg("PX")
                .arg(self.ttl_ms),
        )
        .await?;
        let dead: Vec<String> = self
            .query(
                redis::cmd("EVAL")
                    .arg(DEAD)
                    .arg(1)
                    .arg(self.holders_key())
                    .arg(self.live_key("")),
            )
            .await?;
        for node in dead.iter().filter(|n| **n != me) {
            let lock = format!("{}:occupancy-reap:{node}", self.prefix);
            let took: Option<String> = self
                .query(
                    redis::cmd("SET")
                        .arg(&lock)
                        .arg(&me)
                        .arg("NX")
                        .arg("PX")
                        .arg(self.ttl_ms),
                )
                .await?;
            if took.is_none() {
                continue; // another node is reaping it
            }
            tracing::info!(node = %node, "webhooks: clearing the occupancy of a dead node");
            loop {
                let mut answer: Vec<String> = self
                    .query(
                        redis::cmd("EVAL")
                            .arg(REAP)
                            .arg(3)
                            .arg(self.index_key(node))
                            .arg(self.holders_key())
                            .arg(self.live_key(node))
                            .arg(node)
                            .arg(self.set_key(""))
                            .arg(REAP_BATCH),
                    )
                    .await?;
                let status = if answer.is_empty() {
                    String::new()
                } else {
                    answer.remove(0)
                };
                emptied.append(&mut answer);
                if status != "more" {
                    break;
                }
            }
            self.query::<()>(redis::cmd("DEL").arg(&lock)).await?;
        }
        Ok(())
    }
}

impl SharedStore for RedisOccupancy {
    const NAME: &'static str = "redis";
    type Error = redis::RedisError;

    fn transition(
        &self,
        first: bool,
        key: &str,
    ) -> impl Future<Output = redis::RedisResult<bool>> + Send {
        self.run_transition(first, key)
    }

    fn upkeep_into(
        &self,
        emptied: &mut Vec<String>,
    ) -> impl Future<Output = redis::RedisResult<()>> + Send {
        self.reap(emptied)
    }

    fn heartbeat(&self) -> Duration {
        self.heartbeat
    }
}
