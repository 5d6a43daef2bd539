//! History channels on one node: positions on events and in subscription_succeeded, recovery
//! after a disconnect (in order, no gap, no duplicate, even while publishes continue), and the
//! cases that cannot be recovered (evicted, expired, another epoch).

use crate::harness::history::{events, history_app, offsets, subscribe_history, Pos};
use crate::harness::{config, temp_dir, TestServer};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn events_carry_positions_and_subscribing_reports_the_current_one() {
    let app = history_app(100, 60);
    let server = TestServer::with_app(app.clone()).await;
    let api = server.api(&app);
    let mut c = server.connect("test-key").await;
    let d = subscribe_history(&mut c, "history-a", None).await;
    assert_eq!(Pos::of(&d).offset, 0);
    assert!(
        d.get("recovered").is_none(),
        "recovered only when asked: {d}"
    );
    for i in 1..=3 {
        api.publish("history-a", "e", &format!("{i}")).await;
    }
    let got = events(&mut c, "history-a", 3).await;
    assert_eq!(offsets(&got), vec![1, 2, 3]);
    let epoch = Pos::of(&d).epoch;
    for (i, f) in got.iter().enumerate() {
        assert_eq!(f["event"], "e");
        assert_eq!(f["data"], format!("{}", i + 1));
        assert_eq!(f["epoch"], epoch.as_str());
        assert!(f["id"].as_str().is_some_and(|id| !id.is_empty()), "{f}");
    }
    let ids: std::collections::HashSet<_> = got.iter().map(|f| f["id"].clone()).collect();
    assert_eq!(ids.len(), 3, "ids are unique");
    // Other channels are untouched: no position fields.
    c.subscribe("news").await;
    api.publish("news", "e", "x").await;
    let f = c.expect("e").await;
    assert_eq!(f, json!({"event": "e", "channel": "news", "data": "x"}));
    // A second subscriber starts at the current position.
    let mut late = server.connect("test-key").await;
    let d = subscribe_history(&mut late, "history-a", None).await;
    assert_eq!(Pos::of(&d), Pos { epoch, offset: 3 });
    late.expect_silence().await;
}

#[tokio::test]
async fn a_client_back_from_a_disconnect_gets_what_it_missed_in_order_then_live() {
    let app = history_app(500, 60);
    let server = TestServer::with_app(app.clone()).await;
    let api = server.api(&app);
    let mut c = server.connect("test-key").await;
    subscribe_history(&mut c, "history-b", None).await;
    api.publish("history-b", "e", "first").await;
    let last = Pos::of(&events(&mut c, "history-b", 1).await[0]);
    drop(c);
    for i in 0..100 {
        api.publish("history-b", "e", &format!("missed-{i}")).await;
    }
    let mut c = server.connect("test-key").await;
    let d = subscribe_history(&mut c, "history-b", Some(&last)).await;
    assert_eq!(d["recovered"], true, "{d}");
    assert_eq!(Pos::of(&d).offset, 101);
    let replay = events(&mut c, "history-b", 100).await;
    assert_eq!(offsets(&replay), (2..=101).collect::<Vec<_>>());
    assert_eq!(replay[0]["data"], "missed-0");
    assert_eq!(replay[99]["data"], "missed-99");
    api.publish("history-b", "e", "live").await;
    let live = events(&mut c, "history-b", 1).await;
    assert_eq!(
        (live[0]["data"].clone(), Pos::of(&live[0]).offset),
        (json!("live"), 102)
    );
    c.expect_silence().await;
}

