//! The app stores' shared test-suite: the same checks on SQLite (a temporary directory), the
//! machine's PostgreSQL and its MariaDB (`scripts/services.sh` starts them). Each test has its
//! own table prefix and drops its tables at the end, pass or fail. A database that is down
//! fails its tests: nothing is skipped.

use ferrocast::apps::sql::{sqlite_in, SqlStore};
use ferrocast::apps::{AppStore, StoreError};
use ferrocast::config::{AppConfig, FailureMode, Hook, HooksConfig, WebhookEndpoint};
use ferrocast_protocol::webhook::EventType;
use sqlx::{AssertSqlSafe, Connection, Executor};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const MYSQL: &str = "mysql://root@127.0.0.1:3306/test";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

/// One test's database: where it is and the tables' prefix.
#[derive(Debug, Clone)]
struct Db {
    backend: Backend,
    url: String,
    prefix: String,
    /// SQLite: the temporary directory holding the data dir.
    dir: Option<PathBuf>,
}

impl Db {
    fn new(backend: Backend) -> Self {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() % 1_000_000_000_000);
        let prefix = format!(
            "t{}_{nanos}_{}_",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("ferrocast-apps-store-{prefix}"));
                // A data dir that does not exist yet: the store creates it.
                let url = sqlite_in(&dir.join("data")).expect("sqlite_in creates the data dir");
                Self {
                    backend,
                    url,
                    prefix,
                    dir: Some(dir),
                }
            }
            Backend::Postgres => Self {
                backend,
                url: POSTGRES.into(),
                prefix,
                dir: None,
            },
            Backend::MySql => Self {
                backend,
                url: MYSQL.into(),
                prefix,
                dir: None,
            },
        }
    }

    /// A new store on this database (a new node, or the same one restarted).
    async fn store(&self) -> SqlStore {
        SqlStore::connect(&self.url, &self.prefix)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{:?} at {}: {e} (is it running? scripts/services.sh starts it)",
                    self.backend, self.url
                )
            })
    }

    async fn drop_tables(&self) {
        let sql = format!(
            "DROP TABLE IF EXISTS {p}apps, {p}apps_schema",
            p = self.prefix
        );
        let dropped = match self.backend {
            Backend::Sqlite => {
                if let Some(dir) = &self.dir {
                    let _ = std::fs::remove_dir_all(dir);
                }
                Ok(())
            }
            Backend::Postgres => match sqlx::PgConnection::connect(&self.url).await {
                Ok(mut c) => c.execute(AssertSqlSafe(sql)).await.map(|_| ()),
                Err(e) => Err(e),
            },
            Backend::MySql => match sqlx::MySqlConnection::connect(&self.url).await {
                Ok(mut c) => c.execute(AssertSqlSafe(sql)).await.map(|_| ()),
                Err(e) => Err(e),
            },
        };
        if let Err(e) = dropped {
            eprintln!("could not drop the tables of {}: {e}", self.prefix);
        }
    }
}

/// Runs one check on a fresh database of `backend`, then drops its tables whatever happened.
async fn run<F, Fut>(backend: Backend, check: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let db = Db::new(backend);
    let outcome = tokio::spawn(check(db.clone())).await;
    db.drop_tables().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Every check, on every backend: `apps_store::{sqlite,postgres,mysql}::CHECK`.
macro_rules! suite {
    ($($module:ident: $backend:ident),*; $checks:tt) => {
        $( suite!(@one $module $backend $checks); )*
    };
    (@one $module:ident $backend:ident [$($check:ident),* $(,)?]) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::run(super::Backend::$backend, super::$check).await;
                }
            )*
        }
    };
}

suite!(sqlite: Sqlite, postgres: Postgres, mysql: MySql; [
    an_empty_store_has_no_apps,
    put_then_get_and_list_round_trip_every_setting,
    put_again_replaces_the_record,
    a_second_app_with_a_taken_key_conflicts,
    delete_says_whether_it_removed,
    two_nodes_writing_at_once_both_land,
    a_new_store_on_the_same_database_sees_the_data,
]);

