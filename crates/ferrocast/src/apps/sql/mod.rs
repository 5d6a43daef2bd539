//! App stores in SQL databases, with sqlx: SQLite (the embedded default, `<data_dir>/apps.db`),
//! PostgreSQL and MySQL/MariaDB (for clusters: every node reads and writes the same tables).
//!
//! One table, `{prefix}apps`: `id` (primary key), `app_key` (unique), `record` (the whole
//! `AppConfig` as JSON text) and `updated_at` (unix milliseconds). Keeping the record as JSON
//! means a new per-app setting needs no migration: a record without it reads with the default.
//! `{prefix}apps_schema` holds the schema version; the migrations run at connect, under a lock
//! (a write transaction on SQLite, an advisory lock on PostgreSQL, `GET_LOCK` on MySQL), so
//! nodes starting together do not race.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, SqlSafeStr, SqlStr};

use super::store::{AppStore, StoreError, StoreFuture};
use crate::config::AppConfig;
use crate::url_parts::{percent_decode, split_userinfo};

/// How long an operation waits for a connection (and the first connection at start).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections per store: the store is read at start and on reloads, never per message.
const MAX_CONNECTIONS: u32 = 4;
/// Longest table prefix: identifiers stay under MySQL's 64 and PostgreSQL's 63 characters.
const MAX_PREFIX_LEN: usize = 40;

/// The schema-version table, the same on every database.
/// The apps table as SQLite and PostgreSQL create it (their first migration; MySQL needs
/// bounded key lengths, see mysql.rs).
const APPS_TABLE: &str = "CREATE TABLE IF NOT EXISTS {p}apps (
        id TEXT NOT NULL PRIMARY KEY,
        app_key TEXT NOT NULL UNIQUE,
        record TEXT NOT NULL,
        updated_at BIGINT NOT NULL
    )";

const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS {p}apps_schema \
     (version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)";

/// Applies the migrations `$dialect` has beyond the version recorded, on one connection that
/// already holds the migration lock. A macro rather than a function: the body is the same for
/// every driver, the connection types are not.
macro_rules! apply_migrations {
    ($conn:expr, $schema:expr) => {{
        let schema: &$crate::apps::sql::Schema = $schema;
        sqlx::query(schema.sql($crate::apps::sql::VERSION_TABLE))
            .execute(&mut *$conn)
            .await?;
        let current: Option<i64> =
            sqlx::query_scalar(schema.sql("SELECT MAX(version) FROM {p}apps_schema"))
                .fetch_one(&mut *$conn)
                .await?;
        let current = current.unwrap_or(0);
        let migrations = schema.dialect.migrations();
        if current > migrations.len() as i64 {
            tracing::warn!(
                current,
                known = migrations.len(),
                "the app store's schema is newer than this version knows; using it as is"
            );
        }
        for (version, migration) in (1i64..).zip(migrations) {
            if version <= current {
                continue;
            }
            sqlx::query(schema.sql(migration))
                .execute(&mut *$conn)
                .await?;
            sqlx::query(
                schema.sql("INSERT INTO {p}apps_schema (version, applied_at) VALUES (?, ?)"),
            )
            .bind(version)
            .bind($crate::apps::sql::now_ms())
            .execute(&mut *$conn)
            .await?;
        }
        Ok::<(), sqlx::Error>(())
    }};
}

mod mysql;
mod postgres;
pub(crate) mod sqlite;

/// An `AppStore` in SQLite, PostgreSQL or MySQL/MariaDB.
pub struct SqlStore {
    db: Db,
    queries: Queries,
    /// Passwords from the URL, scrubbed from every error message.
    secrets: Vec<String>,
}

enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
}

/// Runs `$body` with `$pool` bound to whichever pool the store has (each arm has its own type).
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
            Db::MySql($pool) => $body,
        }
    };
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.queries.schema.dialect.name())
            .field("prefix", &self.queries.schema.prefix)
            .finish_non_exhaustive()
    }
}

