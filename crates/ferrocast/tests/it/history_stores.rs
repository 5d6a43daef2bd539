//! The history stores: the same contract checked on memory, SQLite and the real Redis; the
//! SQLite store across a server restart; the Redis store shared by a cluster, where a client
//! recovers on another node than the one it left.

use bytes::Bytes;
use ferrocast::config::{AdapterKind, HistoryStoreKind};
use ferrocast::history::{
    Append, HistoryStore, MemoryStore, Query, RedisStore, Retention, SqliteStore, StreamKey,
};
use serde_json::json;
use std::path::PathBuf;

use crate::harness::cluster::{node_config, unique_prefix, wait_meshed, REDIS};
use crate::harness::history::{events, history_app, offsets, subscribe_history, Pos};
use crate::harness::{config, TestServer};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrocast-{name}-{}", unique_prefix()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

const RETENTION: Retention = Retention {
    size: 5,
    ttl_ms: 60_000,
    meta_ttl_ms: 600_000,
};

/// The contract every store keeps: offsets from 1, size trimming, bounded reads both ways,
/// TTL on read, a new epoch once the metadata expires, streams kept apart.
async fn check_store(store: &dyn HistoryStore, app: &str) {
    let key = StreamKey {
        app,
        channel: "history-s",
    };
    let t0 = 1_000_000;
    let empty = store
        .read(
            key,
            RETENTION,
            Query {
                limit: 10,
                ..Default::default()
            },
            t0,
        )
        .await
        .expect("read");
    assert_eq!(
        (empty.position.offset, empty.messages.len()),
        (0, 0),
        "{}",
        store.name()
    );
    let epoch = empty.position.epoch.clone();
    for i in 1..=7u64 {
        let body = Bytes::from(format!("{{\"n\":{i}}}"));
        let pos = store
            .append(key, RETENTION, &format!("id{i}"), body, t0 + i)
            .await
            .expect("append");
        assert_eq!(
            (pos.epoch.as_str(), pos.offset),
            (epoch.as_str(), i),
            "{}",
            store.name()
        );
    }
    let all = Query {
        limit: 100,
        ..Default::default()
    };
    let page = store
        .read(key, RETENTION, all, t0 + 10)
        .await
        .expect("read");
    let got: Vec<u64> = page.messages.iter().map(|m| m.offset).collect();
    assert_eq!(
        got,
        vec![3, 4, 5, 6, 7],
        "{}: size 5 keeps the last five",
        store.name()
    );
    assert_eq!(page.messages[0].id, "id3");
    assert_eq!(page.messages[0].time_ms, t0 + 3);
    assert_eq!(&page.messages[0].body[..], b"{\"n\":3}");
    let q = Query {
        from_offset: Some(4),
        to_offset: Some(6),
        limit: 2,
        newest_first: true,
        ..Default::default()
    };
    let page = store.read(key, RETENTION, q, t0 + 10).await.expect("read");
    assert_eq!(
        page.messages.iter().map(|m| m.offset).collect::<Vec<_>>(),
        vec![6, 5],
        "{}",
        store.name()
    );
    let q = Query {
        from_ms: Some(t0 + 5),
        limit: 100,
        ..Default::default()
    };
    let page = store.read(key, RETENTION, q, t0 + 10).await.expect("read");
    assert_eq!(
        page.messages.iter().map(|m| m.offset).collect::<Vec<_>>(),
        vec![5, 6, 7],
        "{}",
        store.name()
    );
    // Past the TTL of the first ones.
    let page = store
        .read(key, RETENTION, all, t0 + 60_000 + 5)
        .await
        .expect("read");
    assert_eq!(
        page.messages.iter().map(|m| m.offset).collect::<Vec<_>>(),
        vec![5, 6, 7],
        "{}: TTL",
        store.name()
    );
    // Another channel is another stream.
    let other = StreamKey {
        app,
        channel: "history-t",
    };
    let pos = store
        .append(other, RETENTION, "x", Bytes::from_static(b"{}"), t0 + 20)
        .await
        .expect("append");
    assert_eq!(pos.offset, 1, "{}", store.name());
    // Idle past the metadata TTL: a new epoch, offsets from 1.
    let later = t0 + 7 + RETENTION.meta_ttl_ms + 1;
    let pos = store
        .append(key, RETENTION, "new", Bytes::from_static(b"{}"), later)
        .await
        .expect("append");
    assert_ne!(pos.epoch, epoch, "{}", store.name());
    assert_eq!(pos.offset, 1, "{}", store.name());
    let page = store.read(key, RETENTION, all, later).await.expect("read");
    // The sweep drops expired messages for good: read as of `later`, none of them is left.
    store
        .sweep(later + RETENTION.ttl_ms + 1, RETENTION.meta_ttl_ms)
        .await
        .expect("sweep");
    let swept = store.read(key, RETENTION, all, later).await.expect("read");
    if store.name() == "sqlite" {
        assert_eq!(swept.messages.len(), 0, "sqlite: swept");
    }
    assert_eq!(
        page.messages.len(),
        1,
        "{}: the old epoch's messages are gone",
        store.name()
    );
    check_append_many(store, app).await;
}

