//! The shared history store: Redis, so every node of a cluster assigns offsets from the same
//! counter and any node can serve recovery. Per channel, a hash `…:meta` (`e` = epoch, `o` =
//! last offset) and a stream `…:log` whose entry ids are `0-<offset>` (fields `i` id, `t` unix
//! ms, `b` body). Both keys share a hash tag, so they live on one Redis Cluster slot. Each
//! operation is one Lua script, so the counter, the entry and the trimming change together.

use bytes::Bytes;
use redis::aio::ConnectionManager;
use redis::Value;

use super::store::{
    random_id, HistoryError, HistoryFuture, HistoryStore, Page, Position, Query, Retention, Stored,
    StreamKey,
};

/// Returns the epoch of the stream, starting one (and dropping any orphaned log) when the
/// metadata is missing or was last written more than the meta TTL ago (`t`, by the caller's
/// clock, as the other stores judge it). ARGV[1] new epoch, [2] meta TTL in ms, [3] now ms.
const STREAM: &str = r"
local function stream()
  local meta = redis.call('HMGET', KEYS[1], 'e', 't')
  local e = meta[1]
  if e and meta[2] and tonumber(meta[2]) + tonumber(ARGV[2]) < tonumber(ARGV[3]) then
    e = false
  end
  if not e then
    e = ARGV[1]
    redis.call('DEL', KEYS[2])
    redis.call('HSET', KEYS[1], 'e', e, 'o', 0, 't', ARGV[3])
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
  return e
end
";

/// ARGV[4] size, [5] ttl ms, [6] id, [7] body → {epoch, offset}.
const APPEND: &str = r"
local e = stream()
local o = redis.call('HINCRBY', KEYS[1], 'o', 1)
redis.call('HSET', KEYS[1], 't', ARGV[3])
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], '0-' .. o, 'i', ARGV[6], 't', ARGV[3], 'b', ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {e, o}
";

/// ARGV[4] oldest live ms, [5] from offset, [6] to offset, [7] from ms, [8] to ms, [9] limit,
/// [10] '1' for newest first → {epoch, last, (entry id, id, ms, body)*}.
const READ: &str = r"
local e = stream()
local out = {e, tonumber(redis.call('HGET', KEYS[1], 'o'))}
local limit = tonumber(ARGV[9])
if limit == 0 then return out end
local entries
if ARGV[10] == '1' then
  entries = redis.call('XREVRANGE', KEYS[2], '0-' .. ARGV[6], '0-' .. ARGV[5])
else
  entries = redis.call('XRANGE', KEYS[2], '0-' .. ARGV[5], '0-' .. ARGV[6])
end
local min_t = math.max(tonumber(ARGV[4]), tonumber(ARGV[7]))
local max_t = tonumber(ARGV[8])
local n = 0
for _, entry in ipairs(entries) do
  local f = entry[2]
  local t = tonumber(f[4])
  if t >= min_t and t <= max_t then
    out[#out + 1] = entry[1]
    out[#out + 1] = f[2]
    out[#out + 1] = f[4]
    out[#out + 1] = f[6]
    n = n + 1
    if n >= limit then break end
  end
end
return out
";

pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisStore {
    /// Connects lazily to `url`: a Redis that is down at start delays nothing but the first
    /// history operation, which then fails with `Unavailable`.
    pub fn new(url: &str, prefix: &str) -> Result<Self, HistoryError> {
        let client = redis::Client::open(url)?;
        let conn = client.get_connection_manager_lazy(Default::default())?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    fn keys(&self, key: StreamKey<'_>) -> [String; 2] {
        let base = format!("{}:history:{{{}:{}}}", self.prefix, key.app, key.channel);
        [format!("{base}:meta"), format!("{base}:log")]
    }

    async fn eval(
        &self,
        body: &str,
        keys: [String; 2],
        args: Vec<Vec<u8>>,
    ) -> Result<Vec<Value>, HistoryError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(format!("{STREAM}{body}"))
            .arg(2)
            .arg(&keys[0])
            .arg(&keys[1]);
        for a in args {
            cmd.arg(a);
        }
        let mut conn = self.conn.clone();
        Ok(cmd.query_async(&mut conn).await?)
    }
}

fn arg(v: impl ToString) -> Vec<u8> {
    v.to_string().into_bytes()
}

fn bad(what: &str) -> HistoryError {
    HistoryError::Unavailable(format!("redis: unexpected reply ({what})"))
}

fn parse<T: redis::FromRedisValue>(v: Option<Value>, what: &str) -> Result<T, HistoryError> {
    v.and_then(|v| redis::from_redis_value(v).ok())
        .ok_or_else(|| bad(what))
}

/// Reads the `{epoch, offset}` head of a script's reply.
fn position(reply: &mut std::vec::IntoIter<Value>) -> Result<Position, HistoryError> {
    Ok(Position {
        epoch: parse(reply.next(), "epoch")?,
        offset: parse(reply.next(), "offset")?,
    })
}

impl HistoryStore for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn append<'a>(
        &'a self,
        key: StreamKey<'a>,
        r: Retention,
        id: &'a str,
        body: Bytes,
        now_ms: u64,
    ) -> HistoryFuture<'a, Position> {
        Box::pin(async move {
            let args = vec![
                arg(random_id()),
                arg(r.meta_ttl_ms.max(1)),
                arg(now_ms),
                arg(r.size),
                arg(r.ttl_ms.max(1)),
                arg(id),
                body.to_vec(),
            ];
            let reply = self.eval(APPEND, self.keys(key), args).await?;
            position(&mut reply.into_iter())
        })
    }

    fn read<'a>(
        &'a self,
        key: StreamKey<'a>,
        r: Retention,
        q: Query,
        now_ms: u64,
    ) -> HistoryFuture<'a, Page> {
        Box::pin(async move {
            let args = vec![
                arg(random_id()),
                arg(r.meta_ttl_ms.max(1)),
                arg(now_ms),
                arg(now_ms.saturating_sub(r.ttl_ms)),
                arg(q.from_offset.unwrap_or(0)),
                arg(q.to_offset.unwrap_or(u64::MAX)),
                arg(q.from_ms.unwrap_or(0)),
                arg(q.to_ms.unwrap_or(u64::MAX)),
                arg(q.limit),
                arg(if q.newest_first { 1 } else { 0 }),
            ];
            let mut reply = self.eval(READ, self.keys(key), args).await?.into_iter();
            let position = position(&mut reply)?;
            let mut messages = Vec::new();
            while let Some(entry) = reply.next() {
                let entry: String = parse(Some(entry), "entry id")?;
                let offset = entry
                    .split_once('-')
                    .and_then(|(_, o)| o.parse().ok())
                    .ok_or_else(|| bad("entry id"))?;
                let id: String = parse(reply.next(), "id")?;
                let time: String = parse(reply.next(), "time")?;
                let body: Vec<u8> = parse(reply.next(), "body")?;
                messages.push(Stored {
                    offset,
                    id,
                    time_ms: time.parse().map_err(|_| bad("time"))?,
                    body: Bytes::from(body),
                });
            }
            Ok(Page { position, messages })
        })
    }
}
