//! `GET /apps/{id}/channels/{name}/history` (pages, bounds, errors) and idempotent publishes.

use crate::harness::history::{events, history_app, offsets, subscribe_history};
use crate::harness::{assert_error, TestServer};
use serde_json::{json, Value};

fn message_offsets(body: &Value) -> Vec<u64> {
    body["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages in {body}"))
        .iter()
        .map(|m| m["offset"].as_u64().unwrap_or(0))
        .collect()
}

#[tokio::test]
async fn history_pages_forward_and_backward_with_bounds() {
    let app = history_app(100, 60);
    let server = TestServer::with_app(app.clone()).await;
    let api = server.api(&app);
    for i in 1..=25 {
        api.publish("history-log", "e", &format!("{{\"n\":{i}}}"))
            .await;
    }
    let path = "/channels/history-log/history";
    // Newest first by default, 10 per page, following `next` to the start.
    let mut seen = Vec::new();
    let mut params: Vec<(&str, String)> = vec![("limit", "10".into())];
    loop {
        let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = api.get(path, &p).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["offset"], 25);
        seen.extend(message_offsets(&body));
        match body["next"]["until"].as_u64() {
            Some(until) => params = vec![("limit", "10".into()), ("until", until.to_string())],
            None => {
                assert!(body["next"].is_null(), "{body}");
                break;
            }
        }
    }
    assert_eq!(seen, (1..=25).rev().collect::<Vec<_>>());
    // Forward from an offset.
    let (_, body) = api
        .get(
            path,
            &[("direction", "forward"), ("since", "20"), ("limit", "3")],
        )
        .await;
    assert_eq!(message_offsets(&body), vec![20, 21, 22]);
    assert_eq!(body["next"], json!({"since": 23}));
    let m = &body["messages"][0];
    assert_eq!(
        (m["event"].clone(), m["data"].clone()),
        (json!("e"), json!("{\"n\":20}"))
    );
    assert!(
        m["id"].is_string() && m["time"].as_u64().is_some_and(|t| t > 0),
        "{m}"
    );
    // Until bounds and time bounds.
    let (_, body) = api
        .get(
            path,
            &[("direction", "forward"), ("since", "3"), ("until", "5")],
        )
        .await;
    assert_eq!(message_offsets(&body), vec![3, 4, 5]);
    assert!(body["next"].is_null());
    let t20 = body_time(&api, path, 20).await;
    let (_, body) = api
        .get(
            path,
            &[("since_time", &t20.to_string()), ("direction", "forward")],
        )
        .await;
    assert!(
        message_offsets(&body).first().is_some_and(|&o| o <= 20),
        "{body}"
    );
    assert_eq!(message_offsets(&body).last(), Some(&25));
    let (_, body) = api.get(path, &[("until_time", "1")]).await;
    assert_eq!(message_offsets(&body), Vec::<u64>::new());
}

async fn body_time(api: &crate::harness::ApiClient, path: &str, offset: u64) -> u64 {
    let o = offset.to_string();
    let (_, body) = api.get(path, &[("since", &o), ("until", &o)]).await;
    body["messages"][0]["time"].as_u64().expect("time")
}

#[tokio::test]
async fn history_requests_are_checked() {
    let app = history_app(10, 60);
    let server = TestServer::with_app(app.clone()).await;
    let api = server.api(&app);
    let path = "/channels/history-x/history";
    for bad in [
        vec![("limit", "0")],
        vec![("limit", "1001")],
        vec![("limit", "ten")],
        vec![("direction", "sideways")],
        vec![("since", "-1")],
        vec![("until_time", "soon")],
    ] {
        assert_error(&api.get(path, &bad).await, 400, "invalid_history_query");
    }
    assert_error(
        &api.get("/channels/news/history", &[]).await,
        400,
        "history_not_enabled",
    );
    assert_error(
        &api.get("/channels/bad!name/history", &[]).await,
        400,
        "invalid_channel",
    );
    let full_path = format!("/apps/{}{path}", app.id);
    let unsigned = api
        .request_as(
            "GET",
            &full_path,
            &[],
            None,
            "not-the-secret",
            crate::harness::now(),
        )
        .await;
    assert_error(&unsigned, 401, "invalid_signature");
    // A channel never published to has a position and no messages.
    let (status, body) = api.get(path, &[]).await;
    assert_eq!(
        (status, body["offset"].clone(), body["messages"].clone()),
        (200, json!(0), json!([]))
    );
}

#[tokio::test]
async fn a_publish_retried_with_its_idempotency_key_is_delivered_once() {
    let app = history_app(100, 60);
    let server = TestServer::with_app(app.clone()).await;
    let api = server.api(&app);
    let mut c = server.connect("test-key").await;
    subscribe_history(&mut c, "history-pay", None).await;
    c.subscribe("plain").await;
    let body = json!({"name": "paid", "channels": ["history-pay", "plain"], "data": "1",
        "idempotency_key": "order-42"});
    for _ in 0..3 {
        let (status, resp) = api.post("/events", body.clone()).await;
        assert_eq!(status, 200, "{resp}");
    }
    let got = events(&mut c, "history-pay", 1).await;
    assert_eq!(offsets(&got), vec![1]);
    c.expect("paid").await;
    c.expect_silence().await;
    // In a batch, per event; another key goes through.
    let batch = json!({"batch": [
        {"name": "b", "channel": "history-pay", "data": "x", "idempotency_key": "order-42"},
        {"name": "b", "channel": "history-pay", "data": "y", "idempotency_key": "order-43"},
        {"name": "b", "channel": "history-pay", "data": "z", "idempotency_key": "order-43"},
    ]});
    let (status, resp) = api.post("/batch_events", batch).await;
    assert_eq!(status, 200, "{resp}");
    let got = events(&mut c, "history-pay", 1).await;
    assert_eq!(got[0]["data"], "y");
    c.expect_silence().await;
    let (_, hist) = api.get("/channels/history-pay/history", &[]).await;
    assert_eq!(message_offsets(&hist), vec![2, 1]);
    for bad in [json!(""), json!("k".repeat(201))] {
        let body = json!({"name": "e", "channel": "plain", "data": "1", "idempotency_key": bad});
        assert_error(
            &api.post("/events", body).await,
            400,
            "invalid_idempotency_key",
        );
    }
}