/// Several appends in one call (a lane's queued events): in order, each stream counting on
/// from where it was, interleaved streams kept apart, and trimmed as single appends are.
async fn check_append_many(store: &dyn HistoryStore, app: &str) {
    let (a, b) = (
        StreamKey {
            app,
            channel: "history-many-a",
        },
        StreamKey {
            app,
            channel: "history-many-b",
        },
    );
    let t0 = 5_000_000;
    let first = store
        .append(a, RETENTION, "a0", Bytes::from_static(b"{\"n\":0}"), t0)
        .await
        .expect("append");
    let ids: Vec<String> = (1..=8).map(|i| format!("m{i}")).collect();
    let items: Vec<Append<'_>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| Append {
            key: if i % 4 == 3 { b } else { a },
            retention: RETENTION,
            id,
            body: Bytes::from(format!("{{\"n\":{}}}", i + 1)),
        })
        .collect();
    let positions: Vec<u64> = store
        .append_many(&items, t0 + 1)
        .await
        .into_iter()
        .map(|r| r.expect("append_many").offset)
        .collect();
    // a: n=0 before (offset 1), then n=1, 2, 3, 5, 6, 7 (offsets 2 to 7); b: n=4 and 8.
    assert_eq!(positions, vec![2, 3, 4, 1, 5, 6, 7, 2], "{}", store.name());
    let all = Query {
        limit: 100,
        ..Default::default()
    };
    let page = store.read(a, RETENTION, all, t0 + 2).await.expect("read");
    assert_eq!(page.position.epoch, first.epoch, "{}", store.name());
    let kept: Vec<(u64, String)> = page
        .messages
        .iter()
        .map(|m| (m.offset, String::from_utf8_lossy(&m.body).into_owned()))
        .collect();
    let want: Vec<(u64, String)> = [(3, 2), (4, 3), (5, 5), (6, 6), (7, 7)]
        .into_iter()
        .map(|(o, n)| (o, format!("{{\"n\":{n}}}")))
        .collect();
    assert_eq!(kept, want, "{}: trimmed to the last five", store.name());
    let page = store.read(b, RETENTION, all, t0 + 2).await.expect("read");
    let offsets: Vec<u64> = page.messages.iter().map(|m| m.offset).collect();
    assert_eq!(offsets, vec![1, 2], "{}", store.name());
}

#[tokio::test]
async fn every_store_keeps_the_same_contract() {
    check_store(&MemoryStore::default(), "app").await;
    let sqlite = SqliteStore::open(&temp_dir("history-store"))
        .await
        .expect("sqlite");
    check_store(&sqlite, "app").await;
    let redis = RedisStore::new(&format!("redis://{REDIS}"), &unique_prefix()).expect("redis");
    check_store(&redis, "app").await;
}