/// Publishes run without pause while a client disconnects and recovers again and again: every
/// offset arrives exactly once, in order.
#[tokio::test]
async fn recovery_while_publishing_has_no_gap_and_no_duplicate() {
    const TOTAL: u64 = 400;
    let app = history_app(1000, 60);
    let server = TestServer::with_app(app.clone()).await;
    let api = server.api(&app);
    let mut c = server.connect("test-key").await;
    let d = subscribe_history(&mut c, "history-c", None).await;
    let mut last = Pos::of(&d);
    let publisher = tokio::spawn(async move {
        for i in 1..=TOTAL {
            api.publish("history-c", "e", &i.to_string()).await;
        }
    });
    let mut seen = Vec::new();
    let mut round = 0;
    while last.offset < TOTAL {
        round += 1;
        // Read a few, then drop the connection and come back from the last one seen.
        let n = (1 + round % 7).min((TOTAL - last.offset) as usize);
        for f in events(&mut c, "history-c", n).await {
            seen.push(Pos::of(&f).offset);
            last = Pos::of(&f);
        }
        if last.offset == TOTAL {
            break;
        }
        drop(c);
        c = server.connect("test-key").await;
        let d = subscribe_history(&mut c, "history-c", Some(&last)).await;
        assert_eq!(d["recovered"], true, "round {round}: {d}");
    }
    publisher.await.expect("publisher");
    assert_eq!(
        seen,
        (1..=TOTAL).collect::<Vec<_>>(),
        "gap or duplicate after {round} rounds"
    );
    assert!(round > 5, "the test reconnected only {round} times");
}

#[tokio::test]
async fn concurrent_publishes_are_stored_and_delivered_in_one_order() {
    // Publishes that queue up behind each other are appended together (one SQLite
    // transaction); each must still get its own offset, in the order it is delivered.
    const PUBLISHERS: usize = 8;
    const EACH: usize = 25;
    let app = history_app(1000, 60);
    let mut cfg = config(vec![app.clone()]);
    cfg.history.store = ferrocast::config::HistoryStoreKind::Sqlite;
    cfg.data_dir = temp_dir("history-grouped");
    let server = TestServer::with_config(cfg).await;
    let mut c = server.connect("test-key").await;
    subscribe_history(&mut c, "history-g", None).await;
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let api = server.api(&app);
            tokio::spawn(async move {
                for i in 0..EACH {
                    api.publish("history-g", "e", &format!("{p}-{i}")).await;
                }
            })
        })
        .collect();
    let frames = events(&mut c, "history-g", PUBLISHERS * EACH).await;
    for p in publishers {
        p.await.expect("publisher");
    }
    let total = (PUBLISHERS * EACH) as u64;
    assert_eq!(offsets(&frames), (1..=total).collect::<Vec<_>>());
    // Each publisher's events arrive in the order it sent them.
    let mut next = [0usize; PUBLISHERS];
    for f in &frames {
        let data = f["data"].as_str().expect("data");
        let (p, i) = data.split_once('-').expect("p-i");
        let (p, i): (usize, usize) = (p.parse().expect("p"), i.parse().expect("i"));
        assert_eq!(i, next[p], "publisher {p} out of order at {data}");
        next[p] += 1;
    }
    // What was stored is what was delivered, offset for offset.
    let mut again = server.connect("test-key").await;
    let from_start = Pos {
        epoch: Pos::of(&frames[0]).epoch,
        offset: 0,
    };
    let d = subscribe_history(&mut again, "history-g", Some(&from_start)).await;
    assert_eq!(d["recovered"], true, "{d}");
    let replayed = events(&mut again, "history-g", PUBLISHERS * EACH).await;
    let data = |fs: &[serde_json::Value]| -> Vec<String> {
        fs.iter().map(|f| f["data"].to_string()).collect()
    };
    assert_eq!(data(&replayed), data(&frames));
    assert_eq!(offsets(&replayed), offsets(&frames));
}

#[tokio::test]
async fn positions_that_cannot_be_served_say_recovered_false() {
    let app = history_app(5, 60);
    let server = TestServer::with_app(app.clone()).await;
    let api = server.api(&app);
    let mut c = server.connect("test-key").await;
    let d = subscribe_history(&mut c, "history-d", None).await;
    let epoch = Pos::of(&d).epoch;
    for i in 1..=10 {
        api.publish("history-d", "e", &i.to_string()).await;
    }
    let cases = [
        (
            "evicted: only 6..=10 are kept",
            Pos {
                epoch: epoch.clone(),
                offset: 2,
            },
        ),
        (
            "another epoch",
            Pos {
                epoch: "not-it".into(),
                offset: 9,
            },
        ),
        (
            "an offset not reached yet",
            Pos {
                epoch: epoch.clone(),
                offset: 99,
            },
        ),
    ];
    for (why, pos) in cases {
        let mut c = server.connect("test-key").await;
        let d = subscribe_history(&mut c, "history-d", Some(&pos)).await;
        assert_eq!(d["recovered"], false, "{why}: {d}");
        assert_eq!(
            Pos::of(&d),
            Pos {
                epoch: epoch.clone(),
                offset: 10
            },
            "{why}"
        );
        c.expect_silence().await;
    }
    // The oldest kept one still works: from 5, the replay is 6..=10.
    let mut c = server.connect("test-key").await;
    let d = subscribe_history(&mut c, "history-d", Some(&Pos { epoch, offset: 5 })).await;
    assert_eq!(d["recovered"], true, "{d}");
    assert_eq!(
        offsets(&events(&mut c, "history-d", 5).await),
        vec![6, 7, 8, 9, 10]
    );
}