impl SqlStore {
    /// Connects to `url` (`sqlite://PATH?mode=rwc`, `postgres://…`, `mysql://…` or
    /// `mariadb://…`) and brings `{table_prefix}apps` up to date. A database that is down fails
    /// here, with the driver's error (never the URL's password).
    pub async fn connect(url: &str, table_prefix: &str) -> Result<Self, StoreError> {
        check_prefix(table_prefix)?;
        let secrets = url_secrets(url);
        let scheme = url.split_once(':').map_or("", |(s, _)| s);
        let dialect = match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Dialect::Sqlite,
            "postgres" | "postgresql" => Dialect::Postgres,
            "mysql" | "mariadb" => Dialect::MySql,
            _ => {
                return Err(StoreError::Unavailable(format!(
                    "unsupported app store URL scheme {:?}: use sqlite://, postgres:// or mysql://",
                    redact(scheme, &secrets)
                )))
            }
        };
        let connected = match dialect {
            Dialect::Sqlite => sqlite::connect(url).await.map(Db::Sqlite),
            Dialect::Postgres => postgres::connect(url).await.map(Db::Postgres),
            Dialect::MySql => mysql::connect(url).await.map(Db::MySql),
        };
        let db = connected.map_err(|e| fail(dialect.name(), "connect", &e, &secrets))?;
        let store = Self {
            db,
            queries: Queries::new(Schema {
                dialect,
                prefix: table_prefix.to_owned(),
            }),
            secrets,
        };
        let schema = &store.queries.schema;
        let migrated = match &store.db {
            Db::Sqlite(pool) => sqlite::migrate(pool, schema).await,
            Db::Postgres(pool) => postgres::migrate(pool, schema).await,
            Db::MySql(pool) => mysql::migrate(pool, schema).await,
        };
        if let Err(e) = migrated {
            store.close().await;
            return Err(store.fail("migrate", &e));
        }
        Ok(store)
    }

    /// Closes the connections (waits for operations under way).
    pub async fn close(&self) {
        on_pool!(&self.db, pool => pool.close().await)
    }

    fn fail(&self, op: &str, e: &sqlx::Error) -> StoreError {
        fail(self.name(), op, e, &self.secrets)
    }
}

/// The URL of the embedded store, `<data_dir>/apps.db`, creating `data_dir` if needed.
pub fn sqlite_in(data_dir: &Path) -> Result<String, StoreError> {
    sqlite_file_in(data_dir, "apps.db")
}

/// The URL of the SQLite database `file` in `data_dir`, creating `data_dir` if needed.
pub fn sqlite_file_in(data_dir: &Path, file: &str) -> Result<String, StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|e| {
        StoreError::Unavailable(format!(
            "sqlite: cannot create the data directory {}: {e}",
            data_dir.display()
        ))
    })?;
    let path = data_dir.join(file);
    let path = path.to_str().ok_or_else(|| {
        StoreError::Unavailable(format!(
            "sqlite: the data directory {} is not valid UTF-8",
            data_dir.display()
        ))
    })?;
    // sqlx percent-decodes the path and cuts it at `?`.
    let mut encoded = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' => encoded.push_str("%25"),
            '?' => encoded.push_str("%3F"),
            '#' => encoded.push_str("%23"),
            c => encoded.push(c),
        }
    }
    Ok(format!("sqlite://{encoded}?mode=rwc"))
}

/// `INSERT … ON CONFLICT (id) DO UPDATE` (SQLite, PostgreSQL): `Ok(false)` when the key is
/// another app's (the only unique violation left once the id conflict is handled).
macro_rules! upsert {
    ($pool:expr, $q:expr, $app:expr, $record:expr, $now:expr) => {
        match sqlx::query($q.upsert.clone())
            .bind(&$app.id)
            .bind(&$app.key)
            .bind($record)
            .bind($now)
            .execute($pool)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e),
        }
    };
}

