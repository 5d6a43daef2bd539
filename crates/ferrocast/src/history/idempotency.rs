//! Idempotent publish: the first publish with an `idempotency_key` claims it for the window;
//! a repeat within the window is answered as a success and delivered nowhere. Keys are per
//! app. With the Redis history store the claim is `SET NX PX` in Redis, so a retry that lands
//! on another node of the cluster is caught too; otherwise this node remembers the keys.

use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::store::HistoryError;

/// Longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 200;
/// Keys remembered locally between sweeps of the expired ones.
const SWEEP_EVERY: usize = 1024;

pub(super) struct Idempotency {
    window: Duration,
    local: Mutex<Local>,
    redis: Option<(ConnectionManager, String)>,
}

#[derive(Default)]
struct Local {
    claimed: HashMap<(String, String), Instant>,
    inserts: usize,
}

impl Idempotency {
    pub(super) fn new(window: Duration, redis: Option<(ConnectionManager, String)>) -> Self {
        Self {
            window,
            local: Mutex::default(),
            redis,
        }
    }

    fn redis_key(prefix: &str, app: &str, key: &str) -> String {
        format!("{prefix}:idempotency:{app}:{key}")
    }

    /// Whether this is the first publish with `key` within the window (and claims it if so).
    pub(super) async fn claim(&self, app: &str, key: &str) -> Result<bool, HistoryError> {
        if let Some((conn, prefix)) = &self.redis {
            let set: Option<String> = redis::cmd("SET")
                .arg(Self::redis_key(prefix, app, key))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(
                    u64::try_from(self.window.as_millis())
                        .unwrap_or(u64::MAX)
                        .max(1),
                )
                .query_async(&mut conn.clone())
                .await?;
            return Ok(set.is_some());
        }
        let now = Instant::now();
        let mut local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        let k = (app.to_owned(), key.to_owned());
        if local.claimed.get(&k).is_some_and(|until| *until > now) {
            return Ok(false);
        }
        local.claimed.insert(k, now + self.window);
        local.inserts += 1;
        if local.inserts >= SWEEP_EVERY {
            local.inserts = 0;
            local.claimed.retain(|_, until| *until > now);
        }
        Ok(true)
    }

    /// Gives a claim back after the publish failed, so the client's retry goes through.
    pub(super) async fn release(&self, app: &str, key: &str) {
        if let Some((conn, prefix)) = &self.redis {
            let r: Result<(), redis::RedisError> = redis::cmd("DEL")
                .arg(Self::redis_key(prefix, app, key))
                .query_async(&mut conn.clone())
                .await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "idempotency key not released");
            }
            return;
        }
        self.local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .claimed
            .remove(&(app.to_owned(), key.to_owned()));
    }
}