#[tokio::test]
async fn the_sqlite_history_survives_a_restart() {
    let app = history_app(100, 600);
    let dir = temp_dir("history-restart");
    let cfg = || {
        let mut c = config(vec![app.clone()]);
        c.history.store = HistoryStoreKind::Sqlite;
        c.data_dir = dir.clone();
        c
    };
    let server = TestServer::with_config(cfg()).await;
    let api = server.api(&app);
    let mut c = server.connect("test-key").await;
    subscribe_history(&mut c, "history-r", None).await;
    api.publish("history-r", "e", "1").await;
    let last = Pos::of(&events(&mut c, "history-r", 1).await[0]);
    drop(c);
    for i in 2..=4 {
        api.publish("history-r", "e", &i.to_string()).await;
    }
    server.shutdown().await;
    assert!(dir.join("history.db").exists());

    let server = TestServer::with_config(cfg()).await;
    let api = server.api(&app);
    let mut c = server.connect("test-key").await;
    let d = subscribe_history(&mut c, "history-r", Some(&last)).await;
    assert_eq!(d["recovered"], true, "{d}");
    let replay = events(&mut c, "history-r", 3).await;
    assert_eq!(offsets(&replay), vec![2, 3, 4]);
    api.publish("history-r", "e", "5").await;
    let live = Pos::of(&events(&mut c, "history-r", 1).await[0]);
    assert_eq!(
        live,
        Pos {
            epoch: last.epoch,
            offset: 5
        },
        "numbering goes on after the restart"
    );
}

/// Two nodes share Redis for the bus and the history: publishes through either node are
/// numbered by one counter, and a client that left node A recovers on node B.
#[tokio::test]
async fn a_cluster_shares_the_redis_history() {
    let app = history_app(500, 600);
    let prefix = unique_prefix();
    let mut cluster = Vec::new();
    for _ in 0..2 {
        let mut cfg = node_config(AdapterKind::Redis, REDIS, &prefix, vec![app.clone()]);
        cfg.history.store = HistoryStoreKind::Redis;
        // The shared Redis keeps nothing of this test for long.
        cfg.history.meta_ttl = 600;
        cluster.push(TestServer::with_config(cfg).await);
    }
    wait_meshed(&cluster).await;
    let (a, b) = (&cluster[0], &cluster[1]);
    let (api_a, api_b) = (a.api(&app), b.api(&app));
    let mut c = a.connect("test-key").await;
    subscribe_history(&mut c, "history-k", None).await;
    api_b.publish("history-k", "e", "0").await;
    let last = Pos::of(&events(&mut c, "history-k", 1).await[0]);
    assert_eq!(last.offset, 1);
    drop(c);
    for i in 1..=100 {
        let api = if i % 2 == 0 { &api_a } else { &api_b };
        api.publish("history-k", "e", &i.to_string()).await;
    }
    let mut c = b.connect("test-key").await;
    let d = subscribe_history(&mut c, "history-k", Some(&last)).await;
    assert_eq!(d["recovered"], true, "{d}");
    let replay = events(&mut c, "history-k", 100).await;
    assert_eq!(offsets(&replay), (2..=101).collect::<Vec<_>>());
    assert_eq!(replay[99]["data"], "100");
    // An idempotency key is claimed cluster-wide.
    let body =
        json!({"name": "once", "channel": "history-k", "data": "x", "idempotency_key": "k1"});
    for api in [&api_a, &api_b, &api_a] {
        let (status, resp) = api.post("/events", body.clone()).await;
        assert_eq!(status, 200, "{resp}");
    }
    let got = events(&mut c, "history-k", 1).await;
    assert_eq!(
        (got[0]["event"].clone(), Pos::of(&got[0]).offset),
        (json!("once"), 102)
    );
    c.expect_silence().await;
}
