//! The shared webhook queue: Redis, so every node of a cluster sees the same lines and dead
//! letters, and a node lost for good leaves its pending requests to the others. Keys share the
//! hash tag `{<prefix>:webhooks}` (one Redis Cluster slot, so each operation is one Lua script):
//! `…:next` numbers the requests (INCR), `…:job:<id>` is a request (hash), `…:line:<app> <url>`
//! an endpoint's line of ids (list, oldest first), `…:lines` the endpoints with a line (set),
//! `…:dead:<app>` an app's dead letters (sorted set, by id) and `…:lease:<app> <url>` the node
//! sending that endpoint's head now (its node id with a `PX` expiry, set only when free or
//! already its own; released by the outcome, else it expires).
//! Each script names `…:lines` as its key (which routes it to the tag's slot) and reaches the
//! other keys of the same tag by name. The connection is found through `RedisTarget` (TLS,
//! Sentinel), again after any failure.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Mutex;

use super::queue::{DeadLetter, Job, NewJob, Queue, QueueError, QueueFuture};
use crate::adapter::redis_target::RedisTarget;
use crate::clock::unix_now_ms;
use crate::config::ClusterConfig;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Shared by every script: KEYS[1] is the set of lines, ARGV[1] the hash-tagged key base.
const PRELUDE: &str = r"
local base = ARGV[1]
local function line(name) return base .. ':line:' .. name end
local function job(id) return base .. ':job:' .. id end
local function lease(name) return base .. ':lease:' .. name end
local function release(name, node)
  if redis.call('GET', lease(name)) == node then redis.call('DEL', lease(name)) end
end
local function enqueue(a, u, e, now)
  local id = redis.call('INCR', base .. ':next')
  local name = a .. ' ' .. u
  redis.call('HSET', job(id), 'a', a, 'u', u, 'e', e, 'n', 0, 'd', 0, 'x', '', 't', now)
  redis.call('RPUSH', line(name), id)
  redis.call('SADD', KEYS[1], name)
end
local function unline(id, name)
  redis.call('LREM', line(name), 1, id)
  if redis.call('EXISTS', line(name)) == 0 then redis.call('SREM', KEYS[1], name) end
end
";

/// ARGV[2] now, then (app, url, events) per request.
const PUSH: &str = r"
for i = 3, #ARGV, 3 do enqueue(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[2]) end
return 0
";