/// An app whose every setting differs from the default (checked below), so a round trip that
/// lost any of them shows. (`..default()` on purpose: a new setting fails the check at run
/// time, saying which, rather than breaking the build.)
#[allow(clippy::needless_update)]
fn full_app(id: &str, key: &str) -> AppConfig {
    let app = AppConfig {
        id: id.into(),
        key: key.into(),
        secret: format!("{id}-secret"),
        previous_secret: Some("sécret d'avant ☃".into()),
        previous_secret_expires_at: Some(u64::MAX),
        enabled: false,
        client_events: false,
        user_auth_required: true,
        user_auth_timeout: 12,
        max_connections: 5000,
        max_payload_kb: 64,
        max_channels_per_event: 7,
        max_batch_size: 3,
        max_channel_name_length: 150,
        max_event_name_length: 90,
        max_presence_members: 250,
        max_presence_user_info_kb: 4,
        max_client_events_per_sec: 25,
        max_backend_events_per_sec: 400,
        max_read_requests_per_sec: 30,
        allowed_origins: vec![
            "https://app.example.com".into(),
            "https://*.example.org".into(),
        ],
        max_channels_per_connection: 64,
        max_watchlist_size: 12,
        cache_ttl: 60,
        history: vec![ferrocast::config::HistoryRule {
            pattern: "history-*".into(),
            size: 10,
            ttl: 60,
        }],
        webhooks: vec![WebhookEndpoint {
            url: "https://hooks.example.com/pusher".into(),
            event_types: vec![EventType::MemberAdded, EventType::ClientEvent],
            channel_prefixes: vec!["presence-".into()],
        }],
        hooks: HooksConfig {
            subscribe: Some(Hook {
                url: "http://127.0.0.1:9/subscribe".into(),
                timeout_ms: 150,
                failure: FailureMode::Allow,
            }),
            ..HooksConfig::default()
        },
        ..AppConfig::default()
    };
    let full = serde_json::to_value(&app).expect("serialises");
    let default = serde_json::to_value(AppConfig::default()).expect("serialises");
    for (field, value) in default.as_object().expect("an object") {
        assert_ne!(
            &full[field], value,
            "full_app leaves `{field}` at its default: give it another value"
        );
    }
    app
}

fn app(id: &str, key: &str) -> AppConfig {
    AppConfig {
        id: id.into(),
        key: key.into(),
        secret: format!("{id}-secret"),
        ..AppConfig::default()
    }
}

fn ids(apps: &[AppConfig]) -> Vec<&str> {
    apps.iter().map(|a| a.id.as_str()).collect()
}

fn is_key_conflict(result: &Result<(), StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict { field: "key" }))
}

async fn an_empty_store_has_no_apps(db: Db) {
    let store = db.store().await;
    let name = match db.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
        Backend::MySql => "mysql",
    };
    assert_eq!(store.name(), name);
    assert!(store.list().await.expect("list").is_empty());
    assert_eq!(store.get("nope").await.expect("get"), None);
    assert!(!store.delete("nope").await.expect("delete"));
    store.close().await;
}

async fn put_then_get_and_list_round_trip_every_setting(db: Db) {
    let store = db.store().await;
    let full = full_app("app-1", "key-1");
    store.put(&full).await.expect("put");
    let plain = app("app-0", "key-0");
    store.put(&plain).await.expect("put");
    assert_eq!(store.get("app-1").await.expect("get"), Some(full.clone()));
    assert_eq!(store.get("app-0").await.expect("get"), Some(plain.clone()));
    assert_eq!(
        store.list().await.expect("list"),
        vec![plain, full],
        "every record, in id order"
    );
    store.close().await;
}

async fn put_again_replaces_the_record(db: Db) {
    let store = db.store().await;
    store.put(&app("app-1", "key-1")).await.expect("put");
    let changed = full_app("app-1", "key-2");
    store.put(&changed).await.expect("put again");
    assert_eq!(
        store.get("app-1").await.expect("get"),
        Some(changed.clone())
    );
    assert_eq!(store.list().await.expect("list"), vec![changed.clone()]);
    // The same record again changes nothing and is no error (MySQL counts it as a match).
    store.put(&changed).await.expect("put unchanged");
    assert_eq!(store.list().await.expect("list"), vec![changed]);
    // The old key is free now.
    store
        .put(&app("app-2", "key-1"))
        .await
        .expect("old key reused");
    assert_eq!(ids(&store.list().await.expect("list")), ["app-1", "app-2"]);
    store.close().await;
}

async fn a_second_app_with_a_taken_key_conflicts(db: Db) {
    let store = db.store().await;
    let first = app("app-1", "key-1");
    store.put(&first).await.expect("put");
    let result = store.put(&app("app-2", "key-1")).await;
    assert!(is_key_conflict(&result), "new app, taken key: {result:?}");
    assert_eq!(store.get("app-2").await.expect("get"), None);
    // An existing app moved onto a taken key conflicts too, and keeps its record.
    let second = app("app-2", "key-2");
    store.put(&second).await.expect("put");
    let result = store.put(&app("app-2", "key-1")).await;
    assert!(
        is_key_conflict(&result),
        "existing app, taken key: {result:?}"
    );
    assert_eq!(store.get("app-2").await.expect("get"), Some(second.clone()));
    assert_eq!(
        store.list().await.expect("list"),
        vec![first.clone(), second]
    );
    // Keys compare exactly: another case is another key.
    store
        .put(&app("app-3", "KEY-1"))
        .await
        .expect("keys are case-sensitive");
    // Ids too.
    store
        .put(&app("APP-1", "key-4"))
        .await
        .expect("ids are case-sensitive");
    assert_eq!(store.get("app-1").await.expect("get"), Some(first));
    assert_eq!(
        ids(&store.list().await.expect("list")).len(),
        4,
        "app-1, app-2, app-3, APP-1"
    );
    store.close().await;
}