#[tokio::test]
async fn expired_messages_cannot_be_recovered_and_an_idle_stream_gets_a_new_epoch() {
    let app = history_app(100, 1);
    let mut cfg = config(vec![app.clone()]);
    cfg.history.meta_ttl = 2;
    let server = TestServer::with_config(cfg).await;
    let api = server.api(&app);
    let mut c = server.connect("test-key").await;
    let start = Pos::of(&subscribe_history(&mut c, "history-e", None).await);
    api.publish("history-e", "e", "1").await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let mut c = server.connect("test-key").await;
    let d = subscribe_history(&mut c, "history-e", Some(&start)).await;
    assert_eq!(d["recovered"], false, "the message expired after 1 s: {d}");
    assert_eq!(
        Pos::of(&d),
        Pos {
            epoch: start.epoch.clone(),
            offset: 1
        }
    );
    // Two seconds without a publish: the stream starts over with a new epoch.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    api.publish("history-e", "e", "2").await;
    let f = events(&mut c, "history-e", 1).await.remove(0);
    let now = Pos::of(&f);
    assert_ne!(now.epoch, start.epoch);
    assert_eq!(now.offset, 1);
    let mut c = server.connect("test-key").await;
    let d = subscribe_history(
        &mut c,
        "history-e",
        Some(&Pos {
            epoch: start.epoch,
            offset: 1,
        }),
    )
    .await;
    assert_eq!(d["recovered"], false, "old epoch: {d}");
}

#[tokio::test]
async fn client_events_and_presence_channels_keep_history_too() {
    let app = history_app(100, 60);
    let server = TestServer::with_app(app.clone()).await;
    let mut a = server.connect("test-key").await;
    let mut b = server.connect("test-key").await;
    let members = a
        .join(&app, "presence-history-room", "1", json!({"name": "A"}))
        .await;
    assert_eq!(members["count"], 1);
    b.join(&app, "presence-history-room", "2", json!(null))
        .await;
    a.expect("pusher_internal:member_added").await;
    b.send(json!({"event": "client-typing", "channel": "presence-history-room", "data": {"n": 1}}))
        .await;
    let f = a.expect("client-typing").await;
    assert_eq!(f["user_id"], "2");
    assert_eq!(f["data"], json!({"n": 1}));
    let first = Pos::of(&f);
    assert_eq!(first.offset, 1);
    // A comes back from before the event: the replay has it, with its user_id.
    let mut a2 = server.connect("test-key").await;
    let cd = json!({"user_id": "1", "user_info": {"name": "A"}}).to_string();
    let auth = a2.auth(&app, "presence-history-room", Some(&cd));
    a2.subscribe_raw(
        json!({"channel": "presence-history-room", "auth": auth, "channel_data": cd,
        "recover": {"epoch": first.epoch, "offset": 0}}),
    )
    .await;
    let d = a2.expect_succeeded("presence-history-room").await;
    assert_eq!(d["recovered"], true, "{d}");
    assert_eq!(
        d["presence"]["count"], 2,
        "the member list is still there: {d}"
    );
    let replay = a2.expect("client-typing").await;
    assert_eq!(
        (replay["user_id"].clone(), replay["data"].clone()),
        (json!("2"), json!({"n": 1}))
    );
    assert_eq!(replay["id"], f["id"]);
}