/// ARGV[2] node, [3] now, [4] lease ms → (id, app, url, events, attempts, due)* for each head
/// not yet due, or due and now leased to this node.
const HEADS: &str = r"
local out = {}
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local id = redis.call('LINDEX', line(name), 0)
  local j = id and redis.call('HMGET', job(id), 'a', 'u', 'e', 'n', 'd')
  if not id then
    redis.call('SREM', KEYS[1], name)
  elseif not j[1] then
    redis.call('LPOP', line(name))
  else
    local show = tonumber(j[5]) > tonumber(ARGV[3])
    if not show then
      local holder = redis.call('GET', lease(name))
      if not holder or holder == ARGV[2] then
        redis.call('SET', lease(name), ARGV[2], 'PX', ARGV[4])
        show = true
      end
    end
    if show then
      for _, v in ipairs({id, j[1], j[2], j[3], j[4], j[5]}) do out[#out + 1] = v end
    end
  end
end
return out
";

/// ARGV[2] node, [3] id.
const DELIVERED: &str = r"
local j = redis.call('HMGET', job(ARGV[3]), 'a', 'u')
if not j[1] then return 0 end
local name = j[1] .. ' ' .. j[2]
unline(ARGV[3], name)
redis.call('DEL', job(ARGV[3]))
release(name, ARGV[2])
return 1
";

/// ARGV[2] node, [3] id, [4] now, [5] error, [6] due ms, or empty to bury.
const FAILED: &str = r"
local j = redis.call('HMGET', job(ARGV[3]), 'a', 'u')
if not j[1] then return 0 end
local name = j[1] .. ' ' .. j[2]
redis.call('HINCRBY', job(ARGV[3]), 'n', 1)
redis.call('HSET', job(ARGV[3]), 'x', ARGV[5], 't', ARGV[4])
if ARGV[6] == '' then
  unline(ARGV[3], name)
  redis.call('ZADD', base .. ':dead:' .. j[1], ARGV[3], ARGV[3])
else
  redis.call('HSET', job(ARGV[3]), 'd', ARGV[6])
end
release(name, ARGV[2])
return 1
";

/// ARGV[2] app → (id, url, events, attempts, error, failed at)* oldest first.
const DEAD: &str = r"
local out = {}
for _, id in ipairs(redis.call('ZRANGE', base .. ':dead:' .. ARGV[2], 0, -1)) do
  local j = redis.call('HMGET', job(id), 'u', 'e', 'n', 'x', 't')
  if j[1] then
    for _, v in ipairs({id, j[1], j[2], j[3], j[4], j[5]}) do out[#out + 1] = v end
  end
end
return out
";

/// ARGV[2] app, [3] now, [4] `all` or `some`, then the ids → how many were replayed. Each gets
/// a new id, so it joins the end of its endpoint's line.
const REPLAY: &str = r"
local dead = base .. ':dead:' .. ARGV[2]
local wanted = {}
for i = 5, #ARGV do wanted[ARGV[i]] = true end
local n = 0
for _, old in ipairs(redis.call('ZRANGE', dead, 0, -1)) do
  if ARGV[4] == 'all' or wanted[old] then
    local j = redis.call('HMGET', job(old), 'a', 'u', 'e')
    redis.call('ZREM', dead, old)
    redis.call('DEL', job(old))
    if j[1] then enqueue(j[1], j[2], j[3], ARGV[3]) end
    n = n + 1
  end
end
return n
";

/// How long a node holds an endpoint while it sends the head: longer than an attempt may take
/// (`timeout_ms`), with room for recording the outcome, so a live node never loses it mid-send;
/// short enough that a dead node's endpoints move on soon.
pub(super) fn lease_for(timeout_ms: u64) -> Duration {
    Duration::from_millis(timeout_ms.saturating_mul(2).saturating_add(1000))
}

pub(super) struct RedisQueue {
    target: RedisTarget,
    conn: Mutex<Option<ConnectionManager>>,
    /// `{<prefix>:webhooks}`: the start of every key, hash tag included.
    base: String,
    /// Who holds a lease: this node's cluster id.
    node: String,
    lease_ms: u64,
}

fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(format!("redis: {e}"))
}

fn number<T: std::str::FromStr>(v: &str, what: &str) -> Result<T, QueueError> {
    v.parse()
        .map_err(|_| unavailable(format!("unexpected reply ({what} {v:?})")))
}

impl RedisQueue {
    /// The queue in the Redis of `cluster` (URL, TLS, Sentinel) under its prefix, for node
    /// `node`. Connects on first use: a Redis that is down fails operations, not the start.
    pub(super) fn new(
        cluster: &ClusterConfig,
        node: u64,
        lease: Duration,
    ) -> Result<Self, QueueError> {
        Ok(Self {
            target: RedisTarget::new(cluster).map_err(unavailable)?,
            conn: Mutex::new(None),
            base: format!("{{{}:webhooks}}", cluster.prefix),
            node: node.to_string(),
            lease_ms: u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, QueueError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = &*slot {
            return Ok(c.clone());
        }
        let client = self.target.client().await.map_err(unavailable)?;
        // Fail fast: the callers try again by themselves (the pipeline keeps its batches, the
        // delivery looks again), and a Redis that hangs must not hold the pipeline for long.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let c = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unavailable)?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Runs `PRELUDE` + `body` with `args` after the key base.
    async fn eval<T: redis::FromRedisValue>(
        &self,
        body: &str,
        args: Vec<String>,
    ) -> Result<T, QueueError> {
        let mut conn = self.connection().await?;
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(format!("{PRELUDE}{body}"))
            .arg(1)
            .arg(format!("{}:lines", self.base))
            .arg(&self.base)
            .arg(args);
        let result = cmd.query_async(&mut conn).await;
        if result.is_err() {
            // Find the server again next time: after a Sentinel failover the old one is a
            // replica, which refuses writes.
            *self.conn.lock().await = None;
        }
        result.map_err(unavailable)
    }

    async fn record_failure(
        &self,
        id: i64,
        due_ms: Option<u64>,
        error: &str,
    ) -> Result<(), QueueError> {
        let due = due_ms.map(|d| d.to_string()).unwrap_or_default();
        let args = vec![
            self.node.clone(),
            id.to_string(),
            unix_now_ms().to_string(),
            error.to_owned(),
            due,
        ];
        self.eval::<i64>(FAILED, args).await.map(drop)
    }
}

impl Queue for RedisQueue {
    fn push(&self, jobs: Vec<NewJob>) -> QueueFuture<'_, ()> {
        Box::pin(async move {
            let mut args = Vec::with_capacity(1 + 3 * jobs.len());
            args.push(unix_now_ms().to_string());
            for j in jobs {
                args.extend([j.app_id, j.url, j.events]);
            }
            self.eval::<i64>(PUSH, args).await.map(drop)
        })
    }

    fn heads(&self) -> QueueFuture<'_, Vec<Job>> {
        Box::pin(async move {
            let args = vec![
                self.node.clone(),
                unix_now_ms().to_string(),
                self.lease_ms.to_string(),
            ];
            let flat: Vec<String> = self.eval(HEADS, args).await?;
            let mut heads = flat
                .chunks_exact(6)
                .map(|f| {
                    Ok(Job {
                        id: number(&f[0], "id")?,
                        app_id: f[1].clone(),
                        url: f[2].clone(),
                        events: f[3].clone(),
                        attempts: number(&f[4], "attempts")?,
                        due_ms: number(&f[5], "due")?,
                    })
                })
                .collect::<Result<Vec<_>, QueueError>>()?;
            heads.sort_by_key(|j| j.id);
            Ok(heads)
        })
    }

    fn delivered(&self, id: i64) -> QueueFuture<'_, ()> {
        Box::pin(async move {
            let args = vec![self.node.clone(), id.to_string()];
            self.eval::<i64>(DELIVERED, args).await.map(drop)
        })
    }

    fn failed<'a>(&'a self, id: i64, due_ms: Option<u64>, error: &'a str) -> QueueFuture<'a, ()> {
        Box::pin(self.record_failure(id, due_ms, error))
    }

    fn dead_letters<'a>(&'a self, app_id: &'a str) -> QueueFuture<'a, Vec<DeadLetter>> {
        Box::pin(async move {
            let flat: Vec<String> = self.eval(DEAD, vec![app_id.to_owned()]).await?;
            flat.chunks_exact(6)
                .map(|f| {
                    Ok(DeadLetter {
                        id: number(&f[0], "id")?,
                        url: f[1].clone(),
                        events: serde_json::value::RawValue::from_string(f[2].clone())
                            .map_err(unavailable)?,
                        attempts: number(&f[3], "attempts")?,
                        last_error: f[4].clone(),
                        failed_at_ms: number(&f[5], "failed at")?,
                    })
                })
                .collect()
        })
    }

    fn replay<'a>(&'a self, app_id: &'a str, ids: Option<&'a [i64]>) -> QueueFuture<'a, usize> {
        Box::pin(async move {
            let mut args = vec![
                app_id.to_owned(),
                unix_now_ms().to_string(),
                if ids.is_some() { "some" } else { "all" }.to_owned(),
            ];
            args.extend(ids.unwrap_or_default().iter().map(i64::to_string));
            let n: i64 = self.eval(REPLAY, args).await?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::queue::contract;

    fn cluster(prefix: &str) -> ClusterConfig {
        ClusterConfig {
            prefix: prefix.to_owned(),
            ..ClusterConfig::default()
        }
    }

    fn unique_prefix(what: &str) -> String {
        format!(
            "fctest-whq-{what}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        )
    }

    /// Deletes every key of the queue under `prefix`.
    async fn clean(prefix: &str) {
        let client = redis::Client::open("redis://127.0.0.1:6379").expect("client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("redis");
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{{{prefix}:webhooks}}:*"))
            .query_async(&mut conn)
            .await
            .expect("keys");
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut conn)
                .await
                .expect("del");
        }
    }

    #[tokio::test]
    async fn the_queue_contract_holds_on_redis() {
        let prefix = unique_prefix("contract");
        let open = || async {
            let q = RedisQueue::new(&cluster(&prefix), 1, lease_for(5000)).expect("queue");
            Box::new(q) as Box<dyn Queue>
        };
        contract::lines_stay_in_order_and_dead_letters_replay_at_the_end(open).await;
        clean(&prefix).await;
    }

    #[tokio::test]
    async fn one_node_at_a_time_sends_an_endpoints_head() {
        let prefix = unique_prefix("lease");
        let lease = Duration::from_millis(300);
        let a = RedisQueue::new(&cluster(&prefix), 1, lease).expect("a");
        let b = RedisQueue::new(&cluster(&prefix), 2, lease).expect("b");
        let job = |events: &str| NewJob {
            app_id: "app".into(),
            url: "http://x/hook".into(),
            events: events.into(),
        };
        a.push(vec![job("[1]"), job("[2]")]).await.expect("push");
        let held = a.heads().await.expect("heads");
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].events, "[1]");
        assert_eq!(a.heads().await.expect("heads"), held, "the holder keeps it");
        assert!(
            b.heads().await.expect("heads").is_empty(),
            "another node does not get a held head"
        );

        a.retry(held[0].id, 0, "HTTP 500").await.expect("retry");
        let moved = b.heads().await.expect("heads");
        assert_eq!(
            (moved[0].id, moved[0].attempts),
            (held[0].id, 1),
            "a recorded outcome releases the endpoint"
        );
        assert!(a.heads().await.expect("heads").is_empty(), "now b holds it");

        b.retry(moved[0].id, unix_now_ms() + 60_000, "HTTP 500")
            .await
            .expect("retry");
        for q in [&a, &b] {
            let later = q.heads().await.expect("heads");
            assert_eq!(
                later.len(),
                1,
                "a head not yet due is shown to every node (for its wait)"
            );
        }
        b.retry(moved[0].id, 0, "HTTP 500").await.expect("retry");
        assert_eq!(b.heads().await.expect("heads").len(), 1);
        // b "dies" holding the endpoint: a gets it once the lease has run out.
        assert!(a.heads().await.expect("heads").is_empty());
        tokio::time::sleep(lease + Duration::from_millis(100)).await;
        let taken_over = a.heads().await.expect("heads");
        assert_eq!(taken_over.len(), 1, "an expired lease frees the endpoint");
        a.delivered(taken_over[0].id).await.expect("delivered");
        let next = b.heads().await.expect("heads");
        assert_eq!(
            next.iter().map(|j| j.events.as_str()).collect::<Vec<_>>(),
            ["[2]"],
            "delivered releases it too, and the line moves on"
        );
        clean(&prefix).await;
    }
}