async fn delete_says_whether_it_removed(db: Db) {
    let store = db.store().await;
    store.put(&full_app("app-1", "key-1")).await.expect("put");
    store.put(&app("app-2", "key-2")).await.expect("put");
    assert!(store.delete("app-1").await.expect("delete"));
    assert!(!store.delete("app-1").await.expect("delete again"));
    assert_eq!(store.get("app-1").await.expect("get"), None);
    assert_eq!(ids(&store.list().await.expect("list")), ["app-2"]);
    // Its key is free again.
    store.put(&app("app-3", "key-1")).await.expect("key reused");
    store.close().await;
}

/// What a cluster does: two nodes, each with its own store on the same database, writing at
/// the same time, both see everything; writes of the same app race without an error.
async fn two_nodes_writing_at_once_both_land(db: Db) {
    let a = Arc::new(db.store().await);
    let b = Arc::new(db.store().await);
    let mut tasks = Vec::new();
    for i in 0..10 {
        for (node, store) in [("a", &a), ("b", &b)] {
            let store = Arc::clone(store);
            tasks.push(tokio::spawn(async move {
                let own = full_app(&format!("{node}-{i}"), &format!("{node}-key-{i}"));
                store.put(&own).await.expect("put of its own app");
                // Both nodes write this one; the last write wins.
                let shared = AppConfig {
                    secret: format!("from-{node}"),
                    ..app(&format!("shared-{i}"), &format!("shared-key-{i}"))
                };
                store.put(&shared).await.expect("put of the shared app");
            }));
        }
    }
    for task in tasks {
        task.await.expect("a writer panicked");
    }
    for store in [&a, &b] {
        let apps = store.list().await.expect("list");
        assert_eq!(apps.len(), 30, "{:?}", ids(&apps));
        for i in 0..10 {
            for node in ["a", "b"] {
                let id = format!("{node}-{i}");
                let own = full_app(&id, &format!("{node}-key-{i}"));
                assert_eq!(store.get(&id).await.expect("get"), Some(own));
            }
            let shared = store
                .get(&format!("shared-{i}"))
                .await
                .expect("get")
                .expect("the shared app is there");
            assert!(
                ["from-a", "from-b"].contains(&shared.secret.as_str()),
                "{shared:?}"
            );
        }
    }
    a.close().await;
    b.close().await;
}

/// The store is durable: a restarted node (a new store on the same file or database, running
/// the migrations again) finds what was written.
async fn a_new_store_on_the_same_database_sees_the_data(db: Db) {
    let first = db.store().await;
    let full = full_app("app-1", "key-1");
    first.put(&full).await.expect("put");
    first.put(&app("app-2", "key-2")).await.expect("put");
    assert!(first.delete("app-2").await.expect("delete"));
    first.close().await;
    drop(first);

    let again = db.store().await;
    assert_eq!(again.list().await.expect("list"), vec![full.clone()]);
    // And writes still work, with the key index intact.
    let result = again.put(&app("app-3", "key-1")).await;
    assert!(is_key_conflict(&result), "{result:?}");
    again.put(&app("app-2", "key-2")).await.expect("put");
    again.close().await;

    let third = db.store().await;
    assert_eq!(ids(&third.list().await.expect("list")), ["app-1", "app-2"]);
    third.close().await;
}

#[tokio::test]
async fn a_database_that_is_down_fails_at_connect_without_its_password() {
    for url in [
        "postgres://postgres:hunter2@127.0.0.1:1/test",
        "mysql://root:hunter2@127.0.0.1:1/test",
    ] {
        let started = std::time::Instant::now();
        match SqlStore::connect(url, "ferrocast_").await {
            Err(StoreError::Unavailable(message)) => {
                assert!(!message.contains("hunter2"), "{message}");
                assert!(
                    message.to_lowercase().contains("refused"),
                    "says why: {message}"
                );
            }
            other => panic!("{url}: {other:?}"),
        }
        assert!(started.elapsed().as_secs() < 5, "fails at once");
    }
    // A file that cannot be created fails too.
    let result = SqlStore::connect("sqlite:///proc/no/such/dir/apps.db?mode=rwc", "p_").await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn unsafe_prefixes_and_unknown_urls_are_refused() {
    let dir = std::env::temp_dir().join(format!("ferrocast-apps-store-bad-{}", std::process::id()));
    let url = sqlite_in(&dir).expect("sqlite_in");
    for prefix in ["x; DROP TABLE y; --", "a-b", "1x"] {
        let result = SqlStore::connect(&url, prefix).await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{prefix:?}: {result:?}"
        );
    }
    let result = SqlStore::connect("redis://127.0.0.1:6379", "p_").await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// MySQL columns have a length: a value too long for one is refused, never cut (which could
/// make two apps' keys equal). The other databases have no limit.
#[tokio::test]
async fn mysql_refuses_an_over_long_key_rather_than_cutting_it() {
    run(Backend::MySql, |db| async move {
        let store = db.store().await;
        let long = "k".repeat(192);
        let result = store.put(&app("app-1", &long)).await;
        assert!(
            matches!(&result, Err(StoreError::Unavailable(m)) if m.contains("too long")),
            "{result:?}"
        );
        assert_eq!(store.get("app-1").await.expect("get"), None);
        store
            .put(&app("app-1", &long[..191]))
            .await
            .expect("191 fits");
        store.close().await;
    })
    .await;
}
