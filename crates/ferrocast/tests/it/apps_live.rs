//! Apps as data on a real SQLite store: created with the CLI and usable at once, secrets
//! rotated with a window, apps disabled or deleted under live connections — on every node.

use crate::harness::cluster::{node_config, unique_prefix, wait_meshed, REDIS};
use crate::harness::{assert_error, config, eventually_async, ApiClient, TestServer, WsClient};
use ferrocast::config::{AdapterKind, AppConfig, Config};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

const TOKEN: &str = "admin-token-for-tests";

fn temp_dir() -> PathBuf {
    crate::harness::temp_dir("apps")
}

fn with_store(mut cfg: Config, dir: &std::path::Path) -> Config {
    cfg.app_store = format!("sqlite://{}?mode=rwc", dir.join("apps.db").display());
    cfg.admin_token = Some(TOKEN.into());
    cfg.apps_reload_ms = 500;
    cfg
}

async fn admin(server: &TestServer, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("http://{}/admin/apps{path}", server.addr);
    let http = reqwest::Client::new();
    let req = match method {
        "GET" => http.get(url),
        "PATCH" => http.patch(url),
        "DELETE" => http.delete(url),
        _ => http.post(url),
    };
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let resp = req.bearer_auth(TOKEN).send().await.expect("admin request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn cli(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrocast"))
        .args(args)
        .output()
        .expect("run ferrocast apps");
    assert!(
        out.status.success(),
        "ferrocast {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--json output")
}

