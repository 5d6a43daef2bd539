//! The embedded history store: `<data_dir>/history.db`, next to the app store, so history
//! survives a restart. Two tables: `history_streams` (epoch, last offset and last write per
//! channel) and `history_messages` (one row per kept message, keyed by channel and offset).
//! Writes run in `BEGIN IMMEDIATE` transactions, so offsets are assigned one at a time even if
//! several processes share the file.

use bytes::Bytes;
use sqlx::{Row, SqlitePool};
use std::path::Path;

use super::store::{
    random_id, Append, AppendsFuture, HistoryError, HistoryFuture, HistoryStore, Page, Position,
    Query, Retention, Stored, StreamKey,
};

const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS history_streams (
        app TEXT NOT NULL,
        channel TEXT NOT NULL,
        epoch TEXT NOT NULL,
        last_offset INTEGER NOT NULL,
        touched_ms INTEGER NOT NULL,
        PRIMARY KEY (app, channel)
    )",
    "CREATE TABLE IF NOT EXISTS history_messages (
        app TEXT NOT NULL,
        channel TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        body BLOB NOT NULL,
        PRIMARY KEY (app, channel, seq)
    ) WITHOUT ROWID",
];

const READ_ASC: &str = "SELECT seq, id, time_ms, body FROM history_messages
    WHERE app = ? AND channel = ? AND time_ms >= ? AND seq >= ? AND seq <= ?
      AND time_ms >= ? AND time_ms <= ?
    ORDER BY seq ASC LIMIT ?";
const READ_DESC: &str = "SELECT seq, id, time_ms, body FROM history_messages
    WHERE app = ? AND channel = ? AND time_ms >= ? AND seq >= ? AND seq <= ?
      AND time_ms >= ? AND time_ms <= ?
    ORDER BY seq DESC LIMIT ?";

pub struct SqliteStore {
    pool: SqlitePool,
}

