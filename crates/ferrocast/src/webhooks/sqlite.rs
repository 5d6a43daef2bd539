//! The embedded webhook queue: one SQLite table in `<data_dir>/webhooks.db`, beside the app store.
//! Each pending request is a row; the row id is its place in its endpoint's line; dead letters
//! are the same rows flagged `dead`. Writes are synced (`synchronous = FULL`), so what was
//! queued survives a crash or a restart. Write transactions start `IMMEDIATE`, so a read never
//! has to be upgraded under a competing writer (which SQLite refuses rather than waits for).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::queue::{DeadLetter, Job, NewJob, Queue, QueueError, QueueFuture};
use crate::clock::unix_now_ms;

const SCHEMA: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS webhook_jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        app_id TEXT NOT NULL,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        due_ms INTEGER NOT NULL DEFAULT 0,
        dead INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        updated_ms INTEGER NOT NULL DEFAULT 0
    )",
    "CREATE INDEX IF NOT EXISTS webhook_jobs_line ON webhook_jobs (dead, app_id, url, id)",
    // Every endpoint that ever had a request, so finding each line's head is one index seek
    // per endpoint instead of a scan of every pending row (a backlog of 50,000 requests to a
    // slow receiver was read whole at each look). Endpoints are few and never removed.
    "CREATE TABLE IF NOT EXISTS webhook_endpoints (
        app_id TEXT NOT NULL,
        url TEXT NOT NULL,
        PRIMARY KEY (app_id, url)
    ) WITHOUT ROWID",
    // A queue written before the table existed.
    "INSERT OR IGNORE INTO webhook_endpoints (app_id, url) SELECT DISTINCT app_id, url FROM webhook_jobs",
];

pub(super) struct SqliteQueue {
    pool: SqlitePool,
}

fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(format!("sqlite: {e}"))
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl SqliteQueue {
    /// Opens (creating it if needed) `<data_dir>/webhooks.db`.
    pub(super) async fn open(data_dir: &Path) -> Result<Self, QueueError> {
        std::fs::create_dir_all(data_dir).map_err(unavailable)?;
        let path = data_dir.join("webhooks.db");
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(unavailable)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        for statement in SCHEMA {
            sqlx::query(statement)
                .execute(&pool)
                .await
                .map_err(unavailable)?;
        }
        Ok(Self { pool })
    }

    /// A write transaction holding the write lock from its start.
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, QueueError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)
    }

    /// Records a failed attempt: due again at `due_ms`, or (without one) a dead letter.
    async fn record_failure(
        &self,
        id: i64,
        due_ms: Option<u64>,
        error: &str,
    ) -> Result<(), QueueError> {
        sqlx::query(
            "UPDATE webhook_jobs SET attempts = attempts + 1, due_ms = COALESCE(?, due_ms),
             dead = ?, last_error = ?, updated_ms = ? WHERE id = ?",
        )
        .bind(due_ms.map(ms))
        .bind(i64::from(due_ms.is_none()))
        .bind(error)
        .bind(ms(unix_now_ms()))
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    /// Whether `<data_dir>` already holds a queue (left by an earlier run).
    pub(super) fn exists(data_dir: &Path) -> bool {
        data_dir.join("webhooks.db").exists()
    }
}

