//! MySQL and MariaDB, for clusters. Columns are `utf8mb4_bin`, so ids and keys compare exactly
//! (case-sensitive), as on the other databases; sessions run in strict mode, so an over-long id
//! or key is refused rather than cut.

use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, MySqlPool};

use super::{is_unique_violation, Queries, Schema, ACQUIRE_TIMEOUT, MAX_CONNECTIONS};
use crate::config::AppConfig;

/// Version n is `MIGRATIONS[n - 1]`; append, never edit. 191 characters is the longest
/// utf8mb4 column InnoDB can index on every row format.
pub(super) const MIGRATIONS: &[&str] = &["CREATE TABLE IF NOT EXISTS {p}apps (
        id VARCHAR(191) NOT NULL,
        app_key VARCHAR(191) NOT NULL,
        record MEDIUMTEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (id),
        UNIQUE KEY app_key (app_key)
    ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin"];

pub(super) async fn connect(url: &str) -> Result<MySqlPool, sqlx::Error> {
    let options: MySqlConnectOptions = url.parse()?;
    probe(&options).await?;
    Ok(MySqlPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')")
                    .await?;
                Ok(())
            })
        })
        .connect_lazy_with(options))
}

/// One connection, opened and closed: a pool retries a refused connection until its timeout
/// and then says only that it timed out; this fails at once, with the reason.
async fn probe(options: &MySqlConnectOptions) -> Result<(), sqlx::Error> {
    match tokio::time::timeout(ACQUIRE_TIMEOUT, options.connect()).await {
        Ok(connection) => connection?.close().await,
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timed out connecting",
        ))),
    }
}

/// DDL commits on its own here, so the migrations run on one connection holding a named lock
/// (`GET_LOCK`), released whatever happens.
pub(super) async fn migrate(pool: &MySqlPool, schema: &Schema) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let name = format!("ferrocast_{}apps", schema.prefix);
    let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 60)")
        .bind(&name)
        .fetch_one(&mut *conn)
        .await?;
    if locked != Some(1) {
        return Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timed out waiting for another node's migration (GET_LOCK)",
        )));
    }
    let applied = async { apply_migrations!(conn, schema) }.await;
    let released = sqlx::query("DO RELEASE_LOCK(?)")
        .bind(&name)
        .execute(&mut *conn)
        .await;
    if released.is_err() {
        // The lock lives as long as the session: do not hand this one back to the pool.
        conn.close_on_drop();
    }
    applied.and(released.map(|_| ()))
}

/// MySQL's upsert (`ON DUPLICATE KEY UPDATE`) fires on any unique key, so it would rewrite the
/// app that has the key. Instead: update by id; if no row has the id, insert; if the insert
/// hits a unique key, either the key is another app's (`Ok(false)`) or a concurrent put
/// inserted this id first, and the update is tried again. Row counts are rows matched (sqlx
/// asks for `CLIENT_FOUND_ROWS`), so an update that changes nothing still counts.
pub(super) async fn put(
    pool: &MySqlPool,
    q: &Queries,
    app: &AppConfig,
    record: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    for _ in 0..3 {
        let updated = sqlx::query(q.upsert.clone())
            .bind(&app.key)
            .bind(record)
            .bind(now)
            .bind(&app.id)
            .execute(pool)
            .await;
        match updated {
            Ok(done) if done.rows_affected() > 0 => return Ok(true),
            Ok(_) => {}
            // The id is not changed, so the key is the unique value that collided.
            Err(e) if is_unique_violation(&e) => return Ok(false),
            Err(e) => return Err(e),
        }
        let inserted = sqlx::query(q.insert.clone())
            .bind(&app.id)
            .bind(&app.key)
            .bind(record)
            .bind(now)
            .execute(pool)
            .await;
        match inserted {
            Ok(_) => return Ok(true),
            Err(e) if is_unique_violation(&e) => {
                let owner: Option<String> = sqlx::query_scalar(q.key_owner.clone())
                    .bind(&app.key)
                    .fetch_optional(pool)
                    .await?;
                if owner.is_some_and(|owner| owner != app.id) {
                    return Ok(false);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(sqlx::Error::Protocol(
        "put kept racing with concurrent writes of the same app".into(),
    ))
}