/// SQLite integers are signed; offsets and times stay far below `i64::MAX`.
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl SqliteStore {
    /// Opens (creating if needed) `<data_dir>/history.db`.
    pub async fn open(data_dir: &Path) -> Result<Self, HistoryError> {
        let url = crate::apps::sql::sqlite_file_in(data_dir, "history.db")
            .map_err(|e| HistoryError::Unavailable(e.to_string()))?;
        let pool = crate::apps::sql::sqlite::connect(&url).await?;
        for ddl in SCHEMA {
            sqlx::query(ddl).execute(&pool).await?;
        }
        Ok(Self { pool })
    }

    /// The stream's (epoch, last offset), if it exists and its metadata has not expired.
    async fn current(
        conn: &mut sqlx::SqliteConnection,
        key: StreamKey<'_>,
        r: Retention,
        now_ms: u64,
    ) -> Result<Option<Position>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT epoch, last_offset, touched_ms FROM history_streams
             WHERE app = ? AND channel = ?",
        )
        .bind(key.app)
        .bind(key.channel)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let touched: i64 = row.try_get("touched_ms")?;
        if touched.saturating_add(int(r.meta_ttl_ms)) < int(now_ms) {
            return Ok(None);
        }
        let last: i64 = row.try_get("last_offset")?;
        Ok(Some(Position {
            epoch: row.try_get("epoch")?,
            offset: u64::try_from(last).unwrap_or(0),
        }))
    }

    /// The stream's (epoch, last offset), starting it again when missing or expired. Runs in
    /// the caller's write transaction.
    async fn stream(
        tx: &mut sqlx::SqliteConnection,
        key: StreamKey<'_>,
        r: Retention,
        now_ms: u64,
    ) -> Result<Position, sqlx::Error> {
        if let Some(p) = Self::current(tx, key, r, now_ms).await? {
            return Ok(p);
        }
        let epoch = random_id();
        sqlx::query("DELETE FROM history_messages WHERE app = ? AND channel = ?")
            .bind(key.app)
            .bind(key.channel)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT OR REPLACE INTO history_streams (app, channel, epoch, last_offset, touched_ms)
             VALUES (?, ?, ?, 0, ?)",
        )
        .bind(key.app)
        .bind(key.channel)
        .bind(&epoch)
        .bind(int(now_ms))
        .execute(&mut *tx)
        .await?;
        Ok(Position { epoch, offset: 0 })
    }

    /// Appends `items` in one transaction: one commit, so one sync to disk, for all of them.
    async fn do_append_many(
        &self,
        items: &[Append<'_>],
        now_ms: u64,
    ) -> Result<Vec<Position>, sqlx::Error> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut out = Vec::with_capacity(items.len());
        for a in items {
            out.push(Self::append_in(&mut tx, a.key, a.retention, a.id, &a.body, now_ms).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Appends one message inside the caller's write transaction.
    async fn append_in(
        tx: &mut sqlx::SqliteConnection,
        key: StreamKey<'_>,
        r: Retention,
        id: &str,
        body: &[u8],
        now_ms: u64,
    ) -> Result<Position, sqlx::Error> {
        let current = Self::stream(tx, key, r, now_ms).await?;
        let offset = current.offset + 1;
        sqlx::query(
            "INSERT INTO history_messages (app, channel, seq, id, time_ms, expires_ms, body)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(key.app)
        .bind(key.channel)
        .bind(int(offset))
        .bind(id)
        .bind(int(now_ms))
        .bind(int(now_ms.saturating_add(r.ttl_ms)))
        .bind(body)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE history_streams SET last_offset = ?, touched_ms = ?
             WHERE app = ? AND channel = ?",
        )
        .bind(int(offset))
        .bind(int(now_ms))
        .bind(key.app)
        .bind(key.channel)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM history_messages
             WHERE app = ? AND channel = ? AND (seq <= ? OR time_ms < ?)",
        )
        .bind(key.app)
        .bind(key.channel)
        .bind(int(offset.saturating_sub(r.size as u64)))
        .bind(int(now_ms.saturating_sub(r.ttl_ms)))
        .execute(&mut *tx)
        .await?;
        Ok(Position {
            epoch: current.epoch,
            offset,
        })
    }

    async fn do_read(
        &self,
        key: StreamKey<'_>,
        r: Retention,
        q: Query,
        now_ms: u64,
    ) -> Result<Page, sqlx::Error> {
        // Most reads find the stream; only a missing one needs the write lock to create it.
        let mut conn = self.pool.acquire().await?;
        let found = Self::current(&mut conn, key, r, now_ms).await?;
        drop(conn);
        let position = match found {
            Some(p) => p,
            None => {
                let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                let p = Self::stream(&mut tx, key, r, now_ms).await?;
                tx.commit().await?;
                p
            }
        };
        if q.limit == 0 {
            return Ok(Page {
                position,
                messages: Vec::new(),
            });
        }
        let sql = if q.newest_first { READ_DESC } else { READ_ASC };
        let rows = sqlx::query(sql)
            .bind(key.app)
            .bind(key.channel)
            .bind(int(now_ms.saturating_sub(r.ttl_ms)))
            .bind(int(q.from_offset.unwrap_or(0)))
            .bind(int(q.to_offset.unwrap_or(u64::MAX)))
            .bind(int(q.from_ms.unwrap_or(0)))
            .bind(int(q.to_ms.unwrap_or(u64::MAX)))
            .bind(int(q.limit as u64))
            .fetch_all(&self.pool)
            .await?;
        let messages = rows
            .into_iter()
            .map(|row| {
                let seq: i64 = row.try_get("seq")?;
                let time: i64 = row.try_get("time_ms")?;
                let body: Vec<u8> = row.try_get("body")?;
                Ok(Stored {
                    offset: u64::try_from(seq).unwrap_or(0),
                    id: row.try_get("id")?,
                    time_ms: u64::try_from(time).unwrap_or(0),
                    body: Bytes::from(body),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Page { position, messages })
    }
}

impl HistoryStore for SqliteStore {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn sweep(&self, now_ms: u64, meta_ttl_ms: u64) -> HistoryFuture<'_, ()> {
        Box::pin(async move {
            sqlx::query("DELETE FROM history_messages WHERE expires_ms < ?")
                .bind(int(now_ms))
                .execute(&self.pool)
                .await?;
            sqlx::query("DELETE FROM history_streams WHERE touched_ms < ?")
                .bind(int(now_ms.saturating_sub(meta_ttl_ms)))
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn append<'a>(
        &'a self,
        key: StreamKey<'a>,
        retention: Retention,
        id: &'a str,
        body: Bytes,
        now_ms: u64,
    ) -> HistoryFuture<'a, Position> {
        Box::pin(async move {
            let one = [Append {
                key,
                retention,
                id,
                body,
            }];
            let mut positions = self.do_append_many(&one, now_ms).await?;
            Ok(positions.pop().ok_or(sqlx::Error::RowNotFound)?)
        })
    }

    fn append_many<'a>(&'a self, items: &'a [Append<'a>], now_ms: u64) -> AppendsFuture<'a> {
        Box::pin(async move {
            match self.do_append_many(items, now_ms).await {
                Ok(positions) => positions.into_iter().map(Ok).collect(),
                // The transaction was rolled back: none of them is stored.
                Err(e) => vec![Err(HistoryError::from(e)); items.len()],
            }
        })
    }

    fn read<'a>(
        &'a self,
        key: StreamKey<'a>,
        retention: Retention,
        query: Query,
        now_ms: u64,
    ) -> HistoryFuture<'a, Page> {
        Box::pin(async move { Ok(self.do_read(key, retention, query, now_ms).await?) })
    }
}
