//! PostgreSQL, for clusters.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use super::{Schema, ACQUIRE_TIMEOUT, APPS_TABLE, MAX_CONNECTIONS};

/// Version n is `MIGRATIONS[n - 1]`; append, never edit.
pub(super) const MIGRATIONS: &[&str] = &[APPS_TABLE];

pub(super) async fn connect(url: &str) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    probe(&options).await?;
    Ok(PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(options))
}

/// One connection, opened and closed: a pool retries a refused connection until its timeout
/// and then says only that it timed out; this fails at once, with the reason.
async fn probe(options: &PgConnectOptions) -> Result<(), sqlx::Error> {
    match tokio::time::timeout(ACQUIRE_TIMEOUT, options.connect()).await {
        Ok(connection) => connection?.close().await,
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timed out connecting",
        ))),
    }
}

/// In one transaction (DDL is transactional here) holding an advisory lock named after the
/// tables, so nodes starting together migrate one after the other.
pub(super) async fn migrate(pool: &PgPool, schema: &Schema) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // `CREATE TABLE IF NOT EXISTS` on an existing table says so in a NOTICE, at every start.
    sqlx::query("SET LOCAL client_min_messages = warning")
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock_key(&schema.prefix))
        .execute(&mut *tx)
        .await?;
    apply_migrations!(tx, schema)?;
    tx.commit().await
}

/// FNV-1a of the tables' name: the same on every node, whatever its build.
fn lock_key(prefix: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in "ferrocast:"
        .bytes()
        .chain(prefix.bytes())
        .chain("apps".bytes())
    {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}