impl AppStore for SqlStore {
    fn name(&self) -> &'static str {
        self.queries.schema.dialect.name()
    }

    fn list(&self) -> StoreFuture<'_, Vec<AppConfig>> {
        Box::pin(async move {
            let q = &self.queries.list;
            let records: Vec<(String, String)> = on_pool!(&self.db, pool => {
                sqlx::query_as(q.clone()).fetch_all(pool).await
            })
            .map_err(|e| self.fail("list", &e))?;
            records.iter().map(|(id, r)| decode(id, r)).collect()
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<AppConfig>> {
        Box::pin(async move {
            let q = &self.queries.get;
            let record: Option<String> = on_pool!(&self.db, pool => {
                sqlx::query_scalar(q.clone()).bind(id).fetch_optional(pool).await
            })
            .map_err(|e| self.fail("get", &e))?;
            record.map(|r| decode(id, &r)).transpose()
        })
    }

    fn put<'a>(&'a self, app: &'a AppConfig) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let record = serde_json::to_string(app)
                .map_err(|e| StoreError::Unavailable(format!("{}: put: {e}", self.name())))?;
            let q = &self.queries;
            let now = now_ms();
            let mut stored = Ok(false);
            // PostgreSQL's ON CONFLICT guards only the id: when two nodes insert the same new
            // app at once, the loser trips the key's unique index instead. Once the winner has
            // committed, a second try takes the update path; a key that belongs to another app
            // fails again and is a real conflict.
            for _ in 0..2 {
                stored = match &self.db {
                    Db::Sqlite(pool) => upsert!(pool, q, app, &record, now),
                    Db::Postgres(pool) => upsert!(pool, q, app, &record, now),
                    Db::MySql(pool) => mysql::put(pool, q, app, &record, now).await,
                };
                if !matches!(stored, Ok(false)) {
                    break;
                }
            }
            match stored {
                Ok(true) => Ok(()),
                Ok(false) => Err(StoreError::Conflict { field: "key" }),
                Err(e) => Err(self.fail("put", &e)),
            }
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let q = &self.queries.delete;
            let done = on_pool!(&self.db, pool => {
                sqlx::query(q.clone()).bind(id).execute(pool).await.map(|r| r.rows_affected())
            })
            .map_err(|e| self.fail("delete", &e))?;
            Ok(done > 0)
        })
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
    MySql,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::MySql => "mysql",
        }
    }

    fn migrations(self) -> &'static [&'static str] {
        match self {
            Dialect::Sqlite => sqlite::MIGRATIONS,
            Dialect::Postgres => postgres::MIGRATIONS,
            Dialect::MySql => mysql::MIGRATIONS,
        }
    }
}

/// Where the tables are: the dialect and the table prefix.
struct Schema {
    dialect: Dialect,
    prefix: String,
}

impl Schema {
    /// `template` with `{p}` replaced by the prefix (checked by `check_prefix`, so nothing but
    /// `[A-Za-z0-9_]` reaches the SQL) and, on PostgreSQL, `?` numbered as `$1`, `$2`, ….
    fn sql(&self, template: &str) -> SqlStr {
        let sql = template.replace("{p}", &self.prefix);
        let sql = if self.dialect == Dialect::Postgres {
            let mut numbered = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    numbered.push_str(&format!("${n}"));
                } else {
                    numbered.push(c);
                }
            }
            numbered
        } else {
            sql
        };
        AssertSqlSafe(Arc::<str>::from(sql)).into_sql_str()
    }
}

/// The statements, built once (cloning a `SqlStr` built from an `Arc<str>` is cheap).
struct Queries {
    schema: Schema,
    list: SqlStr,
    get: SqlStr,
    delete: SqlStr,
    /// SQLite and PostgreSQL: the upsert. MySQL: `UPDATE … WHERE id = ?`.
    upsert: SqlStr,
    /// MySQL only: the plain `INSERT` after an update that found no row.
    insert: SqlStr,
    /// MySQL only: which app has a key.
    key_owner: SqlStr,
}

impl Queries {
    fn new(schema: Schema) -> Self {
        let upsert = match schema.dialect {
            Dialect::Sqlite | Dialect::Postgres => {
                "INSERT INTO {p}apps (id, app_key, record, updated_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (id) DO UPDATE SET app_key = excluded.app_key, \
                 record = excluded.record, updated_at = excluded.updated_at"
            }
            Dialect::MySql => {
                "UPDATE {p}apps SET app_key = ?, record = ?, updated_at = ? WHERE id = ?"
            }
        };
        Self {
            list: schema.sql("SELECT id, record FROM {p}apps ORDER BY id"),
            get: schema.sql("SELECT record FROM {p}apps WHERE id = ?"),
            delete: schema.sql("DELETE FROM {p}apps WHERE id = ?"),
            upsert: schema.sql(upsert),
            insert: schema
                .sql("INSERT INTO {p}apps (id, app_key, record, updated_at) VALUES (?, ?, ?, ?)"),
            key_owner: schema.sql("SELECT id FROM {p}apps WHERE app_key = ?"),
            schema,
        }
    }
}

