//! Secrets stay secret: `ferrocast config print` redacts them; a whole scenario of failed and
//! successful calls leaves no app secret, previous secret, admin token or broker password in the
//! server's logs, its metrics or any answer; and an unsigned caller learns nothing about which
//! app ids exist.

use crate::harness::process::{self, ProcessNode};
use crate::harness::{config, now, test_app, ApiClient, TestServer, WsClient};
use ferrocast::config::{AppConfig, Config, REDACTED};
use ferrocast_protocol::signature;
use serde_json::json;
use std::process::Command;

const APP_SECRET: &str = "sekrit-app-4f2a9c";
const PREVIOUS_SECRET: &str = "sekrit-prev-77b1e0";
const ADMIN_TOKEN: &str = "sekrit-admin-1d9e05";
const BUS_PASSWORD: &str = "sekrit-bus-5c3a11";
const DB_PASSWORD: &str = "sekrit-db-0aa1f2";
const ALL: [&str; 5] = [
    APP_SECRET,
    PREVIOUS_SECRET,
    ADMIN_TOKEN,
    BUS_PASSWORD,
    DB_PASSWORD,
];

#[track_caller]
fn assert_no_secret(what: &str, text: &str) {
    for s in ALL {
        assert!(!text.contains(s), "{what} reveals {s}:\n{text}");
    }
}

fn app_toml(extra: &str) -> String {
    format!(
        r#"
{extra}

[[apps]]
id = "test-app"
key = "test-key"
secret = "{APP_SECRET}"
previous_secret = "{PREVIOUS_SECRET}"
previous_secret_expires_at = 4000000000
"#
    )
}

