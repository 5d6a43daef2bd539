//! SQLite: the embedded default. WAL journal, so readers never wait for the writer; several
//! processes may share the file (writes wait up to the busy timeout for each other).

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::SqlitePool;

use super::{Schema, ACQUIRE_TIMEOUT, APPS_TABLE, MAX_CONNECTIONS};

/// Version n is `MIGRATIONS[n - 1]`; append, never edit.
pub(super) const MIGRATIONS: &[&str] = &[APPS_TABLE];

/// A pool on the SQLite file at `url` (also used by the history store).
pub(crate) async fn connect(url: &str) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(ACQUIRE_TIMEOUT);
    SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
}

/// `BEGIN IMMEDIATE` takes the write lock first, so two processes migrating the same file
/// run one after the other (DDL is transactional in SQLite).
pub(super) async fn migrate(pool: &SqlitePool, schema: &Schema) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    apply_migrations!(tx, schema)?;
    tx.commit().await
}