fn app_of(v: &Value) -> AppConfig {
    serde_json::from_value(v.clone()).expect("a whole app record")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_created_with_the_cli_works_at_once() {
    let dir = temp_dir();
    let server = TestServer::with_config(with_store(config(vec![]), &dir)).await;
    let url = format!("http://{}", server.addr);
    let created = tokio::task::spawn_blocking(move || {
        cli(&[
            "apps",
            "--url",
            &url,
            "--token",
            TOKEN,
            "--json",
            "create",
            "--set",
            "max_connections=50",
        ])
    })
    .await
    .expect("cli");
    let app = app_of(&created);
    assert_eq!(app.max_connections, 50);
    let mut c = server.connect(&app.key).await;
    c.subscribe_private(&app, "private-new").await;
    ApiClient::new(format!("http://{}", server.addr), app.clone())
        .publish("private-new", "hello", "1")
        .await;
    assert_eq!(c.expect("hello").await["data"], "1");
    // The local mode reads the same store.
    let store = format!("sqlite://{}?mode=rwc", dir.join("apps.db").display());
    let listed = tokio::task::spawn_blocking(move || {
        let cfg = std::env::temp_dir().join(format!("{}.toml", unique_prefix()));
        std::fs::write(&cfg, format!("app_store = {store:?}\n")).expect("config");
        cli(&[
            "apps",
            "--config",
            cfg.to_str().expect("path"),
            "--json",
            "list",
        ])
    })
    .await
    .expect("cli");
    let ids: Vec<&str> = listed["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert!(ids.contains(&app.id.as_str()), "{ids:?}");
    assert!(
        !listed.to_string().contains(&app.secret),
        "secrets stay hidden"
    );
}

#[tokio::test]
async fn rotation_accepts_both_secrets_during_the_window_only() {
    let dir = temp_dir();
    let server = TestServer::with_config(with_store(config(vec![]), &dir)).await;
    let (status, created) = admin(&server, "POST", "", Some(json!({}))).await;
    assert_eq!(status, 201, "{created}");
    let old = app_of(&created);
    let body = json!({"name": "e", "channel": "c", "data": "d"});
    let (_, rotated) = admin(
        &server,
        "POST",
        &format!("/{}/rotate-secret", old.id),
        Some(json!({"grace_secs": 1})),
    )
    .await;
    let new = AppConfig {
        secret: rotated["secret"].as_str().expect("secret").to_owned(),
        ..old.clone()
    };
    assert_ne!(new.secret, old.secret);
    let api = |app: &AppConfig| ApiClient::new(format!("http://{}", server.addr), app.clone());
    eventually_async("the rotation to apply", || async {
        api(&new).post("/events", body.clone()).await.0 == 200
    })
    .await;
    assert_eq!(
        api(&old).post("/events", body.clone()).await.0,
        200,
        "old secret inside the window"
    );
    eventually_async("the window to close", || async {
        api(&old).post("/events", body.clone()).await.0 == 401
    })
    .await;
    assert_eq!(api(&new).post("/events", body).await.0, 200);
}

#[tokio::test]
async fn bad_admin_input_names_the_field() {
    let dir = temp_dir();
    let server = TestServer::with_config(with_store(config(vec![]), &dir)).await;
    let cases = [
        (json!({"max_connections": "many"}), "max_connections"),
        (json!({"max_conections": 1}), "max_conections"),
        (json!({"key": ""}), "key"),
        (json!({"id": "has space"}), "id"),
    ];
    for (body, field) in cases {
        let (status, err) = admin(&server, "POST", "", Some(body.clone())).await;
        assert_eq!(
            (status, err["code"].as_str(), err["field"].as_str()),
            (400, Some("invalid_field"), Some(field)),
            "{body}"
        );
    }
    let (_, a) = admin(&server, "POST", "", Some(json!({"key": "taken"}))).await;
    let (status, err) = admin(&server, "POST", "", Some(json!({"key": "taken"}))).await;
    assert_eq!(
        (status, err["code"].as_str(), err["field"].as_str()),
        (409, Some("conflict"), Some("key"))
    );
    let (status, err) = admin(
        &server,
        "PATCH",
        &format!("/{}", a["id"].as_str().expect("id")),
        Some(json!({"id": "other"})),
    )
    .await;
    assert_eq!((status, err["field"].as_str()), (400, Some("id")));
    assert_error(
        &admin(&server, "GET", "/nope", None).await,
        404,
        "app_not_found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_and_deleting_reach_live_connections_on_every_node() {
    let dir = temp_dir();
    let prefix = unique_prefix();
    let node = |apps| with_store(node_config(AdapterKind::Redis, REDIS, &prefix, apps), &dir);
    let nodes = [
        TestServer::with_config(node(vec![])).await,
        TestServer::with_config(node(vec![])).await,
    ];
    wait_meshed(&nodes).await;
    let [a, b] = &nodes;
    let (_, created) = admin(a, "POST", "", Some(json!({}))).await;
    let app = app_of(&created);
    eventually_async("node b to load the new app", || async {
        b.shared.apps.by_key(&app.key).is_some()
    })
    .await;
    let mut on_b = b.connect(&app.key).await;
    on_b.subscribe("news").await;

    let (status, shown) = admin(a, "POST", &format!("/{}/disable", app.id), None).await;
    assert_eq!((status, &shown["enabled"]), (200, &json!(false)));
    on_b.expect_error_and_close(4003).await;
    WsClient::open(&b.ws_url(&app.key, "protocol=7"))
        .await
        .expect_error_and_close(4003)
        .await;
    let api_b = ApiClient::new(format!("http://{}", b.addr), app.clone());
    assert_error(
        &api_b
            .post("/events", json!({"name": "e", "channel": "c", "data": "d"}))
            .await,
        403,
        "app_disabled",
    );

    admin(a, "POST", &format!("/{}/enable", app.id), None).await;
    eventually_async("node b to see the app enabled", || async {
        b.shared
            .apps
            .by_key(&app.key)
            .is_some_and(|x| x.config().enabled)
    })
    .await;
    let mut again = b.connect(&app.key).await;
    again.subscribe("news").await;
    let (status, _) = admin(a, "DELETE", &format!("/{}", app.id), None).await;
    assert_eq!(status, 200);
    again.expect_error_and_close(4001).await;
    assert_eq!(admin(a, "GET", &format!("/{}", app.id), None).await.0, 404);
}

/// History rules are app settings: switched on through the admin API, they apply to the next
/// subscription and publish, and a bad rule is refused naming the field.
#[tokio::test]
async fn history_is_switched_on_through_the_admin_api() {
    let dir = temp_dir();
    let app = crate::harness::test_app();
    let server = TestServer::with_config(with_store(config(vec![app.clone()]), &dir)).await;
    let bad = json!({"history": [{"pattern": "history-*", "size": 0, "ttl": 60}]});
    assert_error(
        &admin(&server, "PATCH", "/test-app", Some(bad)).await,
        400,
        "invalid_field",
    );
    let rules = json!({"history": [{"pattern": "history-*", "size": 10, "ttl": 60}]});
    let (status, body) = admin(&server, "PATCH", "/test-app", Some(rules)).await;
    assert_eq!(status, 200, "{body}");
    let mut c = server.connect("test-key").await;
    let d = crate::harness::history::subscribe_history(&mut c, "history-on", None).await;
    assert_eq!(d["offset"], 0, "{d}");
    ApiClient::new(format!("http://{}", server.addr), app)
        .publish("history-on", "e", "1")
        .await;
    let f = c.expect("e").await;
    assert_eq!(f["offset"], 1, "{f}");
}