impl Queue for SqliteQueue {
    fn push(&self, jobs: Vec<NewJob>) -> QueueFuture<'_, ()> {
        Box::pin(async move {
            let mut tx = self.write_tx().await?;
            let now = ms(unix_now_ms());
            for job in &jobs {
                sqlx::query(
                    "INSERT INTO webhook_jobs (app_id, url, events, updated_ms) VALUES (?, ?, ?, ?)",
                )
                .bind(&job.app_id)
                .bind(&job.url)
                .bind(&job.events)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            }
            let mut endpoints: Vec<(&str, &str)> = jobs
                .iter()
                .map(|j| (j.app_id.as_str(), j.url.as_str()))
                .collect();
            endpoints.sort_unstable();
            endpoints.dedup();
            for (app_id, url) in endpoints {
                sqlx::query("INSERT OR IGNORE INTO webhook_endpoints (app_id, url) VALUES (?, ?)")
                    .bind(app_id)
                    .bind(url)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            }
            tx.commit().await.map_err(unavailable)
        })
    }

    fn heads(&self) -> QueueFuture<'_, Vec<Job>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT j.id, j.app_id, j.url, j.events, j.attempts, j.due_ms
                 FROM webhook_endpoints e JOIN webhook_jobs j ON j.id = (
                     SELECT id FROM webhook_jobs
                     WHERE dead = 0 AND app_id = e.app_id AND url = e.url ORDER BY id LIMIT 1)
                 ORDER BY j.id",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
            rows.iter()
                .map(|r| {
                    Ok(Job {
                        id: r.try_get("id")?,
                        app_id: r.try_get("app_id")?,
                        url: r.try_get("url")?,
                        events: r.try_get("events")?,
                        attempts: r.try_get::<i64, _>("attempts")?.try_into().unwrap_or(0),
                        due_ms: r.try_get::<i64, _>("due_ms")?.try_into().unwrap_or(0),
                    })
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(unavailable)
        })
    }

    fn delivered(&self, id: i64) -> QueueFuture<'_, ()> {
        Box::pin(async move {
            sqlx::query("DELETE FROM webhook_jobs WHERE id = ?")
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
            Ok(())
        })
    }

    fn failed<'a>(&'a self, id: i64, due_ms: Option<u64>, error: &'a str) -> QueueFuture<'a, ()> {
        Box::pin(self.record_failure(id, due_ms, error))
    }

    fn dead_letters<'a>(&'a self, app_id: &'a str) -> QueueFuture<'a, Vec<DeadLetter>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT id, url, events, attempts, last_error, updated_ms FROM webhook_jobs
                 WHERE dead = 1 AND app_id = ? ORDER BY id",
            )
            .bind(app_id)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let events: String = r.try_get("events").map_err(unavailable)?;
                out.push(DeadLetter {
                    id: r.try_get("id").map_err(unavailable)?,
                    url: r.try_get("url").map_err(unavailable)?,
                    events: serde_json::value::RawValue::from_string(events)
                        .map_err(unavailable)?,
                    attempts: r
                        .try_get::<i64, _>("attempts")
                        .map_err(unavailable)?
                        .try_into()
                        .unwrap_or(0),
                    last_error: r.try_get("last_error").map_err(unavailable)?,
                    failed_at_ms: r
                        .try_get::<i64, _>("updated_ms")
                        .map_err(unavailable)?
                        .try_into()
                        .unwrap_or(0),
                });
            }
            Ok(out)
        })
    }

    fn replay<'a>(&'a self, app_id: &'a str, ids: Option<&'a [i64]>) -> QueueFuture<'a, usize> {
        Box::pin(async move {
            let mut tx = self.write_tx().await?;
            let dead: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM webhook_jobs WHERE dead = 1 AND app_id = ? ORDER BY id",
            )
            .bind(app_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(unavailable)?;
            let chosen: Vec<i64> = dead
                .into_iter()
                .filter(|id| ids.is_none_or(|ids| ids.contains(id)))
                .collect();
            let now = ms(unix_now_ms());
            for id in &chosen {
                // A new row id puts the request at the end of its endpoint's line.
                sqlx::query(
                    "INSERT INTO webhook_jobs (app_id, url, events, updated_ms)
                     SELECT app_id, url, events, ? FROM webhook_jobs WHERE id = ?",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
                sqlx::query("DELETE FROM webhook_jobs WHERE id = ?")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            }
            tx.commit().await.map_err(unavailable)?;
            Ok(chosen.len())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::queue::contract;

    #[tokio::test]
    async fn the_queue_contract_holds_on_sqlite() {
        let dir = std::env::temp_dir().join(format!(
            "ferrocast-whq-{}-{}",
            std::process::id(),
            unix_now_ms()
        ));
        let open =
            || async { Box::new(SqliteQueue::open(&dir).await.expect("open")) as Box<dyn Queue> };
        contract::lines_stay_in_order_and_dead_letters_replay_at_the_end(open).await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