/// A record as stored. One written by a newer version may hold settings this version does not
/// know (`AppConfig` refuses unknown fields): they are dropped, with a warning, so that a node
/// not yet upgraded keeps serving its apps.
fn decode(id: &str, record: &str) -> Result<AppConfig, StoreError> {
    let unreadable = |e: serde_json::Error| {
        StoreError::Unavailable(format!("the record of app {id:?} is not readable: {e}"))
    };
    let strict = match serde_json::from_str::<AppConfig>(record) {
        Ok(app) => return Ok(app),
        Err(e) => e,
    };
    let mut value: serde_json::Value = serde_json::from_str(record).map_err(unreadable)?;
    let known = serde_json::to_value(AppConfig::default()).map_err(unreadable)?;
    let (Some(fields), Some(known)) = (value.as_object_mut(), known.as_object()) else {
        return Err(unreadable(strict));
    };
    let before = fields.len();
    fields.retain(|name, _| known.contains_key(name));
    if fields.len() == before {
        return Err(unreadable(strict));
    }
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            app = id,
            "an app record holds settings this version does not know (written by a newer \
             version?); they are ignored here"
        );
    }
    serde_json::from_value(value).map_err(unreadable)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Table prefixes go into SQL as they are, so only plain identifiers are allowed.
fn check_prefix(prefix: &str) -> Result<(), StoreError> {
    let plain = prefix.len() <= MAX_PREFIX_LEN
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !prefix.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        Ok(())
    } else {
        Err(StoreError::Unavailable(format!(
            "invalid app store table prefix {prefix:?}: at most {MAX_PREFIX_LEN} of A-Z a-z 0-9 _, \
             not starting with a digit"
        )))
    }
}

fn fail(name: &str, op: &str, e: &sqlx::Error, secrets: &[String]) -> StoreError {
    StoreError::Unavailable(redact(&format!("{name}: {op}: {e}"), secrets))
}

/// The password of `url` (as written and percent-decoded) and any `password=` parameter.
fn url_secrets(url: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    let (address, userinfo) = split_userinfo(url);
    if let Some((_, password)) = userinfo.and_then(|u| u.split_once(':')) {
        secrets.push(password.to_owned());
    }
    let query = address.split_once('?').map_or("", |(_, q)| q);
    for pair in query.split('&') {
        if let Some((name, value)) = pair.split_once('=') {
            if name.eq_ignore_ascii_case("password") {
                secrets.push(value.to_owned());
            }
        }
    }
    let decoded: Vec<String> = secrets.iter().map(|s| percent_decode(s)).collect();
    secrets.extend(decoded);
    secrets.retain(|s| !s.is_empty());
    secrets.sort();
    secrets.dedup();
    // Longest first, so a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
}

fn redact(message: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(message.to_owned(), |m, s| m.replace(s.as_str(), "***"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_error_messages() {
        let secrets = url_secrets("postgres://app:s%40cret@db:5432/x?sslmode=require&password=p2");
        let message = redact("failed for s@cret and s%40cret and p2", &secrets);
        assert_eq!(message, "failed for *** and *** and ***");
        assert!(url_secrets("postgres://db/x").is_empty());
        assert!(url_secrets("sqlite://data/apps.db?mode=rwc").is_empty());
    }

    #[test]
    fn prefixes_are_plain_identifiers() {
        assert!(check_prefix("ferrocast_").is_ok());
        assert!(check_prefix("").is_ok());
        for bad in [
            "x; DROP TABLE y",
            "a-b",
            "1x",
            "\"x",
            "x".repeat(41).as_str(),
        ] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn postgres_placeholders_are_numbered() {
        let schema = Schema {
            dialect: Dialect::Postgres,
            prefix: "p_".into(),
        };
        assert_eq!(
            schema
                .sql("SELECT 1 FROM {p}apps WHERE id = ? AND app_key = ?")
                .as_str(),
            "SELECT 1 FROM p_apps WHERE id = $1 AND app_key = $2"
        );
    }

    #[test]
    fn records_from_a_newer_version_still_read() {
        let app = AppConfig {
            id: "a".into(),
            key: "k".into(),
            max_connections: 7,
            ..Default::default()
        };
        let mut value = serde_json::to_value(&app).expect("serialises");
        value["a_setting_from_the_future"] = serde_json::json!(true);
        assert_eq!(decode("a", &value.to_string()).expect("reads"), app);
        assert!(decode("a", "not json").is_err());
        assert!(decode("a", r#"{"max_connections": "many"}"#).is_err());
    }

    #[test]
    fn the_embedded_store_lives_in_the_data_dir() {
        let dir = std::env::temp_dir().join(format!("ferrocast-sqlite-in-{}", std::process::id()));
        let url = sqlite_in(&dir.join("a?b#c%d")).expect("creates the directory");
        assert!(dir.join("a?b#c%d").is_dir());
        assert!(url.ends_with("/a%3Fb%23c%25d/apps.db?mode=rwc"), "{url}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