#[test]
fn config_print_merges_every_layer_and_redacts_secrets() {
    let dir = std::env::temp_dir().join(format!("ferrocast-config-print-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("ferrocast.toml");
    let toml = app_toml(&format!(
        "port = 7000\nmax_message_kb = 32\napp_store = \"postgres://ferro:{DB_PASSWORD}@127.0.0.1:1/apps\""
    ));
    std::fs::write(&file, toml).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_ferrocast"))
        .args(["config", "print", "--port", "7777", "--config"])
        .arg(&file)
        .env("FERROCAST_ADMIN_TOKEN", ADMIN_TOKEN)
        .env(
            "FERROCAST_REDIS_URL",
            format!("redis://:{BUS_PASSWORD}@127.0.0.1:6379/0"),
        )
        .env("FERROCAST_LOG", "warn")
        .output()
        .expect("run ferrocast config print");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert_no_secret("config print", &text);
    let cfg: Config = toml::from_str(&text).expect("the output is a config");
    assert_eq!(cfg.port, 7777, "the flag wins over the file");
    assert_eq!(cfg.max_message_kb, 32, "from the file");
    assert_eq!(cfg.log, "warn", "from the environment");
    assert_eq!(cfg.metrics_port, 9601, "a default");
    assert_eq!(cfg.admin_token.as_deref(), Some(REDACTED));
    assert_eq!(cfg.apps[0].secret, REDACTED);
    assert_eq!(cfg.apps[0].previous_secret.as_deref(), Some(REDACTED));
    assert_eq!(cfg.apps[0].key, "test-key");
    assert_eq!(
        cfg.cluster.redis_url,
        "redis://:<redacted>@127.0.0.1:6379/0"
    );
    assert_eq!(
        cfg.app_store,
        "postgres://ferro:<redacted>@127.0.0.1:1/apps"
    );
}

/// Sends a request and answers the status and the body as text.
async fn call(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
    let http = reqwest::Client::new();
    let mut req = http.request(method.parse().expect("method"), url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// A server logging at debug whose bus (`adapter`) points at a closed port with a password in
/// its URL, so its connection errors are logged too.
fn start_logged(adapter: &str) -> ProcessNode {
    let extra = format!(
        "log = \"debug\"\nadmin_token = \"{ADMIN_TOKEN}\"\n\n[cluster]\nadapter = \"{adapter}\"\n\
         {adapter}_url = \"{adapter}://user:{BUS_PASSWORD}@127.0.0.1:1\"\nprefix = \"secrets-{}\"",
        std::process::id()
    );
    process::spawn(&format!("secrets-{adapter}"), &app_toml(&extra))
}

#[tokio::test]
async fn no_secret_reaches_logs_metrics_or_error_bodies_with_redis() {
    scenario(start_logged("redis")).await;
}

#[tokio::test]
async fn no_secret_reaches_logs_metrics_or_error_bodies_with_nats() {
    scenario(start_logged("nats")).await;
}

async fn scenario(server: ProcessNode) {
    let base = format!("http://127.0.0.1:{}", server.port);
    let ops = format!("http://127.0.0.1:{}", server.ops_port);
    let app = AppConfig {
        secret: APP_SECRET.into(),
        ..test_app()
    };
    let mut answers = Vec::new();

    // WebSocket: bad channel auth, auth signed with the wrong secret, a bad sign-in.
    let url = format!("ws://127.0.0.1:{}/app/test-key?protocol=7", server.port);
    let mut ws = WsClient::connect(&url).await;
    ws.subscribe_raw(json!({"channel": "private-a", "auth": "test-key:00"}))
        .await;
    answers.push(ws.expect("pusher:subscription_error").await.to_string());
    let wrong = AppConfig {
        secret: "not-the-secret".into(),
        ..app.clone()
    };
    let auth = ws.auth(&wrong, "private-b", None);
    ws.subscribe_raw(json!({"channel": "private-b", "auth": auth}))
        .await;
    answers.push(ws.expect("pusher:subscription_error").await.to_string());
    ws.subscribe_private(&app, "private-ok").await;
    ws.send(json!({"event": "pusher:signin", "data": {"auth": "test-key:bad", "user_data": "{\"id\":\"1\"}"}}))
        .await;
    answers.push(ws.next_event().await.to_string());

    // HTTP API: wrong secret, unknown key, expired, body altered, then good calls with the
    // current and the previous secret.
    let api = ApiClient::new(base.clone(), app.clone());
    let body = json!({"name": "e", "channel": "a", "data": "d"});
    let path = "/apps/test-app/events";
    for (secret, ts) in [("wrong", now()), (APP_SECRET, now() - 3600)] {
        let resp = api
            .request_as("POST", path, &[], Some(&body), secret, ts)
            .await;
        assert_eq!(resp.0, 401, "{resp:?}");
        answers.push(resp.1.to_string());
    }
    let q = signature::signed_query(
        "nokey",
        APP_SECRET,
        "GET",
        "/apps/test-app/channels",
        b"",
        now(),
        &[],
    );
    answers.push(
        call(
            "GET",
            &format!("{base}/apps/test-app/channels?{q}"),
            None,
            None,
        )
        .await
        .1,
    );
    let q = signature::signed_query("test-key", APP_SECRET, "POST", path, b"{}", now(), &[]);
    let altered = call(
        "POST",
        &format!("{base}{path}?{q}"),
        None,
        Some("{\"x\":1}"),
    )
    .await;
    assert_eq!(altered.0, 401, "{altered:?}");
    answers.push(altered.1);
    for secret in [APP_SECRET, PREVIOUS_SECRET] {
        let resp = api
            .request_as("POST", path, &[], Some(&body), secret, now())
            .await;
        assert_eq!(resp.0, 200, "{resp:?}");
    }

    // Admin API: no token, a wrong one, then real calls.
    for token in [None, Some("wrong-token")] {
        let (status, body) = call("GET", &format!("{base}/admin/apps"), token, None).await;
        assert_eq!(status, 401);
        answers.push(body);
    }
    let admin = |m: &'static str, p: &'static str, b: Option<&'static str>| {
        let url = format!("{base}/admin/apps{p}");
        async move { call(m, &url, Some(ADMIN_TOKEN), b).await }
    };
    let (status, listed) = admin("GET", "", None).await;
    assert_eq!(status, 200, "{listed}");
    answers.push(listed);
    answers.push(admin("GET", "/test-app", None).await.1);
    answers.push(
        admin("PATCH", "/test-app", Some("{\"max_connections\":\"x\"}"))
            .await
            .1,
    );
    answers.push(admin("GET", "/nope", None).await.1);
    let (status, created) =
        admin("POST", "", Some("{\"id\":\"other\",\"key\":\"other-key\"}")).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(admin("POST", "/other/rotate-secret", None).await.0, 200);
    answers.push(
        admin("POST", "", Some("{\"id\":\"other\",\"key\":\"other-key\"}"))
            .await
            .1,
    );

    // Operations: metrics, usage, and unknown paths.
    for url in [
        format!("{ops}/metrics"),
        format!("{ops}/usage"),
        format!("{base}/nope"),
    ] {
        answers.push(call("GET", &url, None, None).await.1);
    }
    drop(ws);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    for a in &answers {
        assert_no_secret("an answer", a);
    }
    let logs = server.output();
    assert!(
        logs.contains("DEBUG") && logs.contains("Invalid sign-in signature"),
        "debug logging is on, so the check means something:\n{logs}"
    );
    assert_no_secret("the logs", &logs);
}

#[tokio::test]
async fn unsigned_callers_cannot_tell_which_app_ids_exist() {
    let other = AppConfig {
        id: "other-app".into(),
        key: "other-key".into(),
        secret: "other-secret".into(),
        ..Default::default()
    };
    let mut cfg = config(vec![test_app(), other]);
    cfg.admin_token = Some("admin".into());
    let server = TestServer::with_config(cfg).await;
    let base = format!("http://{}", server.addr);
    let forged = |id: &str, method: &str, rest: &str| {
        // test-key is public (clients know it); the signature is made without the secret.
        let path = format!("/apps/{id}{rest}");
        let q = signature::signed_query("test-key", "guessed", method, &path, b"", now(), &[]);
        format!("{base}{path}?{q}")
    };
    for (method, rest) in [
        ("GET", "/channels"),
        ("GET", "/channels/presence-x/users"),
        ("POST", "/events"),
        ("POST", "/users/u1/terminate_connections"),
    ] {
        let mut seen = Vec::new();
        for id in ["test-app", "other-app", "no-such-app"] {
            let unsigned = call(method, &format!("{base}/apps/{id}{rest}"), None, None).await;
            let forged = call(method, &forged(id, method, rest), None, None).await;
            assert_eq!(unsigned.0, 401, "{method} {rest} {id}: {unsigned:?}");
            assert_eq!(forged.0, 401, "{method} {rest} {id}: {forged:?}");
            seen.push((unsigned, forged));
        }
        assert!(
            seen.windows(2).all(|w| w[0] == w[1]),
            "{method} {rest}: answers differ by app id: {seen:?}"
        );
    }
    let known = call("GET", &format!("{base}/admin/apps/test-app"), None, None).await;
    let unknown = call("GET", &format!("{base}/admin/apps/no-such-app"), None, None).await;
    assert_eq!(known.0, 401);
    assert_eq!(known, unknown, "the admin API without a token");
}
