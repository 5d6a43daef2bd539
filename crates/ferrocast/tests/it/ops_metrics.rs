//! The Prometheus endpoint after a scripted scenario, read with a real Prometheus text parser,
//! plus `/usage`.

use crate::harness::{eventually, test_app, TestServer, WsClient};
use ferrocast::config::AppConfig;
use prometheus_parse::{Scrape, Value};
use serde_json::json;

async fn scrape(server: &TestServer) -> Scrape {
    let text = reqwest::get(format!("http://{}/metrics", server.ops_addr))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid Prometheus text")
}

/// The value of the sample `name` whose labels include all of `labels`.
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let sample = s
        .samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"));
    match &sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
        Value::Summary(_) => panic!("{name} is a summary"),
    }
}

#[tokio::test]
async fn metrics_count_a_scripted_scenario() {
    let app = AppConfig {
        max_client_events_per_sec: 1,
        ..test_app()
    };
    let server = TestServer::with_app(app.clone()).await;
    let api = server.api(&app);
    let a_ = [("app", "test-app")];
    let mut a = server.connect("test-key").await;
    let mut b = server.connect("test-key").await;
    let mut c = server.connect("test-key").await;
    a.subscribe("news").await;
    b.join(&app, "presence-room", "u1", json!({})).await;
    b.subscribe_private(&app, "private-chat").await;
    c.subscribe_private(&app, "private-chat").await;
    for i in 0..3 {
        api.publish("news", "e", &i.to_string()).await;
        a.expect("e").await;
    }
    b.send(json!({"event": "client-x", "channel": "private-chat", "data": {}}))
        .await;
    c.expect("client-x").await;
    b.send(json!({"event": "client-x", "channel": "private-chat", "data": {}}))
        .await;
    b.expect_error(4301).await;
    let (status, _) = api
        .request_as(
            "POST",
            "/apps/test-app/events",
            &[],
            Some(&json!({})),
            "wrong",
            crate::harness::now(),
        )
        .await;
    assert_eq!(status, 401);
    WsClient::open(&server.ws_url("test-key", "client=js"))
        .await
        .expect_error_and_close(4008)
        .await;

    let s = scrape(&server).await;
    assert_eq!(value(&s, "ferrocast_connections", &a_), 3.0);
    assert_eq!(value(&s, "ferrocast_connections_opened_total", &a_), 3.0);
    assert_eq!(
        value(
            &s,
            "ferrocast_connections_refused_total",
            &[("app", "test-app"), ("code", "4008")]
        ),
        1.0
    );
    assert_eq!(value(&s, "ferrocast_channels", &a_), 3.0);
    assert_eq!(value(&s, "ferrocast_subscriptions", &a_), 4.0);
    assert_eq!(value(&s, "ferrocast_presence_members", &a_), 1.0);
    assert_eq!(
        value(
            &s,
            "ferrocast_events_published_total",
            &[("app", "test-app"), ("source", "api")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &s,
            "ferrocast_events_published_total",
            &[("app", "test-app"), ("source", "client")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "ferrocast_rate_limited_total",
            &[("app", "test-app"), ("limit", "client_events")]
        ),
        1.0
    );
    let events = [("app", "test-app"), ("endpoint", "/apps/:app_id/events")];
    assert_eq!(
        value(
            &s,
            "ferrocast_http_requests_total",
            &[events[0], events[1], ("status", "200")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &s,
            "ferrocast_http_requests_total",
            &[events[0], events[1], ("status", "401")]
        ),
        1.0
    );
    // Messages in: a subscribe, b join+subscribe+2 client events, c subscribe.
    assert_eq!(value(&s, "ferrocast_ws_messages_received_total", &a_), 6.0);
    assert!(value(&s, "ferrocast_ws_bytes_received_total", &a_) > 100.0);
    // Out: exactly what the clients read above (a: 5, b: 4, c: 3).
    assert_eq!(value(&s, "ferrocast_ws_messages_sent_total", &a_), 12.0);
    assert!(value(&s, "ferrocast_http_bytes_received_total", &a_) > 0.0);
    assert!(value(&s, "ferrocast_delivery_latency_seconds_count", &a_) >= 1.0);
    assert!(
        s.docs.contains_key("ferrocast_connections"),
        "metrics carry HELP text"
    );

    drop(a);
    let app_state = server.shared.apps.by_key("test-key").expect("app");
    eventually("a's connection is gone", || app_state.connections() == 2).await;
    let s = scrape(&server).await;
    assert_eq!(value(&s, "ferrocast_connections", &a_), 2.0);
    assert_eq!(value(&s, "ferrocast_connections_closed_total", &a_), 1.0);
    assert_eq!(
        value(&s, "ferrocast_channels", &a_),
        2.0,
        "news is no longer occupied"
    );
}

#[tokio::test]
async fn slow_consumer_disconnects_are_counted() {
    let mut cfg = crate::harness::config(vec![test_app()]);
    cfg.outbox_capacity = 4;
    cfg.write_timeout = 1;
    let server = TestServer::with_config(cfg).await;
    let api = server.api(&test_app());
    let mut slow = server.connect("test-key").await;
    slow.subscribe("firehose").await;
    let payload = "x".repeat(10 * 1024);
    let app = server.shared.apps.by_key("test-key").expect("app");
    for _ in 0..200 {
        if app.channels.counts("firehose").subscriptions == 0 {
            break;
        }
        let batch: Vec<_> = (0..10)
            .map(|_| json!({"channel": "firehose", "name": "big", "data": payload}))
            .collect();
        api.post("/batch_events", json!({"batch": batch})).await;
    }
    eventually("the slow consumer is dropped", || app.connections() == 0).await;
    let s = scrape(&server).await;
    assert_eq!(
        value(
            &s,
            "ferrocast_slow_consumer_disconnects_total",
            &[("app", "test-app")]
        ),
        1.0
    );
    drop(slow);
}

#[tokio::test]
async fn usage_reports_memory_and_connections() {
    let server = TestServer::start().await;
    let _a = server.connect("test-key").await;
    let _b = server.connect("test-key").await;
    let usage: serde_json::Value = reqwest::get(format!("http://{}/usage", server.ops_addr))
        .await
        .expect("usage")
        .json()
        .await
        .expect("json");
    assert_eq!(usage["connections"], 2);
    assert_eq!(usage["apps"]["test-app"]["connections"], 2);
    assert!(usage["memory"]["rss_bytes"].as_u64().expect("rss") > 1_000_000);
    assert_eq!(usage["draining"], false);
}

#[tokio::test]
async fn history_metrics_count_appends_and_recoveries() {
    use crate::harness::history::{events, history_app, subscribe_history, Pos};
    let app = history_app(2, 60);
    let server = TestServer::with_app(app.clone()).await;
    let api = server.api(&app);
    let mut c = server.connect("test-key").await;
    let start = Pos::of(&subscribe_history(&mut c, "history-m", None).await);
    for i in 0..3 {
        api.publish("history-m", "e", &i.to_string()).await;
    }
    let last = Pos::of(&events(&mut c, "history-m", 3).await[2]);
    // One recovery that works, one from an evicted position.
    subscribe_history(
        &mut server.connect("test-key").await,
        "history-m",
        Some(&last),
    )
    .await;
    subscribe_history(
        &mut server.connect("test-key").await,
        "history-m",
        Some(&start),
    )
    .await;
    let s = scrape(&server).await;
    let a = ("app", "test-app");
    let appends = "ferrocast_history_appends_total";
    assert_eq!(value(&s, appends, &[a, ("result", "ok")]), 3.0);
    assert_eq!(value(&s, appends, &[a, ("result", "error")]), 0.0);
    let recoveries = "ferrocast_history_recoveries_total";
    assert_eq!(value(&s, recoveries, &[a, ("outcome", "recovered")]), 1.0);
    assert_eq!(
        value(&s, recoveries, &[a, ("outcome", "not_recovered")]),
        1.0
    );
}
